// Lowers the train section to an ir::TrainConfig. Data sources and optimizers are tables of
// signatures with PyTorch's argument names; every hyperparameter gets its PyTorch default.
#include <algorithm>
#include <cmath>
#include <functional>
#include <map>

#include "absl/strings/str_cat.h"
#include "frontend/args.h"
#include "frontend/frontend.h"
#include "frontend/value.h"
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

absl::Status LowerData(const Expr& value, ir::DataConfig& data) {
  static const std::vector<std::string> kSources = {"fashion_mnist", "mnist", "idx"};
  KILN_RETURN_IF_ERROR(RequireCall(value, "a data source such as fashion_mnist()"));
  if (std::find(kSources.begin(), kSources.end(), value.text) == kSources.end()) {
    return ErrorAt(value.loc, absl::StrCat("unknown data source '", value.text, "'",
                                           DidYouMean(value.text, kSources)));
  }
  Signature sig{value.text,
                {{"path", value.text == "idx"},
                 {"scale"},
                 {"normalize"},
                 {"train_limit"},
                 {"test_limit"},
                 {"shuffle"}}};
  KILN_ASSIGN_OR_RETURN(Args args, Args::Bind(sig, value, kConstant));
  data.source = value.text;
  data.loc = value.loc;
  KILN_ASSIGN_OR_RETURN(data.path, args.Word("path", ""));
  KILN_ASSIGN_OR_RETURN(data.scale, args.Number("scale", 1.0));
  KILN_ASSIGN_OR_RETURN(data.train_limit, args.Int("train_limit", 0));
  KILN_ASSIGN_OR_RETURN(data.test_limit, args.Int("test_limit", 0));
  KILN_ASSIGN_OR_RETURN(data.shuffle, args.Bool("shuffle", true));
  KILN_RETURN_IF_ERROR(CheckRange(args, "train_limit", data.train_limit, 0, INFINITY, ">= 0"));
  KILN_RETURN_IF_ERROR(CheckRange(args, "test_limit", data.test_limit, 0, INFINITY, ">= 0"));
  if (!args.Has("normalize")) return absl::OkStatus();
  // normalize=(mean, std), each a number or a tuple of per-channel numbers.
  KILN_ASSIGN_OR_RETURN(Value pair, EvalConstant(*args.Raw("normalize")));
  if (pair.kind != Value::Kind::kTuple || pair.items.size() != 2) {
    return ErrorAt(args.Raw("normalize")->loc, "normalize must be a pair (mean, std)");
  }
  std::vector<double>* outs[2] = {&data.mean, &data.std};
  for (int i = 0; i < 2; ++i) {
    const Value& part = pair.items[i];
    std::vector<Value> items = part.kind == Value::Kind::kTuple ? part.items : std::vector{part};
    for (const Value& item : items) {
      if (item.kind != Value::Kind::kNumber) {
        return ErrorAt(args.Raw("normalize")->loc,
                       "normalize must be (mean, std) with numbers or tuples of numbers");
      }
      if (i == 1 && item.number <= 0) {
        return ErrorAt(args.Raw("normalize")->loc, "normalize: std must be positive");
      }
      outs[i]->push_back(item.number);
    }
  }
  if (data.mean.size() != data.std.size()) {
    return ErrorAt(args.Raw("normalize")->loc, "normalize: mean and std differ in length");
  }
  return absl::OkStatus();
}

// torch.optim.SGD(lr, momentum=0, dampening=0, weight_decay=0, nesterov=False).
absl::Status LowerSgd(const Args& args, std::map<std::string, double>& h) {
  KILN_ASSIGN_OR_RETURN(h["lr"], args.Number("lr", 0.0));
  KILN_ASSIGN_OR_RETURN(h["momentum"], args.Number("momentum", 0.0));
  KILN_ASSIGN_OR_RETURN(h["dampening"], args.Number("dampening", 0.0));
  KILN_ASSIGN_OR_RETURN(h["weight_decay"], args.Number("weight_decay", 0.0));
  KILN_ASSIGN_OR_RETURN(bool nesterov, args.Bool("nesterov", false));
  h["nesterov"] = nesterov ? 1.0 : 0.0;
  KILN_RETURN_IF_ERROR(CheckRange(args, "lr", h["lr"], 0, INFINITY, ">= 0"));
  KILN_RETURN_IF_ERROR(CheckRange(args, "momentum", h["momentum"], 0, INFINITY, ">= 0"));
  KILN_RETURN_IF_ERROR(CheckRange(args, "weight_decay", h["weight_decay"], 0, INFINITY, ">= 0"));
  if (nesterov && (h["momentum"] <= 0 || h["dampening"] != 0)) {
    return ErrorAt(args.Raw("nesterov")->loc,
                   "sgd: nesterov momentum requires momentum > 0 and dampening = 0");
  }
  return absl::OkStatus();
}

