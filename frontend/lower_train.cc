// Lowers the train section to an ir::TrainConfig. Data sources and optimizers are bound against
// their tables (runtime/data_sources.h, ir/optimizer_defs.h), which hold the argument names and
// defaults; this file only reads each kind of argument and reports errors at their locations.
#include <algorithm>
#include <cmath>
#include <map>
#include <variant>

#include "absl/strings/str_cat.h"
#include "frontend/args.h"
#include "frontend/frontend.h"
#include "frontend/value.h"
#include "ir/optimizer_defs.h"
#include "runtime/data_sources.h"
#include "support/status.h"

namespace kiln::frontend {
namespace {

const Args::Evaluator kConstant = [](const Expr& e) { return EvalConstant(e); };

// `data = fashion_mnist(...)` or `optimizer = adam` (a bare name calls with no arguments).
absl::Status RequireCall(const Expr& value, const std::string& what) {
  if (value.kind == Expr::Kind::kCall || value.kind == Expr::Kind::kName) return absl::OkStatus();
  return ErrorAt(value.loc, absl::StrCat("expected ", what));
}

absl::Status CheckRange(const Args& args, const std::string& key, double value, double low,
                        double high, const std::string& range) {
  if (value >= low && value <= high) return absl::OkStatus();
  const Expr* expr = args.Raw(key);
  return ErrorAt(expr ? expr->loc : args.call_loc(),
                 absl::StrCat(args.callee(), ": ", key, " must be ", range, ", got ", value));
}

// The names of `name=[a, b, c]` (or a single name), as written: csv feature columns.
absl::StatusOr<std::vector<std::string>> Names(const Args& args, const std::string& key) {
  const Expr* value = args.Raw(key);
  std::vector<const Expr*> items;
  if (value->kind == Expr::Kind::kList || value->kind == Expr::Kind::kTuple) {
    for (const Expr& item : value->operands) items.push_back(&item);
  } else {
    items.push_back(value);
  }
  std::vector<std::string> names;
  for (const Expr* item : items) {
    if (item->kind != Expr::Kind::kName && item->kind != Expr::Kind::kString) {
      return ErrorAt(item->loc, absl::StrCat(args.callee(), ": ", key,
                                             " must be a list of column names such as [a, b]"));
    }
    names.push_back(item->text);
  }
  return names;
}

// normalize=(mean, std), each a number or a tuple of per-channel numbers.
absl::Status LowerNormalize(const Args& args, runtime::DataSpec& data) {
  const Expr& raw = *args.Raw("normalize");
  KILN_ASSIGN_OR_RETURN(Value pair, EvalConstant(raw));
  if (pair.kind != Value::Kind::kTuple || pair.items.size() != 2) {
    return ErrorAt(raw.loc, "normalize must be a pair (mean, std)");
  }
  std::vector<double>* outs[2] = {&data.mean, &data.stddev};
  for (int i = 0; i < 2; ++i) {
    const Value& part = pair.items[i];
    std::vector<Value> items = part.kind == Value::Kind::kTuple ? part.items : std::vector{part};
    for (const Value& item : items) {
      if (item.kind != Value::Kind::kNumber) {
        return ErrorAt(raw.loc, "normalize must be (mean, std) with numbers or tuples of numbers");
      }
      if (i == 1 && item.number <= 0) return ErrorAt(raw.loc, "normalize: std must be positive");
      outs[i]->push_back(item.number);
    }
  }
  if (data.mean.size() != data.stddev.size()) {
    return ErrorAt(raw.loc, "normalize: mean and std differ in length");
  }
  return absl::OkStatus();
}

// A generator argument (scikit-learn's): a number, or true/false as 1/0, kept by name.
absl::Status LowerGeneratorArg(const Args& args, const std::string& name, runtime::DataSpec& data) {
  KILN_ASSIGN_OR_RETURN(Value value, args.Get(name));
  if (value.kind == Value::Kind::kBool) {
    data.params[name] = value.boolean ? 1.0 : 0.0;
    return absl::OkStatus();
  }
  if (value.kind != Value::Kind::kNumber) {
    return ErrorAt(args.Raw(name)->loc,
                   absl::StrCat(args.callee(), ": ", name, " must be a number"));
  }
  data.params[name] = value.number;
  return absl::OkStatus();
}

// Reads one argument of a data-source call into the DataSpec field its record names.
absl::Status LowerDataArg(const Args& args, const runtime::DataArg& arg, runtime::DataSpec& data) {
  using Type = runtime::DataArgType;
  const std::string name(arg.name);
  switch (arg.type) {
    case Type::kWord: {
      KILN_ASSIGN_OR_RETURN(data.*std::get<std::string runtime::DataSpec::*>(arg.field),
                            args.Word(name, ""));
      return absl::OkStatus();
    }
    case Type::kNumber:
    case Type::kFraction: {
      double& field = data.*std::get<double runtime::DataSpec::*>(arg.field);
      KILN_ASSIGN_OR_RETURN(field, args.Number(name, field));
      if (arg.type == Type::kNumber) return absl::OkStatus();
      return CheckRange(args, name, field, 0, 0.999999, "in [0, 1)");
    }
    case Type::kCount: {
      KILN_ASSIGN_OR_RETURN(int64_t count, args.Int(name, 0));
      KILN_RETURN_IF_ERROR(CheckRange(args, name, count, 0, INFINITY, ">= 0"));
      if (auto* field = std::get_if<int64_t runtime::DataSpec::*>(&arg.field)) {
        data.*(*field) = count;
      } else {
        data.*std::get<uint64_t runtime::DataSpec::*>(arg.field) = static_cast<uint64_t>(count);
      }
      return absl::OkStatus();
    }
    case Type::kBool: {
      bool& field = data.*std::get<bool runtime::DataSpec::*>(arg.field);
      KILN_ASSIGN_OR_RETURN(field, args.Bool(name, field));
      return absl::OkStatus();
    }
    case Type::kColumns: {
      KILN_ASSIGN_OR_RETURN(
          data.*std::get<std::vector<std::string> runtime::DataSpec::*>(arg.field),
          Names(args, name));
      return absl::OkStatus();
    }
    case Type::kNormalize:
      return LowerNormalize(args, data);
    case Type::kGenerator:
      return LowerGeneratorArg(args, name, data);
  }
  return absl::OkStatus();
}

// `data = csv(path="x.csv", label=y)`, bound against the source's record in the runtime's table
// (runtime/data_sources.h); arguments left out keep DataSpec's defaults.
absl::Status LowerData(const Expr& value, ir::DataConfig& data) {
  KILN_RETURN_IF_ERROR(RequireCall(value, "a data source such as fashion_mnist()"));
  const runtime::DataSource* source = runtime::FindDataSource(value.text);
  if (source == nullptr) {
    return ErrorAt(value.loc, absl::StrCat("unknown data source '", value.text, "'",
                                           DidYouMean(value.text, runtime::DataSourceNames())));
  }
  const std::vector<runtime::DataArg> source_args = runtime::ArgsOf(*source);
  Signature sig{value.text, {}};
  for (const runtime::DataArg& arg : source_args) {
    sig.params.push_back({std::string(arg.name), arg.required});
  }
  KILN_ASSIGN_OR_RETURN(Args args, Args::Bind(sig, value, kConstant));
  data.source = value.text;
  data.loc = value.loc;
  for (const runtime::DataArg& arg : source_args) {
    if (!args.Has(std::string(arg.name))) continue;
    KILN_RETURN_IF_ERROR(LowerDataArg(args, arg, data));
  }
  return absl::OkStatus();
}

// Reads one hyperparameter of an optimizer call into `hparams`, or its default when left out.
absl::Status LowerHparam(const Args& args, const ir::Hparam& h,
                         std::map<std::string, double>& hparams) {
  const std::string name(h.name);
  switch (h.type) {
    case ir::HparamType::kNumber: {
      KILN_ASSIGN_OR_RETURN(hparams[std::string(h.keys[0])], args.Number(name, h.defaults[0]));
      return absl::OkStatus();
    }
    case ir::HparamType::kFlag: {
      KILN_ASSIGN_OR_RETURN(bool on, args.Bool(name, h.defaults[0] != 0.0));
      if (on || !h.omit_when_off) hparams[std::string(h.keys[0])] = on ? 1.0 : 0.0;
      return absl::OkStatus();
    }
    case ir::HparamType::kPair: {
      std::vector<double> pair = {h.defaults[0], h.defaults[1]};
      if (args.Has(name)) {
        KILN_ASSIGN_OR_RETURN(pair, args.Numbers(name));
      }
      if (pair.size() != 2) {
        return ErrorAt(args.Raw(name)->loc,
                       absl::StrCat(args.callee(), ": ", name, " must be a pair"));
      }
      hparams[std::string(h.keys[0])] = pair[0];
      hparams[std::string(h.keys[1])] = pair[1];
      return absl::OkStatus();
    }
  }
  return absl::OkStatus();
}

// `optimizer = adam(lr=3e-3)`, bound against the optimizer's record (ir/optimizer_defs.h): every
// hyperparameter gets its PyTorch default, and a bad value is reported at its argument.
absl::Status LowerOptimizer(const Expr& value, ir::OptimizerConfig& optimizer) {
  KILN_RETURN_IF_ERROR(RequireCall(value, "an optimizer such as adam(lr=1e-3)"));
  const ir::OptimizerDef* def = ir::FindOptimizer(value.text);
  if (def == nullptr) {
    return ErrorAt(value.loc, absl::StrCat("unknown optimizer '", value.text, "'",
                                           DidYouMean(value.text, ir::OptimizerNames())));
  }
  Signature sig{value.text, {}};
  for (const ir::Hparam& h : def->hparams) sig.params.push_back({std::string(h.name), h.required});
  KILN_ASSIGN_OR_RETURN(Args args, Args::Bind(sig, value, kConstant));
  optimizer.kind = value.text;
  optimizer.loc = value.loc;
  for (const ir::Hparam& h : def->hparams) {
    KILN_RETURN_IF_ERROR(LowerHparam(args, h, optimizer.hparams));
  }
  std::optional<ir::HparamProblem> problem = ir::CheckHparams(*def, optimizer);
  if (!problem.has_value()) return absl::OkStatus();
  const Expr* culprit = problem->key.empty() ? nullptr : args.Raw(std::string(problem->key));
  return ErrorAt(culprit != nullptr ? culprit->loc : args.call_loc(),
                 absl::StrCat(args.callee(), ": ", problem->message));
}

// torch.optim.lr_scheduler's StepLR(step_size, gamma=0.1), ExponentialLR(gamma) and
// CosineAnnealingLR(T_max, eta_min=0), stepped once per epoch.
absl::Status LowerSchedule(const Expr& value, ir::ScheduleConfig& schedule) {
  static const std::vector<Signature> kSchedules = {
      {"constant", {}},
      {"step", {{"step_size", true}, {"gamma"}}},
      {"exponential", {{"gamma", true}}},
      {"cosine", {{"t_max", true}, {"eta_min"}}},
  };
  KILN_RETURN_IF_ERROR(RequireCall(value, "a schedule such as step(step_size=10, gamma=0.1)"));
  std::vector<std::string> names;
  for (const Signature& sig : kSchedules) names.push_back(sig.callee);
  auto sig = std::find_if(kSchedules.begin(), kSchedules.end(),
                          [&](const Signature& s) { return s.callee == value.text; });
  if (sig == kSchedules.end()) {
    return ErrorAt(value.loc, absl::StrCat("unknown schedule '", value.text, "'",
                                           DidYouMean(value.text, names)));
  }
  KILN_ASSIGN_OR_RETURN(Args args, Args::Bind(*sig, value, kConstant));
  schedule.kind = value.text;
  schedule.loc = value.loc;
  KILN_ASSIGN_OR_RETURN(schedule.step_size, args.Int("step_size", 1));
  KILN_ASSIGN_OR_RETURN(schedule.gamma, args.Number("gamma", 0.1));
  KILN_ASSIGN_OR_RETURN(schedule.t_max, args.Int("t_max", 1));
  KILN_ASSIGN_OR_RETURN(schedule.eta_min, args.Number("eta_min", 0.0));
  KILN_RETURN_IF_ERROR(CheckRange(args, "step_size", schedule.step_size, 1, INFINITY, ">= 1"));
  KILN_RETURN_IF_ERROR(CheckRange(args, "gamma", schedule.gamma, 0, INFINITY, ">= 0"));
  KILN_RETURN_IF_ERROR(CheckRange(args, "t_max", schedule.t_max, 1, INFINITY, ">= 1"));
  return CheckRange(args, "eta_min", schedule.eta_min, 0, INFINITY, ">= 0");
}

absl::StatusOr<double> Positive(const TrainEntry& entry) {
  KILN_ASSIGN_OR_RETURN(Value v, EvalConstant(entry.value));
  if (v.kind != Value::Kind::kNumber || !(v.number > 0) || !std::isfinite(v.number)) {
    return ErrorAt(entry.value.loc, absl::StrCat(entry.key, " must be a positive number"));
  }
  return v.number;
}

// `freeze = [fc1.weight, fc2]` or `freeze = ["fc*"]`: parameter names, module names or globs
// ending in '*'. The training-step builder checks them against the model's parameters.
absl::StatusOr<std::vector<ir::FreezePattern>> FreezePatterns(const Expr& value,
                                                              const std::string& key) {
  std::vector<const Expr*> items;
  if (value.kind == Expr::Kind::kList || value.kind == Expr::Kind::kTuple) {
    for (const Expr& item : value.operands) items.push_back(&item);
  } else {
    items.push_back(&value);
  }
  std::vector<ir::FreezePattern> patterns;
  for (const Expr* item : items) {
    if (item->kind != Expr::Kind::kName && item->kind != Expr::Kind::kString) {
      return ErrorAt(item->loc, absl::StrCat(key, " must be a list of parameter names such as "
                                             "[fc1.weight, \"fc2.*\"]"));
    }
    patterns.push_back({item->text, item->loc});
  }
  return patterns;
}

absl::StatusOr<int64_t> Integer(const TrainEntry& entry, int64_t min) {
  KILN_ASSIGN_OR_RETURN(Value v, EvalConstant(entry.value));
  std::optional<int64_t> integer =
      v.kind == Value::Kind::kNumber ? ExactInteger(v.number) : std::nullopt;
  if (!integer.has_value() || *integer < min) {
    return ErrorAt(entry.value.loc,
                   absl::StrCat(entry.key, " must be an integer >= ", min, " (and within 2^53)"));
  }
  return *integer;
}

absl::StatusOr<std::vector<std::string>> Metrics(const Expr& value) {
  static const std::vector<std::string> kMetrics = {"loss", "accuracy", "per_class_accuracy"};
  std::vector<const Expr*> items;
  if (value.kind == Expr::Kind::kList || value.kind == Expr::Kind::kTuple) {
    for (const Expr& item : value.operands) items.push_back(&item);
  } else {
    items.push_back(&value);
  }
  std::vector<std::string> metrics;
  for (const Expr* item : items) {
    if (item->kind != Expr::Kind::kName && item->kind != Expr::Kind::kString) {
      return ErrorAt(item->loc, "metrics must be a list of names such as [loss, accuracy]");
    }
    if (std::find(kMetrics.begin(), kMetrics.end(), item->text) == kMetrics.end()) {
      return ErrorAt(item->loc, absl::StrCat("unknown metric '", item->text, "'",
                                             DidYouMean(item->text, kMetrics)));
    }
    metrics.push_back(item->text);
  }
  return metrics;
}

absl::Status LowerEntry(const TrainEntry& entry, ir::TrainConfig& config) {
  static const std::vector<std::string> kKeys = {
      "data",     "optimizer",      "batch_size",      "epochs", "seed",
      "metrics",  "clip_grad_norm", "clip_grad_value", "freeze", "schedule",
      "init_weights", "init_exclude", "early_stopping_patience"};
  if (entry.key == "data") return LowerData(entry.value, config.data);
  if (entry.key == "optimizer") return LowerOptimizer(entry.value, config.optimizer);
  if (entry.key == "schedule") return LowerSchedule(entry.value, config.schedule);
  if (entry.key == "clip_grad_norm" || entry.key == "clip_grad_value") {
    KILN_ASSIGN_OR_RETURN(double limit, Positive(entry));
    (entry.key == "clip_grad_norm" ? config.clip_grad_norm : config.clip_grad_value) = limit;
    config.clip_loc = entry.key_loc;
    return absl::OkStatus();
  }
  if (entry.key == "freeze") {
    KILN_ASSIGN_OR_RETURN(config.freeze, FreezePatterns(entry.value, entry.key));
    return absl::OkStatus();
  }
  if (entry.key == "init_exclude") {
    KILN_ASSIGN_OR_RETURN(config.init_exclude, FreezePatterns(entry.value, entry.key));
    return absl::OkStatus();
  }
  if (entry.key == "init_weights") {
    KILN_ASSIGN_OR_RETURN(Value v, EvalConstant(entry.value));
    if (v.kind != Value::Kind::kString || v.text.empty()) {
      return ErrorAt(entry.value.loc, "init_weights must be a file name in quotes");
    }
    config.init_weights = v.text;
    config.init_weights_loc = entry.value.loc;
    return absl::OkStatus();
  }
  if (entry.key == "batch_size") {
    KILN_ASSIGN_OR_RETURN(config.batch_size, Integer(entry, 1));
    return absl::OkStatus();
  }
  if (entry.key == "epochs") {
    KILN_ASSIGN_OR_RETURN(config.epochs, Integer(entry, 1));
    return absl::OkStatus();
  }
  if (entry.key == "early_stopping_patience") {
    KILN_ASSIGN_OR_RETURN(config.early_stopping_patience, Integer(entry, 1));
    return absl::OkStatus();
  }
  if (entry.key == "seed") {
    KILN_ASSIGN_OR_RETURN(int64_t seed, Integer(entry, 0));
    config.seed = static_cast<uint64_t>(seed);
    return absl::OkStatus();
  }
  if (entry.key == "metrics") {
    KILN_ASSIGN_OR_RETURN(config.metrics, Metrics(entry.value));
    return absl::OkStatus();
  }
  return ErrorAt(entry.key_loc, absl::StrCat("unknown train key '", entry.key, "'",
                                             DidYouMean(entry.key, kKeys)));
}

}  // namespace

absl::StatusOr<ir::TrainConfig> LowerTrainConfig(const ModelAst& ast) {
  if (!ast.has_train) {
    return ErrorAt(ast.model.loc, "the file has no train section (train { optimizer = ... })");
  }
  ir::TrainConfig config;
  std::map<std::string, SourceLoc> seen;
  for (const TrainEntry& entry : ast.train) {
    if (auto it = seen.find(entry.key); it != seen.end()) {
      return ErrorAt(entry.key_loc, absl::StrCat("'", entry.key, "' is set twice (first at ",
                                                 it->second.ToString(), ")"));
    }
    seen[entry.key] = entry.key_loc;
    KILN_RETURN_IF_ERROR(LowerEntry(entry, config));
  }
  if (!seen.count("optimizer")) {
    return ErrorAt(ast.train_loc,
                   "the train section must set an optimizer, e.g. optimizer = adam(lr=1e-3)");
  }
  return config;
}

}  // namespace kiln::frontend
