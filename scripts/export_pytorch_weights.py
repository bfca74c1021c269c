#!/usr/bin/python3
"""Writes a PyTorch state_dict as a kiln weights file for `kiln train --init-weights`.

    /usr/bin/python3 scripts/export_pytorch_weights.py resnet18.pt resnet18.kckpt

The input is what torch.save wrote: a state_dict, a whole nn.Module, or a dict holding a state_dict
under "state_dict" / "model". The output is a kiln checkpoint (runtime/checkpoint.h, version 1)
holding only tensors and no training progress (epoch 0, no metrics), so it loads with
--init-weights (by name) but is not a run to --resume.

Name and layout mapping:
  * names are kept: torchvision's state_dict names are kiln's parameter names when the .kiln
    model uses the same module names (examples/resnet18.kiln does);
  * 2-D "*.weight" tensors (nn.Linear) are transposed: kiln stores a linear weight as
    [in, out] (y = x @ W), PyTorch as [out, in]. Convolution weights keep PyTorch's
    [out, in, kh, kw];
  * "*.num_batches_tracked" is dropped (kiln's batch norm uses a fixed momentum);
  * --rename OLD=NEW replaces a name prefix (repeatable), --drop PREFIX leaves tensors out;
  * float64/float16 tensors are written as float32, integer ones as int64.
"""

import argparse
import struct
import sys
import zlib

import numpy as np

MAGIC = b"KILNCKPT"
VERSION = 1


def _str(s):
    data = s.encode()
    return struct.pack("<I", len(data)) + data


def encode_kiln_weights(named_arrays, model_name="imported"):
    """The bytes of a kiln checkpoint holding `named_arrays` ((name, numpy array) pairs) in kiln's
    layout already (no transposes here)."""
    body = [_str(model_name), struct.pack("<Qqq", 0, 0, 0), struct.pack("<I", 0)]
    body.append(struct.pack("<I", len(named_arrays)))
    for name, array in named_arrays:
        array = np.asarray(array)
        if np.issubdtype(array.dtype, np.floating):
            array, code = np.ascontiguousarray(array, dtype="<f4"), 0
        else:
            array, code = np.ascontiguousarray(array, dtype="<i8"), 1
        body.append(_str(name) + struct.pack("<BI", code, array.ndim))
        body.append(struct.pack("<%dq" % array.ndim, *array.shape))
        data = array.tobytes()
        body.append(struct.pack("<Q", len(data)) + data)
    body = b"".join(body)
    size = 8 + 4 + 8 + 4 + len(body) + 4
    preamble = MAGIC + struct.pack("<IQ", VERSION, size)
    head = preamble + struct.pack("<I", zlib.crc32(preamble))
    everything = head + body
    return everything + struct.pack("<I", zlib.crc32(everything))


def kiln_layout(state_dict, renames=(), drops=()):
    """(name, numpy array) pairs in kiln's names and layouts from a PyTorch state_dict."""
    out = []
    for name, tensor in state_dict.items():
        if name.endswith("num_batches_tracked") or any(name.startswith(d) for d in drops):
            continue
        for old, new in renames:
            if name.startswith(old):
                name = new + name[len(old):]
        array = tensor.detach().cpu().numpy()
        if array.ndim == 2 and name.endswith(".weight"):
            array = array.T  # nn.Linear [out, in] -> kiln [in, out]
        out.append((name, array))
    return out


def load_state_dict(path):
    import torch
    obj = torch.load(path, map_location="cpu")
    if isinstance(obj, torch.nn.Module):
        return obj.state_dict()
    for key in ("state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            return obj[key]
    return obj


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("input", help="a file torch.save wrote (state_dict or module)")
    parser.add_argument("output", help="the kiln weights file to write")
    parser.add_argument("--rename", action="append", default=[], metavar="OLD=NEW")
    parser.add_argument("--drop", action="append", default=[], metavar="PREFIX")
    parser.add_argument("--model-name", default="imported")
    args = parser.parse_args(argv)
    renames = [tuple(r.split("=", 1)) for r in args.rename]
    tensors = kiln_layout(load_state_dict(args.input), renames, args.drop)
    with open(args.output, "wb") as f:
        f.write(encode_kiln_weights(tensors, args.model_name))
    count = sum(a.size for _, a in tensors)
    print("wrote %s: %d tensors, %d values" % (args.output, len(tensors), count))


if __name__ == "__main__":
    main(sys.argv[1:])
