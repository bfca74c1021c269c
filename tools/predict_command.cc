// `kiln predict FILE --weights CKPT [-o FILE.csv] [--grid FILE.svg] [--count N]`: the
// evaluation step over the model's test split with trained weights. The predictions go out as
// CSV in the format of a built program's `predict` (runtime/prediction_rows.h); --grid draws
// the first N test images, each captioned "predicted (truth)", green when right, red when wrong
// (W4's picture of what the model gets wrong).
#include <algorithm>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "codegen/cpu/cpu_backend.h"
#include "runtime/checkpoint.h"
#include "runtime/prediction_rows.h"
#include "runtime/thread_pool.h"
#include "support/command_line.h"
#include "support/status.h"
#include "tools/commands.h"
#include "tools/image_grid.h"
#include "tools/train_setup.h"

namespace kiln::tools {
namespace {

// The first plane of each sample as an image: [rows, cols] or [channels, rows, cols].
absl::StatusOr<std::pair<int64_t, int64_t>> ImageSize(const runtime::Dataset& data) {
  const std::vector<int64_t>& shape = data.sample_shape;
  if (shape.size() < 2) {
    return absl::InvalidArgumentError(
        "--grid needs image samples; this model's data are rows of a table");
  }
  return std::make_pair(shape[shape.size() - 2], shape[shape.size() - 1]);
}

absl::Status Predict(const std::vector<std::string>& args) {
  KILN_ASSIGN_OR_RETURN(
      CommandLine line,
      CommandLine::Parse(args,
                         {"weights", "output", "grid", "count", "columns", "threads", "data-dir",
                          "test-limit", "train-limit", "batch-size", "eval-batch-size", "cpu"}));
  if (!line.Has("weights")) {
    return absl::InvalidArgumentError(
        "usage: kiln predict FILE --weights CKPT [-o FILE.csv] [--grid FILE.svg] [--count N]");
  }
  KILN_ASSIGN_OR_RETURN(auto count, line.Int("count"));
  KILN_ASSIGN_OR_RETURN(auto columns, line.Int("columns"));
  KILN_ASSIGN_OR_RETURN(auto threads, line.Int("threads"));
  if (count.value_or(20) < 1 || columns.value_or(10) < 1) {
    return absl::InvalidArgumentError("--count and --columns must be at least 1");
  }
  KILN_ASSIGN_OR_RETURN(PreparedTraining prepared, PrepareTraining(line, "predict"));
  const runtime::Dataset& test = prepared.data.test;
  if (test.num_samples == 0)
    return absl::InvalidArgumentError("the model's data have no test split");
  std::pair<int64_t, int64_t> image_size;
  if (line.Has("grid")) {
    KILN_ASSIGN_OR_RETURN(image_size, ImageSize(test));
  }
  KILN_ASSIGN_OR_RETURN(cpu::HostProgram host,
                        cpu::LoadOnHost(prepared.compiled, prepared.train.seed,
                                        line.String("cpu").value_or("native")));
  runtime::Executable& executable = *host.executable;
  KILN_RETURN_IF_ERROR(runtime::LoadWeights(*line.String("weights"), prepared.recipe, executable));

  const std::string& features_name = executable.program().features_input;
  const int64_t batch = prepared.recipe.eval_batch_size > 0 ? prepared.recipe.eval_batch_size
                                                            : prepared.train.batch_size;
  runtime::ThreadPool pool(static_cast<int>(threads.value_or(0)));
  std::string csv;
  std::vector<int64_t> predicted;  // Per sample, for the grid.
  const int64_t shown = std::min<int64_t>(count.value_or(20), test.num_samples);
  // Batches of `batch` and a smaller last one: the sizes PrepareTraining compiled.
  for (int64_t first = 0; first < test.num_samples; first += batch) {
    const int64_t rows = std::min(batch, test.num_samples - first);
    KILN_ASSIGN_OR_RETURN(runtime::Entry * entry, executable.FindEntry(false, rows));
    KILN_ASSIGN_OR_RETURN(runtime::PredictionRows outputs, runtime::PredictionRows::Bind(*entry));
    if (csv.empty()) csv = outputs.Header();
    if (line.Has("grid") && !outputs.classes()) {
      return absl::InvalidArgumentError("--grid needs a classifier (a 'probabilities' output)");
    }
    // Inputs other than the features (labels, step keys) do not change the predictions.
    for (const runtime::BufferSpec& buffer : entry->spec().buffers) {
      if (buffer.role != runtime::BufferRole::kInput || buffer.name == features_name) continue;
      KILN_ASSIGN_OR_RETURN(runtime::BufferView view, entry->Input(buffer.name));
      std::memset(view.data, 0, buffer.bytes);
    }
    KILN_ASSIGN_OR_RETURN(runtime::BufferView features, entry->Input(features_name));
    test.CopyFeatures(first, rows, features.f32());
    entry->Run(pool.parallel());
    for (int64_t row = 0; row < rows; ++row) {
      outputs.Append(row, csv);
      if (first + row < shown && outputs.classes()) predicted.push_back(outputs.Predicted(row));
    }
  }
  const std::string output = line.String("output").value_or("-");
  KILN_RETURN_IF_ERROR(WriteCommandOutput(csv, output));
  if (output != "-") {
    std::cerr << absl::StrFormat("kiln: wrote %d predictions to %s\n", test.num_samples, output);
  }
  if (!line.Has("grid")) return absl::OkStatus();

  std::vector<ImageTile> tiles;
  int64_t right = 0;
  for (int64_t i = 0; i < shown; ++i) {
    const bool correct = predicted[i] == test.labels[i];
    right += correct;
    std::vector<float> image(test.feature_dim);
    test.CopyFeatures(i, 1, image.data());
    tiles.push_back({StretchToGray(image.data(), image_size.first, image_size.second),
                     absl::StrCat(predicted[i], " (", test.labels[i], ")"),
                     correct ? kRightColor : kWrongColor});
  }
  const std::string title = absl::StrFormat("%s: predicted (truth), %d of %d right",
                                            prepared.compiled.name, right, shown);
  const std::string grid = *line.String("grid");
  KILN_RETURN_IF_ERROR(WriteCommandOutput(
      RenderImageGrid(tiles, static_cast<int>(columns.value_or(10)), title), grid));
  std::cerr << "kiln: wrote " << grid << "\n";
  return absl::OkStatus();
}

}  // namespace

int PredictCommand(const std::vector<std::string>& args) { return ExitStatus(Predict(args)); }

}  // namespace kiln::tools
