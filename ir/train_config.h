// The training section of a model file: data, optimizer, schedule. Produced by the frontend,
// consumed by the training-step builder (optimizer) and by the runtime (data, epochs).
#ifndef KILN_IR_TRAIN_CONFIG_H_
#define KILN_IR_TRAIN_CONFIG_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "runtime/data_spec.h"
#include "support/source_location.h"

namespace kiln::ir {

// The data section: what the runtime loads (its fields, sources and defaults are the runtime's
// data-source table, runtime/data_sources.h) plus where the model file says it. Deriving from
// runtime::DataSpec, a plain struct in a header with no runtime code, is what keeps one list of
// data fields: the tool hands the runtime the DataSpec part as it is.
struct DataConfig : runtime::DataSpec {
  SourceLoc loc;
};

struct OptimizerConfig {
  // A name in the optimizer table (ir/optimizer_defs.h): torch.optim's class in lower case.
  std::string kind = "sgd";
  // The record's hyperparameter keys (PyTorch's names; booleans are 0/1). Keys left out take the
  // record's defaults.
  std::map<std::string, double> hparams;
  double Get(const std::string& key, double fallback) const {
    auto it = hparams.find(key);
    return it == hparams.end() ? fallback : it->second;
  }
  SourceLoc loc;
};

// The learning rate per epoch, as torch.optim.lr_scheduler with scheduler.step() once per epoch:
// epoch e (1-based) trains with the scheduler's lr after e-1 steps. Applied by the runtime (the
// learning rate is a runtime input), so it lives in runtime::TrainOptions too.
struct ScheduleConfig {
  std::string kind = "constant";  // "constant" | "step" | "exponential" | "cosine"
  int64_t step_size = 1;          // step: lr * gamma^floor((e-1) / step_size).
  double gamma = 0.1;             // step, exponential: lr * gamma^(e-1).
  int64_t t_max = 1;              // cosine: eta_min + (lr-eta_min) * (1 + cos(pi (e-1) / t_max))/2.
  double eta_min = 0.0;
  SourceLoc loc;
};

// A pattern of `freeze = [...]`: an exact parameter name, a module prefix ("fc1" freezes
// fc1.weight and fc1.bias) or a glob ending in '*' ("fc*").
struct FreezePattern {
  std::string pattern;
  SourceLoc loc;
};

// Whether `pattern` (as in FreezePattern) names the parameter `name`: the name itself, a module
// prefix ("fc1" matches fc1.weight, not fc10.weight) or a glob ending in '*'.
inline bool MatchesNamePattern(const std::string& pattern, const std::string& name) {
  if (!pattern.empty() && pattern.back() == '*') {
    return name.compare(0, pattern.size() - 1, pattern, 0, pattern.size() - 1) == 0;
  }
  return name == pattern || name.rfind(pattern + ".", 0) == 0;
}

struct TrainConfig {
  DataConfig data;
  OptimizerConfig optimizer;
  ScheduleConfig schedule;
  // Gradient clipping before the optimizer, 0 = off: first each element to [-value, value]
  // (torch.nn.utils.clip_grad_value_), then all gradients together scaled by
  // min(1, max_norm / (global L2 norm + 1e-6)) (torch.nn.utils.clip_grad_norm_).
  double clip_grad_value = 0.0;
  double clip_grad_norm = 0.0;
  SourceLoc clip_loc;
  std::vector<FreezePattern> freeze;  // Parameters that get no gradient and no update.
  // Start from named tensors saved elsewhere (a kiln checkpoint or weights exported from
  // PyTorch): every parameter and running statistic is loaded from this file by name, except
  // those init_exclude names (a replaced head), which keep their initializers. "" = none.
  std::string init_weights;
  SourceLoc init_weights_loc;
  std::vector<FreezePattern> init_exclude;
  int64_t batch_size = 64;
  int64_t epochs = 1;
  // Stop once the test (validation) loss has not improved for this many epochs; 0: never.
  int64_t early_stopping_patience = 0;
  uint64_t seed = 0;
  std::vector<std::string> metrics = {"loss", "accuracy"};
  // Average every gradient over the ranks of a data-parallel job before clipping and the
  // optimizer (passes/data_parallel.h). Set by `--data-parallel`, not by the model file.
  bool data_parallel = false;
};

}  // namespace kiln::ir

#endif  // KILN_IR_TRAIN_CONFIG_H_
