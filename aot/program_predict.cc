// `PROGRAM predict --weights F --input F --output F.csv`: the evaluation step over samples
// without labels, one CSV row per sample: the class and its probabilities, or the regression
// value. The last batch is padded to the static batch size; padded rows are not written.
#include <algorithm>
#include <cstring>
#include <iostream>
#include <memory>

#include "absl/strings/str_format.h"
#include "aot/linked_model.h"
#include "aot/predict_input.h"
#include "aot/program_commands.h"
#include "aot/program_flags.h"
#include "runtime/checkpoint.h"
#include "runtime/prediction_rows.h"
#include "runtime/thread_pool.h"
#include "runtime/trainer.h"
#include "support/command_line.h"
#include "support/file_io.h"
#include "support/status.h"

namespace kiln::aot {

absl::Status PredictProgram(const std::vector<std::string>& args) {
  KILN_ASSIGN_OR_RETURN(
      CommandLine line,
      CommandLine::Parse(args, {"weights", "input", "output", "threads"}, {}));
  if (!line.positional().empty() || !line.Has("weights") || !line.Has("input") ||
      !line.Has("output")) {
    return absl::InvalidArgumentError(
        "usage: predict --weights FILE --input FILE --output FILE.csv (see --help)");
  }
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<LinkedModel> model, LinkedModel::Load());
  const runtime::TrainRecipe& recipe = model->recipe();
  KILN_ASSIGN_OR_RETURN(int threads, ThreadsFlag(line));
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<runtime::Executable> executable,
                        model->Instantiate(recipe.seed));
  KILN_RETURN_IF_ERROR(runtime::LoadWeights(*line.String("weights"), recipe, *executable));
  const int64_t batch = recipe.eval_batch_size > 0 ? recipe.eval_batch_size : recipe.batch_size;
  KILN_ASSIGN_OR_RETURN(runtime::Entry * entry, executable->FindEntry(false, batch));
  const std::string& features_name = executable->program().features_input;
  KILN_ASSIGN_OR_RETURN(runtime::BufferView features, entry->Input(features_name));
  const int64_t feature_dim = features.num_elements() / batch;
  KILN_ASSIGN_OR_RETURN(runtime::Dataset input,
                        ReadPredictInput(*line.String("input"), recipe.data, feature_dim));
  KILN_ASSIGN_OR_RETURN(runtime::PredictionRows writer, runtime::PredictionRows::Bind(*entry));

  // Inputs other than the features (labels, step keys) do not change the predictions.
  for (const runtime::BufferSpec& buffer : entry->spec().buffers) {
    if (buffer.role != runtime::BufferRole::kInput || buffer.name == features_name) continue;
    KILN_ASSIGN_OR_RETURN(runtime::BufferView view, entry->Input(buffer.name));
    std::memset(view.data, 0, buffer.bytes);
  }
  runtime::ThreadPool pool(threads);
  std::string csv = writer.Header();
  for (int64_t first = 0; first < input.num_samples; first += batch) {
    const int64_t rows = std::min(batch, input.num_samples - first);
    input.CopyFeatures(first, rows, features.f32());
    std::memset(features.f32() + rows * feature_dim, 0,
                (batch - rows) * feature_dim * sizeof(float));
    entry->Run(pool.parallel());
    for (int64_t row = 0; row < rows; ++row) writer.Append(row, csv);
  }
  const std::string output = *line.String("output");
  KILN_RETURN_IF_ERROR(WriteFileAtomically(output, csv));
  std::cout << absl::StrFormat("wrote %d predictions to %s\n", input.num_samples, output);
  return absl::OkStatus();
}

}  // namespace kiln::aot
