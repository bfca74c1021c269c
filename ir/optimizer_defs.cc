// The optimizer records: PyTorch 1.13's single-tensor (foreach=False) update formulas from
// torch/optim/*.py, and torch.optim's argument names and defaults.
#include "ir/optimizer_defs.h"

#include <algorithm>
#include <cassert>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace kiln::ir {

double UpdateContext::Get(std::string_view key) const { return HparamValue(def, config, key); }

NodeId UpdateContext::State(NodeId param, std::string_view state, double initial_value) {
  assert(std::find(def.state.begin(), def.state.end(), state) != def.state.end() &&
         "an update rule made a state tensor its record does not list");
  const Node& p = b.graph().node(param);
  return b.State(absl::StrCat(p.name, ".", std::string(state)), p.type, initial_value);
}

void UpdateContext::Assign(NodeId target, NodeId value) {
  b.graph().updates.push_back({target, value});
}

namespace {

// g + weight_decay * p (L2 penalty folded into the gradient), or g when weight_decay is 0.
NodeId WithWeightDecay(UpdateContext& c, NodeId param, NodeId grad) {
  double weight_decay = c.Get("weight_decay");
  if (weight_decay == 0.0) return grad;
  return c.b.Add(grad, c.b.Mul(param, c.b.Scalar(weight_decay)));
}

// decay * state + (1 - decay) * value: PyTorch's state.mul_(decay).add_(value, alpha=1-decay).
NodeId Blend(GraphBuilder& b, NodeId state, double decay, NodeId value) {
  return b.Add(b.Mul(state, b.Scalar(decay)), b.Mul(value, b.Scalar(1.0 - decay)));
}

// --- SGD ---------------------------------------------------------------------------------

// torch.optim.SGD: g += wd*p; buf = g on the first step, else momentum*buf + (1-dampening)*g;
// g = g + momentum*buf (Nesterov) or buf; p -= lr*g.
void SgdUpdate(UpdateContext& c, NodeId param, NodeId grad) {
  GraphBuilder& b = c.b;
  double momentum = c.Get("momentum");
  double dampening = c.Get("dampening");
  NodeId g = WithWeightDecay(c, param, grad);
  if (momentum != 0.0) {
    NodeId buf = c.State(param, "momentum_buffer");
    NodeId first = b.Equal(c.step, b.Scalar(0.0));
    NodeId blended = b.Add(b.Mul(buf, b.Scalar(momentum)), b.Mul(g, b.Scalar(1.0 - dampening)));
    NodeId new_buf = b.Select(first, g, blended);
    c.Assign(buf, new_buf);
    g = c.Flag("nesterov") ? b.Add(g, b.Mul(new_buf, b.Scalar(momentum))) : new_buf;
  }
  c.Assign(param, b.Sub(param, b.Mul(g, c.lr)));
}

std::optional<HparamProblem> SgdCheck(const OptimizerDef& sgd, const OptimizerConfig& config) {
  if (HparamValue(sgd, config, "nesterov") == 0.0) return std::nullopt;
  if (HparamValue(sgd, config, "momentum") > 0 && HparamValue(sgd, config, "dampening") == 0) {
    return std::nullopt;
  }
  return HparamProblem{"nesterov", "nesterov momentum requires momentum > 0 and dampening = 0"};
}

// torch.optim.SGD(lr, momentum=0, dampening=0, weight_decay=0, nesterov=False).
constexpr Hparam kSgdHparams[] = {
    RequiredNumber("lr", HparamRange::kNonNegative), Number("momentum", 0),
    Number("dampening", 0, HparamRange::kAny), Number("weight_decay", 0), Flag("nesterov")};
constexpr std::string_view kSgdState[] = {"momentum_buffer"};

// --- RMSprop -----------------------------------------------------------------------------

// torch.optim.RMSprop: g += wd*p; sq = alpha*sq + (1-alpha)*g^2;
// avg = sqrt(sq - ga^2) with ga = alpha*ga + (1-alpha)*g (centered) or sqrt(sq); avg += eps;
// buf = momentum*buf + g/avg, p -= lr*buf (momentum > 0) or p -= lr*g/avg.
void RmspropUpdate(UpdateContext& c, NodeId param, NodeId grad) {
  GraphBuilder& b = c.b;
  double alpha = c.Get("alpha"), eps = c.Get("eps");
  double momentum = c.Get("momentum");
  NodeId g = WithWeightDecay(c, param, grad);
  NodeId square_avg = c.State(param, "square_avg");
  NodeId new_square_avg = Blend(b, square_avg, alpha, b.Mul(g, g));
  c.Assign(square_avg, new_square_avg);
  NodeId variance = new_square_avg;
  if (c.Flag("centered")) {
    NodeId grad_avg = c.State(param, "grad_avg");
    NodeId new_grad_avg = Blend(b, grad_avg, alpha, g);
    c.Assign(grad_avg, new_grad_avg);
    variance = b.Sub(new_square_avg, b.Mul(new_grad_avg, new_grad_avg));
  }
  NodeId avg = b.Add(b.Sqrt(variance), b.Scalar(eps));
  NodeId direction = b.Div(g, avg);
  if (momentum > 0.0) {
    NodeId buf = c.State(param, "momentum_buffer");
    direction = b.Add(b.Mul(buf, b.Scalar(momentum)), direction);
    c.Assign(buf, direction);
  }
  c.Assign(param, b.Sub(param, b.Mul(direction, c.lr)));
}

// torch.optim.RMSprop(lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False).
constexpr Hparam kRmspropHparams[] = {Number("lr", 1e-2),          Number("alpha", 0.99),
                                      Number("eps", 1e-8),         Number("weight_decay", 0),
                                      Number("momentum", 0),       Flag("centered")};
constexpr std::string_view kRmspropState[] = {"square_avg", "grad_avg", "momentum_buffer"};

// --- Adam and AdamW ----------------------------------------------------------------------

// 1 - beta^t for Adam's bias corrections, accurate in float32. The direct form cancels: with
// beta2 = 0.999 rounded to float32, 1 - beta2^1 is 0.0009999871, 1.3e-5 off, which made every
// early Adam step 6.4e-6 too large relative to PyTorch (which computes it in double). Instead,
// 1 - beta^t = -expm1(t ln beta), with expm1 evaluated by Kahan's cancellation-free formula
//   expm1(y) = y                          if u = exp(y) rounds to 1,
//              (u - 1) * y / log(u)       otherwise
// whose rounding errors in u - 1 and log(u) cancel (Higham, Accuracy and Stability of Numerical
// Algorithms, 2nd ed., section 1.14.1). ln(beta) is a compile-time constant taken in double;
// y is clamped at -30 (where 1 - e^y is 1 in float32) so exp(y) never underflows to 0.
NodeId OneMinusPow(GraphBuilder& b, double beta, NodeId t) {
  if (beta == 0.0) return b.Scalar(1.0);  // t >= 1; log(0) would make the formula NaN.
  NodeId y = b.Maximum(b.Mul(t, b.Scalar(std::log(beta))), b.Scalar(-30.0));
  NodeId u = b.Exp(y);
  NodeId expm1 = b.Select(b.Equal(u, b.Scalar(1.0)), y,
                          b.Div(b.Mul(b.Sub(u, b.Scalar(1.0)), y), b.Log(u)));
  return b.Neg(expm1);
}

enum { kAdamStepSize, kAdamSqrtBiasCorrection2 };

void PrepareAdam(UpdateContext& c) {
  c.shared[kAdamStepSize] = c.b.Div(c.lr, OneMinusPow(c.b, c.Get("beta1"), c.next_step));
  c.shared[kAdamSqrtBiasCorrection2] = c.b.Sqrt(OneMinusPow(c.b, c.Get("beta2"), c.next_step));
}

// torch.optim.Adam and AdamW: Adam folds weight decay into the gradient (g += wd*p), AdamW
// decays the parameter first (p *= 1 - lr*wd). Then m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g^2;
// v_hat = max(v_hat, v) (amsgrad) or v;
// p -= (lr / (1-b1^t)) * m / (sqrt(v_hat) / sqrt(1-b2^t) + eps).
void AdamUpdate(UpdateContext& c, NodeId param, NodeId grad, bool decoupled) {
  GraphBuilder& b = c.b;
  double beta1 = c.Get("beta1"), beta2 = c.Get("beta2"), eps = c.Get("eps");
  double weight_decay = c.Get("weight_decay");
  NodeId p = param;
  NodeId g = grad;
  if (decoupled && weight_decay != 0.0) {
    p = b.Mul(param, b.Sub(b.Scalar(1.0), b.Mul(c.lr, b.Scalar(weight_decay))));
  } else {
    g = WithWeightDecay(c, param, grad);
  }
  NodeId m = c.State(param, "exp_avg");
  NodeId v = c.State(param, "exp_avg_sq");
  NodeId new_m = Blend(b, m, beta1, g);
  NodeId new_v = Blend(b, v, beta2, b.Mul(g, g));
  c.Assign(m, new_m);
  c.Assign(v, new_v);
  NodeId v_hat = new_v;
  if (c.Flag("amsgrad")) {
    NodeId max_v = c.State(param, "max_exp_avg_sq");
    v_hat = b.Maximum(max_v, new_v);
    c.Assign(max_v, v_hat);
  }
  NodeId denom = b.Add(b.Div(b.Sqrt(v_hat), c.shared[kAdamSqrtBiasCorrection2]), b.Scalar(eps));
  c.Assign(param, b.Sub(p, b.Mul(c.shared[kAdamStepSize], b.Div(new_m, denom))));
}

void AdamL2Update(UpdateContext& c, NodeId param, NodeId grad) {
  AdamUpdate(c, param, grad, /*decoupled=*/false);
}
void AdamWUpdate(UpdateContext& c, NodeId param, NodeId grad) {
  AdamUpdate(c, param, grad, /*decoupled=*/true);
}

// torch.optim.Adam(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False); AdamW
// is the same with weight_decay=1e-2. amsgrad is recorded only when set.
constexpr Hparam kAdamHparams[] = {
    Number("lr", 1e-3), Pair("betas", "beta1", 0.9, "beta2", 0.999, HparamRange::kUnitOpen),
    Number("eps", 1e-8), Number("weight_decay", 0), Flag("amsgrad", /*omit_when_off=*/true)};
constexpr Hparam kAdamWHparams[] = {
    Number("lr", 1e-3), Pair("betas", "beta1", 0.9, "beta2", 0.999, HparamRange::kUnitOpen),
    Number("eps", 1e-8), Number("weight_decay", 1e-2), Flag("amsgrad", /*omit_when_off=*/true)};
constexpr std::string_view kAdamState[] = {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"};

// --- Adagrad -----------------------------------------------------------------------------

// torch.optim.Adagrad: g += wd*p; clr = lr / (1 + (t-1)*lr_decay); sum += g^2;
// p -= clr * g / (sqrt(sum) + eps). `sum` starts at initial_accumulator_value.
void AdagradUpdate(UpdateContext& c, NodeId param, NodeId grad) {
  GraphBuilder& b = c.b;
  double lr_decay = c.Get("lr_decay"), eps = c.Get("eps");
  NodeId g = WithWeightDecay(c, param, grad);
  NodeId clr = c.lr;
  if (lr_decay != 0.0) {
    clr = b.Div(c.lr, b.Add(b.Scalar(1.0), b.Mul(c.step, b.Scalar(lr_decay))));
  }
  NodeId sum = c.State(param, "sum", c.Get("initial_accumulator_value"));
  NodeId new_sum = b.Add(sum, b.Mul(g, g));
  c.Assign(sum, new_sum);
  NodeId std = b.Add(b.Sqrt(new_sum), b.Scalar(eps));
  c.Assign(param, b.Sub(param, b.Mul(clr, b.Div(g, std))));
}

// torch.optim.Adagrad(lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0,
// eps=1e-10).
constexpr Hparam kAdagradHparams[] = {Number("lr", 1e-2), Number("lr_decay", 0),
                                      Number("weight_decay", 0),
                                      Number("initial_accumulator_value", 0),
                                      Number("eps", 1e-10)};
constexpr std::string_view kAdagradState[] = {"sum"};

// --- Adadelta ----------------------------------------------------------------------------

// torch.optim.Adadelta: g += wd*p; sq = rho*sq + (1-rho)*g^2;
// delta = sqrt(acc + eps) / sqrt(sq + eps) * g; acc = rho*acc + (1-rho)*delta^2; p -= lr*delta.
void AdadeltaUpdate(UpdateContext& c, NodeId param, NodeId grad) {
  GraphBuilder& b = c.b;
  double rho = c.Get("rho"), eps = c.Get("eps");
  NodeId g = WithWeightDecay(c, param, grad);
  NodeId square_avg = c.State(param, "square_avg");
  NodeId acc_delta = c.State(param, "acc_delta");
  NodeId new_square_avg = Blend(b, square_avg, rho, b.Mul(g, g));
  NodeId std = b.Sqrt(b.Add(new_square_avg, b.Scalar(eps)));
  NodeId delta = b.Mul(b.Div(b.Sqrt(b.Add(acc_delta, b.Scalar(eps))), std), g);
  c.Assign(square_avg, new_square_avg);
  c.Assign(acc_delta, Blend(b, acc_delta, rho, b.Mul(delta, delta)));
  c.Assign(param, b.Sub(param, b.Mul(delta, c.lr)));
}

// torch.optim.Adadelta(lr=1.0, rho=0.9, eps=1e-6, weight_decay=0).
constexpr Hparam kAdadeltaHparams[] = {Number("lr", 1.0), Number("rho", 0.9, HparamRange::kUnit),
                                       Number("eps", 1e-6), Number("weight_decay", 0)};
constexpr std::string_view kAdadeltaState[] = {"square_avg", "acc_delta"};

// --- The table ---------------------------------------------------------------------------

constexpr OptimizerDef kOptimizers[] = {
    {.name = "sgd",
     .summary = "`torch.optim.SGD`; `lr` is required; `nesterov` needs `momentum > 0` and "
                "`dampening = 0`",
     .hparams = kSgdHparams,
     .state = kSgdState,
     .check = SgdCheck,
     .update = SgdUpdate},
    {.name = "rmsprop",
     .summary = "`torch.optim.RMSprop`",
     .hparams = kRmspropHparams,
     .state = kRmspropState,
     .update = RmspropUpdate},
    {.name = "adam",
     .summary = "`torch.optim.Adam` (L2 weight decay folded into the gradient)",
     .hparams = kAdamHparams,
     .state = kAdamState,
     .prepare = PrepareAdam,
     .update = AdamL2Update},
    {.name = "adamw",
     .summary = "`torch.optim.AdamW` (decoupled decay: `p *= 1 - lr*weight_decay` first)",
     .hparams = kAdamWHparams,
     .state = kAdamState,
     .prepare = PrepareAdam,
     .update = AdamWUpdate},
    {.name = "adagrad",
     .summary = "`torch.optim.Adagrad`",
     .hparams = kAdagradHparams,
     .state = kAdagradState,
     .update = AdagradUpdate},
    {.name = "adadelta",
     .summary = "`torch.optim.Adadelta`",
     .hparams = kAdadeltaHparams,
     .state = kAdadeltaState,
     .update = AdadeltaUpdate},
};

// A record without an update rule, or a hyperparameter without a key, cannot compile.
constexpr bool EveryRecordIsComplete() {
  for (const OptimizerDef& def : kOptimizers) {
    if (def.name.empty() || def.summary.empty() || def.update == nullptr) return false;
    for (const Hparam& h : def.hparams) {
      if (h.keys[0].empty()) return false;
      if ((h.type == HparamType::kPair) == h.keys[1].empty()) return false;
    }
  }
  return true;
}
static_assert(EveryRecordIsComplete(), "every optimizer needs a summary, an update and keys");

std::string_view RangeText(HparamRange range) {
  switch (range) {
    case HparamRange::kAny: return "any number";
    case HparamRange::kNonNegative: return ">= 0";
    case HparamRange::kUnit: return "in [0, 1]";
    case HparamRange::kUnitOpen: return "in [0, 1)";
  }
  return "";
}

bool InRange(double value, HparamRange range) {
  switch (range) {
    case HparamRange::kAny: return true;
    case HparamRange::kNonNegative: return value >= 0;
    case HparamRange::kUnit: return value >= 0 && value <= 1;
    case HparamRange::kUnitOpen: return value >= 0 && value < 1;
  }
  return false;
}

// A default as the docs write it: 0, 0.9, 1e-3 (not 0.001), 1e-10.
std::string DefaultText(double value) {
  if (value == std::floor(value)) return absl::StrFormat("%.0f", value);
  for (int exponent = 1; exponent <= 12 && value < 0.1; ++exponent) {
    const double mantissa = value * std::pow(10.0, exponent);
    if (std::abs(mantissa - std::round(mantissa)) < 1e-9 && mantissa >= 1 && mantissa < 10) {
      return absl::StrFormat("%.0fe-%d", mantissa, exponent);
    }
  }
  return absl::StrFormat("%g", value);
}

}  // namespace

std::span<const OptimizerDef> Optimizers() { return kOptimizers; }

const OptimizerDef* FindOptimizer(std::string_view name) {
  for (const OptimizerDef& def : kOptimizers) {
    if (def.name == name) return &def;
  }
  return nullptr;
}

std::vector<std::string> OptimizerNames() {
  std::vector<std::string> names;
  for (const OptimizerDef& def : kOptimizers) names.emplace_back(def.name);
  return names;
}

double HparamValue(const OptimizerDef& def, const OptimizerConfig& config, std::string_view key) {
  if (auto it = config.hparams.find(std::string(key)); it != config.hparams.end()) {
    return it->second;
  }
  for (const Hparam& h : def.hparams) {
    for (int i = 0; i < 2; ++i) {
      if (h.keys[i] == key) return h.defaults[i];
    }
  }
  assert(false && "an update rule read a hyperparameter its record does not declare");
  return 0.0;
}

std::optional<HparamProblem> CheckHparams(const OptimizerDef& def, const OptimizerConfig& config) {
  for (const Hparam& h : def.hparams) {
    for (std::string_view key : h.keys) {
      if (key.empty()) continue;
      const double value = HparamValue(def, config, key);
      if (InRange(value, h.range)) continue;
      return HparamProblem{h.name, absl::StrCat(std::string(h.name), " must be ",
                                                std::string(RangeText(h.range)),
                                                ", got ", value)};
    }
  }
  if (def.check != nullptr) return def.check(def, config);
  return std::nullopt;
}

std::string SignatureText(const OptimizerDef& def) {
  std::string text = absl::StrCat(std::string(def.name), "(");
  for (const Hparam& h : def.hparams) {
    if (&h != &def.hparams.front()) absl::StrAppend(&text, ", ");
    absl::StrAppend(&text, std::string(h.name));
    if (h.required) continue;
    switch (h.type) {
      case HparamType::kNumber:
        absl::StrAppend(&text, "=", DefaultText(h.defaults[0]));
        break;
      case HparamType::kFlag:
        absl::StrAppend(&text, "=false");
        break;
      case HparamType::kPair:
        absl::StrAppend(&text, "=(", DefaultText(h.defaults[0]), ", ",
                        DefaultText(h.defaults[1]), ")");
        break;
    }
  }
  return absl::StrCat(text, ")");
}

}  // namespace kiln::ir