// torch.optim.Adam(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0).
absl::Status LowerAdam(const Args& args, std::map<std::string, double>& h) {
  KILN_ASSIGN_OR_RETURN(h["lr"], args.Number("lr", 1e-3));
  KILN_ASSIGN_OR_RETURN(h["eps"], args.Number("eps", 1e-8));
  KILN_ASSIGN_OR_RETURN(h["weight_decay"], args.Number("weight_decay", 0.0));
  h["beta1"] = 0.9;
  h["beta2"] = 0.999;
  if (args.Has("betas")) {
    KILN_ASSIGN_OR_RETURN(std::vector<double> betas, args.Numbers("betas"));
    if (betas.size() != 2) return ErrorAt(args.Raw("betas")->loc, "adam: betas must be a pair");
    h["beta1"] = betas[0];
    h["beta2"] = betas[1];
  }
  KILN_RETURN_IF_ERROR(CheckRange(args, "lr", h["lr"], 0, INFINITY, ">= 0"));
  KILN_RETURN_IF_ERROR(CheckRange(args, "eps", h["eps"], 0, INFINITY, ">= 0"));
  KILN_RETURN_IF_ERROR(CheckRange(args, "betas", h["beta1"], 0, 0.999999999, "in [0, 1)"));
  KILN_RETURN_IF_ERROR(CheckRange(args, "betas", h["beta2"], 0, 0.999999999, "in [0, 1)"));
  return CheckRange(args, "weight_decay", h["weight_decay"], 0, INFINITY, ">= 0");
}

struct OptimizerDef {
  Signature signature;
  std::function<absl::Status(const Args&, std::map<std::string, double>&)> lower;
};

const std::vector<OptimizerDef>& Optimizers() {
  static const auto* table = new std::vector<OptimizerDef>{
      {{"sgd", {{"lr", true}, {"momentum"}, {"dampening"}, {"weight_decay"}, {"nesterov"}}},
       LowerSgd},
      {{"adam", {{"lr"}, {"betas"}, {"eps"}, {"weight_decay"}}}, LowerAdam},
  };
  return *table;
}

absl::Status LowerOptimizer(const Expr& value, ir::OptimizerConfig& optimizer) {
  KILN_RETURN_IF_ERROR(RequireCall(value, "an optimizer such as adam(lr=1e-3)"));
  std::vector<std::string> names;
  for (const OptimizerDef& def : Optimizers()) {
    names.push_back(def.signature.callee);
    if (def.signature.callee != value.text) continue;
    KILN_ASSIGN_OR_RETURN(Args args, Args::Bind(def.signature, value, kConstant));
    optimizer.kind = value.text;
    optimizer.loc = value.loc;
    return def.lower(args, optimizer.hparams);
  }
  return ErrorAt(value.loc, absl::StrCat("unknown optimizer '", value.text, "'",
                                         DidYouMean(value.text, names)));
}

absl::StatusOr<int64_t> Integer(const TrainEntry& entry, int64_t min) {
  KILN_ASSIGN_OR_RETURN(Value v, EvalConstant(entry.value));
  if (v.kind != Value::Kind::kNumber || v.number != std::floor(v.number) || v.number < min) {
    return ErrorAt(entry.value.loc, absl::StrCat(entry.key, " must be an integer >= ", min));
  }
  return static_cast<int64_t>(v.number);
}

absl::StatusOr<std::vector<std::string>> Metrics(const Expr& value) {
  static const std::vector<std::string> kMetrics = {"loss", "accuracy"};
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
  static const std::vector<std::string> kKeys = {"data",   "optimizer", "batch_size",
                                                 "epochs", "seed",      "metrics"};
  if (entry.key == "data") return LowerData(entry.value, config.data);
  if (entry.key == "optimizer") return LowerOptimizer(entry.value, config.optimizer);
  if (entry.key == "batch_size") {
    KILN_ASSIGN_OR_RETURN(config.batch_size, Integer(entry, 1));
    return absl::OkStatus();
  }
  if (entry.key == "epochs") {
    KILN_ASSIGN_OR_RETURN(config.epochs, Integer(entry, 1));
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
