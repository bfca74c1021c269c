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
#include "runtime/data_parallel.h"
#include "runtime/data_sources.h"
#include "runtime/init_weights.h"
#include "support/source_location.h"
#include "tools/backend_registry.h"
#include "support/status.h"

namespace kiln::tools {

// The static batch sizes a data set of `samples` needs: full batches and the smaller last one.
void AddBatchSizes(std::vector<EntryRequest>& entries, bool training, int64_t samples,
                   int64_t batch) {
  if (samples <= 0) return;
  auto add = [&](int64_t size) {
    for (const EntryRequest& entry : entries) {
      if (entry.training == training && entry.batch_size == size) return;
    }
    entries.push_back({training, size});
  };
  add(std::min(batch, samples));
  if (samples > batch && samples % batch != 0) add(samples % batch);
}

absl::Status ApplyOverrides(const CommandLine& line, ir::TrainConfig& train) {
  KILN_ASSIGN_OR_RETURN(runtime::RunFlags flags, runtime::RunFlags::Read(line));
  if (flags.epochs) train.epochs = *flags.epochs;
  if (flags.batch_size) train.batch_size = *flags.batch_size;
  if (flags.lr) train.optimizer.hparams["lr"] = *flags.lr;
  if (flags.seed) train.seed = static_cast<uint64_t>(*flags.seed);
  if (flags.train_limit) train.data.train_limit = *flags.train_limit;
  if (flags.test_limit) train.data.test_limit = *flags.test_limit;
  if (flags.data_dir) train.data.path = *flags.data_dir;
  if (flags.init_weights) train.init_weights = *flags.init_weights;
  return absl::OkStatus();
}

namespace {

// Splits the model's parameters and running statistics (the persistent tensors of the forward
// graph; optimizer state is added later, by the training step) into those init_weights loads
// and those init_exclude keeps. An init_exclude item that names nothing is an error.
absl::Status PlanInitWeights(PreparedTraining& p) {
  const ir::TrainConfig& train = p.train;
  // Planned even without init_weights: a built program takes --init-weights at run time.
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
    (keep ? p.recipe.init_keep : p.recipe.init_load).push_back(name);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<PreparedTraining> PrepareTraining(const CommandLine& line,
                                                 const std::string& command,
                                                 const std::vector<ModelSetting>& settings,
                                                 const RankPlan& ranks) {
  if (line.positional().size() != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("usage: kiln ", command, " FILE [options] (see kiln --help)"));
  }
  PreparedTraining p;
  KILN_ASSIGN_OR_RETURN(p.ast, frontend::ParseModelFile(line.positional()[0]));
  KILN_RETURN_IF_ERROR(ApplyModelSettings(settings, p.ast));
  KILN_ASSIGN_OR_RETURN(p.train, frontend::LowerTrainConfig(p.ast));
  KILN_RETURN_IF_ERROR(ApplyOverrides(line, p.train));
  const int world = ranks.world;
  p.train.data_parallel = world > 1;
  KILN_ASSIGN_OR_RETURN(const codegen::Backend* backend,
                        FindBackend(line.String("device").value_or("cpu")));
  p.options.fusion.windowed_gemm_operands = backend->ReadsWindowedGemmOperands();
  // Model errors first: they should not wait for (or be hidden behind) loading the data.
  KILN_RETURN_IF_ERROR(
      CompileEntryProgram(p.ast, p.train, {true, p.train.batch_size}, CompileOptions()).status());
  KILN_ASSIGN_OR_RETURN(std::string fingerprint, ModelFingerprint(p.ast));
  p.recipe = RecipeOf(p.train, p.ast.model.name, fingerprint);
  p.recipe.data_parallel_ranks = world;
  KILN_RETURN_IF_ERROR(PlanInitWeights(p));
  KILN_ASSIGN_OR_RETURN(auto eval_batch, line.Int("eval-batch-size"));
  if (eval_batch && *eval_batch < 1) {
    return absl::InvalidArgumentError("--eval-batch-size must be at least 1");
  }
  p.recipe.eval_batch_size = eval_batch.value_or(0);
  runtime::DataSpec data = p.train.data;  // The DataSpec part; only the location stays behind.
  // Labels are checked against the model's classes as they are loaded, where the file and the
  // sample are known; past this point an out-of-range label would silently index garbage.
  KILN_ASSIGN_OR_RETURN(std::optional<int64_t> classes, ModelClassCount(p.ast, p.train));
  data.num_classes = classes.value_or(0);
  KILN_ASSIGN_OR_RETURN(p.data, runtime::LoadDataset(data));
  p.recipe.data.num_classes = data.num_classes;
  KILN_ASSIGN_OR_RETURN(const int64_t local_batch, runtime::LocalBatch(p.train.batch_size, world));
  AddBatchSizes(p.options.entries, true,
                runtime::RankShareSize(p.data.train.num_samples, world), local_batch);
  for (int rank = 0; rank < world; ++rank) {
    if (ranks.rank.has_value() && rank != *ranks.rank) continue;
    AddBatchSizes(p.options.entries, false,
                  runtime::EvaluationShard(p.data.test.num_samples, world, rank).size(),
                  eval_batch.value_or(local_batch));
  }
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


namespace {
std::string Number(double value) { return runtime::SettingNumber(value); }
}  // namespace

runtime::TrainRecipe RecipeOf(const ir::TrainConfig& train, const std::string& model_name,
                              const std::string& model_fingerprint) {
  runtime::TrainRecipe recipe;
  recipe.model_name = model_name;
  recipe.model_fingerprint = model_fingerprint;
  recipe.optimizer = train.optimizer.kind;
  recipe.optimizer_setting = train.optimizer.kind;
  for (const auto& [name, value] : train.optimizer.hparams) {
    if (name != "lr") absl::StrAppend(&recipe.optimizer_setting, " ", name, "=", Number(value));
  }
  recipe.clipping_setting = absl::StrFormat("value=%s norm=%s", Number(train.clip_grad_value),
                                            Number(train.clip_grad_norm));
  std::vector<std::string> freeze;
  for (const ir::FreezePattern& pattern : train.freeze) freeze.push_back(pattern.pattern);
  recipe.freeze_setting = absl::StrCat("[", absl::StrJoin(freeze, ","), "]");
  recipe.batch_size = train.batch_size;
  recipe.data = train.data;
  recipe.epochs = train.epochs;
  recipe.learning_rate = train.optimizer.Get("lr", 0.0);
  const ir::ScheduleConfig& schedule = train.schedule;
  recipe.schedule = {.kind = runtime::FindLrSchedule(schedule.kind).value(),
                     .step_size = schedule.step_size,
                     .gamma = schedule.gamma,
                     .t_max = schedule.t_max,
                     .eta_min = schedule.eta_min};
  recipe.seed = train.seed;
  recipe.early_stopping_patience = train.early_stopping_patience;
  recipe.per_class_accuracy = std::find(train.metrics.begin(), train.metrics.end(),
                                        "per_class_accuracy") != train.metrics.end();
  recipe.init_weights = train.init_weights;
  return recipe;
}

}  // namespace kiln::tools
