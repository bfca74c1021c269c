#include "tools/train_setup.h"

#include <algorithm>
#include <cmath>
#include <iostream>
#include <map>
#include <memory>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "codegen/cpu/cpu_backend.h"
#include "frontend/frontend.h"
#include "ir/op_registry.h"
#include "runtime/data_sources.h"
#include "runtime/init_weights.h"
#include "support/source_location.h"
#include "support/status.h"

namespace kiln::tools {

// The static batch sizes a data set of `samples` needs: full batches and the smaller last one.
void AddBatchSizes(std::vector<EntryRequest>& entries, bool training, int64_t samples,
                   int64_t batch) {
  if (samples <= 0) return;
  entries.push_back({training, std::min(batch, samples)});
  if (samples > batch && samples % batch != 0) entries.push_back({training, samples % batch});
}

absl::Status ApplyOverrides(const CommandLine& line, ir::TrainConfig& train) {
  KILN_ASSIGN_OR_RETURN(auto epochs, line.Int("epochs"));
  KILN_ASSIGN_OR_RETURN(auto batch, line.Int("batch-size"));
  KILN_ASSIGN_OR_RETURN(auto lr, line.Double("lr"));
  KILN_ASSIGN_OR_RETURN(auto seed, line.Int("seed"));
  KILN_ASSIGN_OR_RETURN(auto train_limit, line.Int("train-limit"));
  KILN_ASSIGN_OR_RETURN(auto test_limit, line.Int("test-limit"));
  if (epochs) train.epochs = *epochs;
  if (batch) train.batch_size = *batch;
  if (lr) train.optimizer.hparams["lr"] = *lr;
  if (seed) train.seed = static_cast<uint64_t>(*seed);
  if (train_limit) train.data.train_limit = *train_limit;
  if (test_limit) train.data.test_limit = *test_limit;
  if (auto dir = line.String("data-dir")) train.data.path = *dir;
  if (auto weights = line.String("init-weights")) train.init_weights = *weights;
  if (train.epochs < 1) return absl::InvalidArgumentError("--epochs must be at least 1");
  if (train.batch_size < 1) return absl::InvalidArgumentError("--batch-size must be at least 1");
  return absl::OkStatus();
}

runtime::LrSchedule ScheduleOf(const ir::ScheduleConfig& schedule) {
  const std::map<std::string, runtime::LrSchedule::Kind> kKinds = {
      {"constant", runtime::LrSchedule::Kind::kConstant},
      {"step", runtime::LrSchedule::Kind::kStep},
      {"exponential", runtime::LrSchedule::Kind::kExponential},
      {"cosine", runtime::LrSchedule::Kind::kCosine}};
  return {.kind = kKinds.at(schedule.kind),
          .step_size = schedule.step_size,
          .gamma = schedule.gamma,
          .t_max = schedule.t_max,
          .eta_min = schedule.eta_min};
}

namespace {

// Splits the model's parameters and running statistics (the persistent tensors of the forward
// graph; optimizer state is added later, by the training step) into those init_weights loads
// and those init_exclude keeps. An init_exclude item that names nothing is an error.
absl::Status PlanInitWeights(PreparedTraining& p) {
  const ir::TrainConfig& train = p.train;
  if (train.init_weights.empty()) return absl::OkStatus();  // init_exclude alone: nothing to do.
  KILN_ASSIGN_OR_RETURN(
      ir::Graph model,
      frontend::LowerModel(p.ast, {{frontend::BatchDimName(p.ast), train.batch_size}}));
  std::vector<std::string> names;
  for (const ir::Node& node : model.nodes()) {
    if (ir::OpOf(node).Has(ir::kPersistent)) names.push_back(node.name);
  }
  for (const ir::FreezePattern& pattern : train.init_exclude) {
    bool matched = false;
    for (const std::string& name : names) matched |= ir::MatchesNamePattern(pattern.pattern, name);
    if (!matched) {
      return ErrorAt(pattern.loc, absl::StrCat("init_exclude: no parameter '", pattern.pattern,
                                               "'", DidYouMean(pattern.pattern, names)));
    }
  }
  for (const std::string& name : names) {
    bool keep = false;
    for (const ir::FreezePattern& pattern : train.init_exclude) {
      keep |= ir::MatchesNamePattern(pattern.pattern, name);
    }
    (keep ? p.init_keep : p.init_load).push_back(name);
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status LoadInitWeights(const PreparedTraining& prepared, runtime::Executable& executable,
                             std::ostream& log) {
  if (prepared.train.init_weights.empty()) return absl::OkStatus();
  KILN_ASSIGN_OR_RETURN(runtime::InitWeightsReport report,
                        runtime::LoadInitialWeights(prepared.train.init_weights,
                                                    prepared.init_load, prepared.init_keep,
                                                    executable));
  log << runtime::FormatInitWeightsReport(prepared.train.init_weights, report);
  return absl::OkStatus();
}

absl::StatusOr<PreparedTraining> PrepareTraining(const CommandLine& line) {
  if (line.positional().size() != 1) {
    return absl::InvalidArgumentError("usage: kiln train FILE [options] (see kiln --help)");
  }
  PreparedTraining p;
  KILN_ASSIGN_OR_RETURN(p.ast, frontend::ParseModelFile(line.positional()[0]));
  KILN_ASSIGN_OR_RETURN(p.train, frontend::LowerTrainConfig(p.ast));
  KILN_RETURN_IF_ERROR(ApplyOverrides(line, p.train));
  // Model errors first: they should not wait for (or be hidden behind) loading the data.
  KILN_RETURN_IF_ERROR(
      CompileEntryProgram(p.ast, p.train, {true, p.train.batch_size}, CompileOptions()).status());
  KILN_RETURN_IF_ERROR(PlanInitWeights(p));
  runtime::DataSpec data = p.train.data;  // The DataSpec part; only the location stays behind.
  // Labels are checked against the model's classes as they are loaded, where the file and the
  // sample are known; past this point an out-of-range label would silently index garbage.
  KILN_ASSIGN_OR_RETURN(std::optional<int64_t> classes, ModelClassCount(p.ast, p.train));
  data.num_classes = classes.value_or(0);
  KILN_ASSIGN_OR_RETURN(p.data, runtime::LoadDataset(data));
  KILN_ASSIGN_OR_RETURN(std::string fingerprint, ModelFingerprint(p.ast));
  p.settings = RunSettingsOf(p.train, fingerprint);
  AddBatchSizes(p.options.entries, true, p.data.train.num_samples, p.train.batch_size);
  AddBatchSizes(p.options.entries, false, p.data.test.num_samples, p.train.batch_size);
  p.compile_start = std::chrono::steady_clock::now();
  KILN_ASSIGN_OR_RETURN(p.compiled, CompileModel(p.ast, p.train, p.options));
  return p;
}

std::function<absl::StatusOr<runtime::Executable*>()> UnfusedProgram(
    const PreparedTraining& prepared) {
  // The replay runs on the host whatever the device: it diagnoses the model, not the device.
  auto built = std::make_shared<cpu::HostProgram>();
  CompileOptions options = prepared.options;
  options.fusion.one_op_per_kernel = true;
  return [built, options, ast = prepared.ast,
          train = prepared.train]() -> absl::StatusOr<runtime::Executable*> {
    if (built->executable != nullptr) return built->executable.get();
    KILN_ASSIGN_OR_RETURN(CompiledModel compiled, CompileModel(ast, train, options));
    KILN_ASSIGN_OR_RETURN(*built, cpu::LoadOnHost(compiled, train.seed));
    return built->executable.get();
  };
}

runtime::TrainOptions TrainOptionsOf(const CommandLine& line, const ir::TrainConfig& train,
                                     const std::string& model_name) {
  runtime::TrainOptions run;
  run.epochs = train.epochs;
  run.early_stopping_patience = train.early_stopping_patience;
  run.batch_size = train.batch_size;
  run.learning_rate = train.optimizer.Get("lr", 0.0);
  run.schedule = ScheduleOf(train.schedule);
  run.seed = train.seed;
  run.shuffle = train.data.shuffle;
  run.metrics_out = line.String("metrics-out").value_or("");
  run.checkpoint_path = line.String("checkpoint").value_or("");
  run.best_checkpoint_path = line.String("save-best").value_or("");
  run.model_name = model_name;
  run.log = &std::cout;
  run.per_class_accuracy =
      line.Has("per-class") || std::find(train.metrics.begin(), train.metrics.end(),
                                         "per_class_accuracy") != train.metrics.end();
  return run;
}

namespace {

std::string Number(double value) { return absl::StrFormat("%.15g", value); }

// The source's arguments as its record lists them, except those setting the path and the
// limits: those are settings of their own (--data-dir, --train-limit, --test-limit change them).
std::string DataOptions(const ir::DataConfig& data) {
  const runtime::DataSource* source = runtime::FindDataSource(data.source);
  if (source == nullptr) return "";  // LoadDataset has refused it before settings matter.
  const runtime::DataField recorded_apart[] = {&runtime::DataSpec::path,
                                               &runtime::DataSpec::train_limit,
                                               &runtime::DataSpec::test_limit};
  std::vector<std::string> options;
  for (const runtime::DataArg& arg : runtime::ArgsOf(*source)) {
    if (std::find(std::begin(recorded_apart), std::end(recorded_apart), arg.field) !=
        std::end(recorded_apart)) {
      continue;
    }
    const std::string value = runtime::ArgValueText(arg, data);
    if (!value.empty()) options.push_back(absl::StrCat(std::string(arg.name), "=", value));
  }
  return absl::StrJoin(options, " ");
}

}  // namespace

std::vector<runtime::RunSetting> RunSettingsOf(const ir::TrainConfig& train,
                                               const std::string& model_fingerprint) {
  auto limit = [](int64_t n) { return n > 0 ? absl::StrCat(n) : std::string("all"); };
  std::string optimizer = train.optimizer.kind;
  for (const auto& [name, value] : train.optimizer.hparams) {
    if (name != "lr") absl::StrAppend(&optimizer, " ", name, "=", Number(value));
  }
  const ir::ScheduleConfig& schedule = train.schedule;
  std::vector<std::string> freeze;
  for (const ir::FreezePattern& pattern : train.freeze) freeze.push_back(pattern.pattern);
  return {
      {"model", model_fingerprint},
      {"optimizer", optimizer},
      {"lr", Number(train.optimizer.Get("lr", 0.0))},
      {"lr schedule", absl::StrFormat("%s step_size=%d gamma=%s t_max=%d eta_min=%s",
                                      schedule.kind, schedule.step_size, Number(schedule.gamma),
                                      schedule.t_max, Number(schedule.eta_min))},
      {"batch size", absl::StrCat(train.batch_size)},
      {"train limit", limit(train.data.train_limit)},
      {"test limit", limit(train.data.test_limit)},
      {"data source", train.data.source},
      {"data dir", train.data.path.empty() ? "(the source's default)" : train.data.path},
      {"data options", DataOptions(train.data)},
      {"gradient clipping", absl::StrFormat("value=%s norm=%s", Number(train.clip_grad_value),
                                            Number(train.clip_grad_norm))},
      {"freeze", absl::StrCat("[", absl::StrJoin(freeze, ","), "]")},
  };
}

std::string FinalSummary(const std::vector<runtime::EpochMetrics>& history) {
  if (history.empty()) return "";
  const runtime::EpochMetrics& last = history.back();
  if (std::isnan(last.test_accuracy)) {
    return absl::StrFormat("final test loss %.4f\n", last.test_loss);
  }
  return absl::StrFormat("final test accuracy %.4f, test loss %.4f\n", last.test_accuracy,
                         last.test_loss);
}

}  // namespace kiln::tools
