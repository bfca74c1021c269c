#include "runtime/train_recipe.h"

#include <algorithm>
#include <cmath>
#include <iostream>
#include <iterator>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "runtime/data_sources.h"
#include "runtime/init_weights.h"
#include "support/status.h"

namespace kiln::runtime {

std::string SettingNumber(double value) { return absl::StrFormat("%.15g", value); }

absl::StatusOr<RunFlags> RunFlags::Read(const CommandLine& line) {
  RunFlags flags;
  KILN_ASSIGN_OR_RETURN(flags.epochs, line.Int("epochs"));
  KILN_ASSIGN_OR_RETURN(flags.batch_size, line.Int("batch-size"));
  KILN_ASSIGN_OR_RETURN(flags.lr, line.Double("lr"));
  KILN_ASSIGN_OR_RETURN(flags.seed, line.Int("seed"));
  KILN_ASSIGN_OR_RETURN(flags.train_limit, line.Int("train-limit"));
  KILN_ASSIGN_OR_RETURN(flags.test_limit, line.Int("test-limit"));
  flags.data_dir = line.String("data-dir");
  flags.init_weights = line.String("init-weights");
  if (flags.epochs && *flags.epochs < 1) {
    return absl::InvalidArgumentError("--epochs must be at least 1");
  }
  if (flags.batch_size && *flags.batch_size < 1) {
    return absl::InvalidArgumentError("--batch-size must be at least 1");
  }
  return flags;
}

TrainOptions TrainOptionsOf(const TrainRecipe& recipe) {
  TrainOptions run;
  run.epochs = recipe.epochs;
  run.early_stopping_patience = recipe.early_stopping_patience;
  run.batch_size = recipe.batch_size;
  run.eval_batch_size = recipe.eval_batch_size;
  run.learning_rate = recipe.learning_rate;
  run.schedule = recipe.schedule;
  run.seed = recipe.seed;
  run.shuffle = recipe.data.shuffle;
  run.model_name = recipe.model_name;
  run.log = &std::cout;
  run.per_class_accuracy = recipe.per_class_accuracy;
  run.settings = RunSettingsOf(recipe);
  return run;
}

TrainOptions TrainOptionsOf(const TrainRecipe& recipe, const CommandLine& flags) {
  TrainOptions run = TrainOptionsOf(recipe);
  run.metrics_out = flags.String("metrics-out").value_or("");
  run.checkpoint_path = flags.String("checkpoint").value_or("");
  run.best_checkpoint_path = flags.String("save-best").value_or("");
  run.per_class_accuracy |= flags.Has("per-class");
  return run;
}

namespace {

// The source's arguments as its record lists them, except those setting the path and the
// limits: those are settings of their own (--data-dir, --train-limit, --test-limit change them).
std::string DataOptions(const DataSpec& data) {
  const DataSource* source = FindDataSource(data.source);
  if (source == nullptr) return "";  // LoadDataset has refused it before settings matter.
  const DataField recorded_apart[] = {&DataSpec::path, &DataSpec::train_limit,
                                      &DataSpec::test_limit};
  std::vector<std::string> options;
  for (const DataArg& arg : ArgsOf(*source)) {
    if (std::find(std::begin(recorded_apart), std::end(recorded_apart), arg.field) !=
        std::end(recorded_apart)) {
      continue;
    }
    const std::string value = ArgValueText(arg, data);
    if (!value.empty()) options.push_back(absl::StrCat(std::string(arg.name), "=", value));
  }
  return absl::StrJoin(options, " ");
}

}  // namespace

std::vector<RunSetting> RunSettingsOf(const TrainRecipe& recipe) {
  auto limit = [](int64_t n) { return n > 0 ? absl::StrCat(n) : std::string("all"); };
  const LrSchedule& schedule = recipe.schedule;
  const DataSpec& data = recipe.data;
  return {
      {"model", recipe.model_fingerprint},
      {"optimizer", recipe.optimizer_setting},
      {"lr", SettingNumber(recipe.learning_rate)},
      {"lr schedule", absl::StrFormat("%s step_size=%d gamma=%s t_max=%d eta_min=%s",
                                      LrScheduleName(schedule.kind), schedule.step_size,
                                      SettingNumber(schedule.gamma), schedule.t_max,
                                      SettingNumber(schedule.eta_min))},
      {"batch size", absl::StrCat(recipe.batch_size)},
      {"train limit", limit(data.train_limit)},
      {"test limit", limit(data.test_limit)},
      {"data source", data.source},
      {"data dir", data.path.empty() ? "(the source's default)" : data.path},
      {"data options", DataOptions(data)},
      {"gradient clipping", recipe.clipping_setting},
      {"freeze", recipe.freeze_setting},
  };
}

absl::Status LoadInitWeights(const TrainRecipe& recipe, Executable& executable, std::ostream& log) {
  if (recipe.init_weights.empty()) return absl::OkStatus();
  KILN_ASSIGN_OR_RETURN(
      InitWeightsReport report,
      LoadInitialWeights(recipe.init_weights, recipe.init_load, recipe.init_keep, executable));
  log << FormatInitWeightsReport(recipe.init_weights, report);
  return absl::OkStatus();
}

std::string FinalSummary(const std::vector<EpochMetrics>& history) {
  if (history.empty()) return "";
  const EpochMetrics& last = history.back();
  if (std::isnan(last.test_accuracy)) {
    return absl::StrFormat("final test loss %.4f\n", last.test_loss);
  }
  return absl::StrFormat("final test accuracy %.4f, test loss %.4f\n", last.test_accuracy,
                         last.test_loss);
}

}  // namespace kiln::runtime
