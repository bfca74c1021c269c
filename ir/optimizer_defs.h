// Every optimizer kiln trains with, one record each: its torch.optim name, its hyperparameters
// with PyTorch's defaults and valid ranges, the state tensors each parameter carries, and the
// builder of its update subgraph. The frontend binds `optimizer = adam(lr=3e-3)` against the
// record, passes/optimizers.cc builds the update from it, and a test checks docs/dsl.md against
// it.
//
//   const ir::OptimizerDef* adam = ir::FindOptimizer("adam");
//   adam->hparams[0].name;                 // "lr", default 1e-3
//   ir::OptimizerConfig config{.kind = "adam"};
//   ir::HparamValue(*adam, config, "beta2");  // 0.999: unset keys take the record's default
//
// Why one record in ir/ rather than a frontend table plus a passes table keyed by name: the
// frontend must not depend on passes, and an update rule needs nothing beyond ir::GraphBuilder.
// Keeping names, defaults, checks and the builder together (as an OpDef keeps its gradient) means
// adding an optimizer is one record in ir/optimizer_defs.cc, there is no second list to forget,
// and the defaults the builder falls back on are the ones the frontend fills in.
#ifndef KILN_IR_OPTIMIZER_DEFS_H_
#define KILN_IR_OPTIMIZER_DEFS_H_

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ir/graph_builder.h"
#include "ir/train_config.h"

namespace kiln::ir {

// The values a hyperparameter may take. Messages say them as "lr must be >= 0, got -1".
enum class HparamRange {
  kAny,
  kNonNegative,  // >= 0
  kUnit,         // in [0, 1]
  kUnitOpen,     // in [0, 1)
};

enum class HparamType {
  kNumber,
  kFlag,  // true/false, stored as 1/0.
  kPair,  // (a, b), stored under two keys: betas=(0.9, 0.999) -> beta1, beta2.
};

struct Hparam {
  std::string_view name;  // The keyword, as torch.optim spells it.
  HparamType type = HparamType::kNumber;
  // The OptimizerConfig::hparams keys it sets: {name} for numbers and flags, two for a pair.
  std::string_view keys[2] = {};
  double defaults[2] = {};  // PyTorch's default (a pair's two).
  HparamRange range = HparamRange::kAny;
  bool required = false;  // No default: sgd's lr.
  // A flag that is off is left out of hparams, so configs (and the run settings checkpoints
  // record) written before the flag existed stay the same: adam's amsgrad.
  bool omit_when_off = false;
};

// Record-building helpers; each says what kind of hyperparameter it is.
constexpr Hparam Number(std::string_view name, double default_value,
                        HparamRange range = HparamRange::kNonNegative) {
  return {.name = name, .keys = {name}, .defaults = {default_value}, .range = range};
}
constexpr Hparam RequiredNumber(std::string_view name, HparamRange range) {
  return {.name = name, .keys = {name}, .range = range, .required = true};
}
constexpr Hparam Flag(std::string_view name, bool omit_when_off = false) {
  return {.name = name, .type = HparamType::kFlag, .keys = {name}, .omit_when_off = omit_when_off};
}
constexpr Hparam Pair(std::string_view name, std::string_view first, double first_default,
                      std::string_view second, double second_default, HparamRange range) {
  return {.name = name,
          .type = HparamType::kPair,
          .keys = {first, second},
          .defaults = {first_default, second_default},
          .range = range};
}

struct OptimizerDef;

// What an update builder is given: the graph, the optimizer's record and configuration, and the
// scalars every parameter's update shares.
struct UpdateContext {
  GraphBuilder& b;
  const OptimizerDef& def;
  const OptimizerConfig& config;
  NodeId lr;         // The learning rate, a runtime input.
  NodeId step;       // Steps taken before this one (f32 scalar state).
  NodeId next_step;  // step + 1.
  // Scalars an optimizer's `prepare` computes once for all parameters (Adam: lr / (1 - beta1^t)
  // and sqrt(1 - beta2^t)).
  NodeId shared[2] = {kNoNode, kNoNode};

  // The configured value of `key`, else the record's default.
  double Get(std::string_view key) const;
  bool Flag(std::string_view key) const { return Get(key) != 0.0; }
  // A zero-initialized state tensor shaped like `param`, named "<param>.<state>". `state` must
  // be one of the record's state names.
  NodeId State(NodeId param, std::string_view state, double initial_value = 0.0);
  // Writes `value` to `target` in place at the end of the step.
  void Assign(NodeId target, NodeId value);
};

// A hyperparameter combination the optimizer refuses, and the argument to point at.
struct HparamProblem {
  std::string_view key;  // An Hparam name, or "" for the call as a whole.
  std::string message;   // Without the optimizer's name: "nesterov momentum requires ...".
};

struct OptimizerDef {
  std::string_view name;     // torch.optim's class name in lower case: "adam".
  std::string_view summary;  // One line for the docs: what PyTorch calls it, what differs.
  std::span<const Hparam> hparams;  // In PyTorch's positional order.
  // Per-parameter state tensors, by torch's state key: "exp_avg". Some exist only with a flag
  // set (amsgrad's max_exp_avg_sq).
  std::span<const std::string_view> state;
  // Checks that involve several hyperparameters (ranges are checked from `hparams`); null: none.
  std::optional<HparamProblem> (*check)(const OptimizerDef& def,
                                       const OptimizerConfig& config) = nullptr;
  // Computes UpdateContext::shared once per step; null: nothing shared.
  void (*prepare)(UpdateContext& c) = nullptr;
  // Appends the in-place updates of one parameter and of its state.
  void (*update)(UpdateContext& c, NodeId param, NodeId grad) = nullptr;
};

// Every optimizer, in the order the docs list them.
std::span<const OptimizerDef> Optimizers();
const OptimizerDef* FindOptimizer(std::string_view name);
std::vector<std::string> OptimizerNames();

// The value `config` gives `key` (an Hparam key), else `def`'s default for it.
double HparamValue(const OptimizerDef& def, const OptimizerConfig& config, std::string_view key);

// The range and combination checks of `def` on `config`'s hyperparameters: the first problem,
// or nullopt. The frontend reports it at the argument's location.
std::optional<HparamProblem> CheckHparams(const OptimizerDef& def, const OptimizerConfig& config);

// The signature as docs/dsl.md shows it: "adam(lr=1e-3, betas=(0.9, 0.999), ...)".
std::string SignatureText(const OptimizerDef& def);

}  // namespace kiln::ir

#endif  // KILN_IR_OPTIMIZER_DEFS_H_
