"""torchvision's ResNet-18, written out by hand (Debian's python3-torch has no torchvision), for a
1-channel 28x28 input padded to 32x32 with -1 as examples/resnet18.kiln does. Its state_dict names
are torchvision's (conv1.weight, layer2.0.downsample.0.weight, fc.weight, ...), and therefore
kiln's.

    from resnet18_torch import ResNet18
    model = ResNet18(num_classes=10)
"""

import torch
import torch.nn as nn
import torch.nn.functional as F


class BasicBlock(nn.Module):
    def __init__(self, in_channels, channels, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.downsample = None
        if stride != 1 or in_channels != channels:
            self.downsample = nn.Sequential(nn.Conv2d(in_channels, channels, 1, stride, bias=False),
                                            nn.BatchNorm2d(channels))

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        h = self.bn2(self.conv2(h))
        shortcut = x if self.downsample is None else self.downsample(x)
        return F.relu(h + shortcut)


class ResNet18(nn.Module):
    def __init__(self, num_classes=10, in_channels=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        widths = [64, 128, 256, 512]
        previous = 64
        for stage, width in enumerate(widths, start=1):
            stride = 1 if stage == 1 else 2
            setattr(self, "layer%d" % stage,
                    nn.Sequential(BasicBlock(previous, width, stride), BasicBlock(width, width, 1)))
            previous = width
        self.fc = nn.Linear(512, num_classes)

    def features(self, x):
        """[N, 1, 28, 28] images normalized to [-1, 1] -> [N, 512]."""
        x = F.pad(x, (2, 2, 2, 2), value=-1.0)
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, 2, 1)
        for stage in (self.layer1, self.layer2, self.layer3, self.layer4):
            x = stage(x)
        return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)

    def forward(self, x):
        return self.fc(self.features(x))
