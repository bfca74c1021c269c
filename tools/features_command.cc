// `kiln features FILE --weights CKPT --capture NAME[,NAME...] [--index I] -o FILE.svg
// [--out-tensors F.kt]`: one test sample through the evaluation step, compiled a second time
// with the named values as extra outputs (CompileOptions::capture; an ordinary run's steps are
// untouched), drawn as the input image and the first six channels of each captured value (W6's
// feature maps).
#include <algorithm>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "codegen/cpu/cpu_backend.h"
#include "passes/training_step.h"
#include "runtime/checkpoint.h"
#include "runtime/tensor_file.h"
#include "runtime/thread_pool.h"
#include "support/command_line.h"
#include "support/status.h"
#include "tools/commands.h"
#include "tools/compile_pipeline.h"
#include "tools/image_grid.h"
#include "tools/train_setup.h"

namespace kiln::tools {
namespace {

constexpr int kChannelsShown = 6;

// Where --out-tensors F puts `name`: F itself for one capture, else F with ".NAME" before its
// extension (maps.kt -> maps.conv1.kt).
std::string TensorPath(const std::string& path, const std::string& name, size_t captures) {
  if (captures == 1) return path;
  std::filesystem::path p(path);
  return (p.parent_path() / absl::StrCat(p.stem().string(), ".", name, p.extension().string()))
      .string();
}

absl::Status Features(const std::vector<std::string>& args) {
  KILN_ASSIGN_OR_RETURN(
      CommandLine line,
      CommandLine::Parse(args, {"weights", "capture", "index", "output", "out-tensors", "threads",
                                "data-dir", "test-limit", "train-limit", "cpu"}));
  if (!line.Has("weights") || !line.Has("capture") || !line.Has("output")) {
    return absl::InvalidArgumentError(
        "usage: kiln features FILE --weights CKPT --capture NAME[,NAME...] -o FILE.svg");
  }
  const std::vector<std::string> capture =
      absl::StrSplit(*line.String("capture"), ',', absl::SkipEmpty());
  KILN_ASSIGN_OR_RETURN(auto index, line.Int("index"));
  KILN_ASSIGN_OR_RETURN(auto threads, line.Int("threads"));
  KILN_ASSIGN_OR_RETURN(PreparedTraining prepared, PrepareTraining(line, "features"));
  const runtime::Dataset& test = prepared.data.test;
  const int64_t sample = index.value_or(0);
  if (sample < 0 || sample >= test.num_samples) {
    return absl::InvalidArgumentError(
        absl::StrFormat("--index %d: the test split has %d samples", sample, test.num_samples));
  }
  if (test.sample_shape.size() < 2) {
    return absl::InvalidArgumentError("kiln features needs image samples");
  }
  // A second compile: an evaluation entry for one sample with the extra outputs, and a training
  // entry only so that the executable holds the optimizer state the checkpoint restores.
  CompileOptions options = prepared.options;
  options.entries = {{true, prepared.train.batch_size}, {false, 1}};
  options.capture = capture;
  KILN_ASSIGN_OR_RETURN(CompiledModel compiled,
                        CompileModel(prepared.ast, prepared.train, options));
  KILN_ASSIGN_OR_RETURN(
      cpu::HostProgram host,
      cpu::LoadOnHost(compiled, prepared.train.seed, line.String("cpu").value_or("native")));
  runtime::Executable& executable = *host.executable;
  KILN_RETURN_IF_ERROR(runtime::LoadWeights(*line.String("weights"), prepared.recipe, executable));
  KILN_ASSIGN_OR_RETURN(runtime::Entry * entry, executable.FindEntry(false, 1));
  for (const runtime::BufferSpec& buffer : entry->spec().buffers) {
    if (buffer.role != runtime::BufferRole::kInput) continue;
    KILN_ASSIGN_OR_RETURN(runtime::BufferView view, entry->Input(buffer.name));
    std::memset(view.data, 0, buffer.bytes);
  }
  KILN_ASSIGN_OR_RETURN(runtime::BufferView features,
                        entry->Input(executable.program().features_input));
  std::vector<float> image(test.feature_dim);
  test.CopyFeatures(sample, 1, image.data());
  std::memcpy(features.f32(), image.data(), image.size() * sizeof(float));
  runtime::ThreadPool pool(static_cast<int>(threads.value_or(0)));
  entry->Run(pool.parallel());

  const std::vector<int64_t>& shape = test.sample_shape;
  std::vector<ImageTile> tiles;
  tiles.push_back({StretchToGray(image.data(), shape[shape.size() - 2], shape.back()),
                   absl::StrFormat("input %d (label %d)", sample, test.labels[sample])});
  for (size_t c = 0; c < capture.size(); ++c) {
    KILN_ASSIGN_OR_RETURN(runtime::BufferView value,
                          entry->Output(absl::StrCat(passes::kCaptureOutputPrefix, capture[c])));
    const std::vector<int64_t>& dims = value.spec->shape;  // [1, C, H, W] or [1, H, W].
    if (dims.size() < 3 || value.spec->type != runtime::ElementType::kF32) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "--capture %s: not a feature map (f32 [1, C, H, W]); its shape has %d dims", capture[c],
          dims.size()));
    }
    const int64_t height = dims[dims.size() - 2], width = dims.back();
    const int64_t channels = dims.size() >= 4 ? dims[dims.size() - 3] : 1;
    // Rows of 1 + kChannelsShown: the input before the first value's maps, blanks before later.
    if (c > 0) tiles.push_back({});
    for (int64_t ch = 0; ch < std::min<int64_t>(channels, kChannelsShown); ++ch) {
      tiles.push_back({StretchToGray(value.f32() + ch * height * width, height, width),
                       absl::StrFormat("%s[%d] %dx%d", capture[c], ch, height, width)});
    }
    for (int64_t ch = channels; ch < kChannelsShown; ++ch) tiles.push_back({});
    if (line.Has("out-tensors")) {
      runtime::HostTensor tensor{runtime::ElementType::kF32, dims, {}, {}};
      tensor.f32.assign(value.f32(), value.f32() + value.num_elements());
      const std::string path = TensorPath(*line.String("out-tensors"), capture[c], capture.size());
      KILN_RETURN_IF_ERROR(runtime::WriteTensorFile(path, tensor));
      std::cerr << "kiln: wrote " << path << "\n";
    }
  }
  const std::string output = *line.String("output");
  KILN_RETURN_IF_ERROR(WriteCommandOutput(
      RenderImageGrid(tiles, 1 + kChannelsShown,
                      absl::StrCat(compiled.name, ": feature maps of test sample ", sample)),
      output));
  std::cerr << "kiln: wrote " << output << "\n";
  return absl::OkStatus();
}

}  // namespace

int FeaturesCommand(const std::vector<std::string>& args) { return ExitStatus(Features(args)); }

}  // namespace kiln::tools
