#include "passes/optimizers.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "ir/graph_builder.h"
#include "support/source_location.h"

namespace kiln::passes {
namespace {

using ir::GraphBuilder;
using ir::NodeId;

struct UpdateContext {
  GraphBuilder& b;
  const ir::OptimizerConfig& config;
  NodeId lr;
  NodeId step;       // Steps taken before this one (f32 scalar state).
  NodeId next_step;  // step + 1.
  // Adam and AdamW: lr / (1 - beta1^t) and sqrt(1 - beta2^t), shared by every parameter.
  NodeId step_size = ir::kNoNode;
  NodeId sqrt_bias_correction2 = ir::kNoNode;

  double Get(const char* key, double fallback) const { return config.Get(key, fallback); }
  bool Flag(const char* key) const { return config.Get(key, 0.0) != 0.0; }
};

NodeId StateLike(GraphBuilder& b, NodeId param, const std::string& suffix,
                 double initial_value = 0.0) {
  const ir::Node& p = b.graph().node(param);
  return b.State(absl::StrCat(p.name, ".", suffix), p.type, initial_value);
}

void Assign(GraphBuilder& b, NodeId target, NodeId value) {
  b.graph().updates.push_back({target, value});
}

// g + weight_decay * p (L2 penalty folded into the gradient), or g when weight_decay is 0.
NodeId WithWeightDecay(UpdateContext& c, NodeId param, NodeId grad) {
  double weight_decay = c.Get("weight_decay", 0.0);
  if (weight_decay == 0.0) return grad;
  return c.b.Add(grad, c.b.Mul(param, c.b.Scalar(weight_decay)));
}

// decay * state + (1 - decay) * value: PyTorch's state.mul_(decay).add_(value, alpha=1-decay).
NodeId Blend(GraphBuilder& b, NodeId state, double decay, NodeId value) {
  return b.Add(b.Mul(state, b.Scalar(decay)), b.Mul(value, b.Scalar(1.0 - decay)));
}

// torch.optim.SGD: g += wd*p; buf = g on the first step, else momentum*buf + (1-dampening)*g;
// g = g + momentum*buf (Nesterov) or buf; p -= lr*g.
void SgdUpdate(UpdateContext& c, NodeId param, NodeId grad) {
  GraphBuilder& b = c.b;
  double momentum = c.Get("momentum", 0.0);
  double dampening = c.Get("dampening", 0.0);
  NodeId g = WithWeightDecay(c, param, grad);
  if (momentum != 0.0) {
    NodeId buf = StateLike(b, param, "momentum_buffer");
    NodeId first = b.Equal(c.step, b.Scalar(0.0));
    NodeId blended = b.Add(b.Mul(buf, b.Scalar(momentum)), b.Mul(g, b.Scalar(1.0 - dampening)));
    NodeId new_buf = b.Select(first, g, blended);
    Assign(b, buf, new_buf);
    g = c.Flag("nesterov") ? b.Add(g, b.Mul(new_buf, b.Scalar(momentum))) : new_buf;
  }
  Assign(b, param, b.Sub(param, b.Mul(g, c.lr)));
}

// torch.optim.RMSprop: g += wd*p; sq = alpha*sq + (1-alpha)*g^2;
// avg = sqrt(sq - ga^2) with ga = alpha*ga + (1-alpha)*g (centered) or sqrt(sq); avg += eps;
// buf = momentum*buf + g/avg, p -= lr*buf (momentum > 0) or p -= lr*g/avg.
void RmspropUpdate(UpdateContext& c, NodeId param, NodeId grad) {
  GraphBuilder& b = c.b;
  double alpha = c.Get("alpha", 0.99), eps = c.Get("eps", 1e-8);
  double momentum = c.Get("momentum", 0.0);
  NodeId g = WithWeightDecay(c, param, grad);
  NodeId square_avg = StateLike(b, param, "square_avg");
  NodeId new_square_avg = Blend(b, square_avg, alpha, b.Mul(g, g));
  Assign(b, square_avg, new_square_avg);
  NodeId variance = new_square_avg;
  if (c.Flag("centered")) {
    NodeId grad_avg = StateLike(b, param, "grad_avg");
    NodeId new_grad_avg = Blend(b, grad_avg, alpha, g);
    Assign(b, grad_avg, new_grad_avg);
    variance = b.Sub(new_square_avg, b.Mul(new_grad_avg, new_grad_avg));
  }
  NodeId avg = b.Add(b.Sqrt(variance), b.Scalar(eps));
  NodeId direction = b.Div(g, avg);
  if (momentum > 0.0) {
    NodeId buf = StateLike(b, param, "momentum_buffer");
    direction = b.Add(b.Mul(buf, b.Scalar(momentum)), direction);
    Assign(b, buf, direction);
  }
  Assign(b, param, b.Sub(param, b.Mul(direction, c.lr)));
}

// torch.optim.Adam and AdamW: Adam folds weight decay into the gradient (g += wd*p), AdamW
// decays the parameter first (p *= 1 - lr*wd). Then m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g^2;
// v_hat = max(v_hat, v) (amsgrad) or v; p -= (lr / (1-b1^t)) * m / (sqrt(v_hat) / sqrt(1-b2^t) + eps).
void AdamUpdate(UpdateContext& c, NodeId param, NodeId grad) {
  GraphBuilder& b = c.b;
  bool decoupled = c.config.kind == "adamw";
  double beta1 = c.Get("beta1", 0.9), beta2 = c.Get("beta2", 0.999), eps = c.Get("eps", 1e-8);
  double weight_decay = c.Get("weight_decay", decoupled ? 0.01 : 0.0);
  NodeId p = param;
  NodeId g = grad;
  if (decoupled && weight_decay != 0.0) {
    p = b.Mul(param, b.Sub(b.Scalar(1.0), b.Mul(c.lr, b.Scalar(weight_decay))));
  } else {
    g = WithWeightDecay(c, param, grad);
  }
  NodeId m = StateLike(b, param, "exp_avg");
  NodeId v = StateLike(b, param, "exp_avg_sq");
  NodeId new_m = Blend(b, m, beta1, g);
  NodeId new_v = Blend(b, v, beta2, b.Mul(g, g));
  Assign(b, m, new_m);
  Assign(b, v, new_v);
  NodeId v_hat = new_v;
  if (c.Flag("amsgrad")) {
    NodeId max_v = StateLike(b, param, "max_exp_avg_sq");
    v_hat = b.Maximum(max_v, new_v);
    Assign(b, max_v, v_hat);
  }
  NodeId denom = b.Add(b.Div(b.Sqrt(v_hat), c.sqrt_bias_correction2), b.Scalar(eps));
  Assign(b, param, b.Sub(p, b.Mul(c.step_size, b.Div(new_m, denom))));
}

// torch.optim.Adagrad: g += wd*p; clr = lr / (1 + (t-1)*lr_decay); sum += g^2;
// p -= clr * g / (sqrt(sum) + eps). `sum` starts at initial_accumulator_value.
void AdagradUpdate(UpdateContext& c, NodeId param, NodeId grad) {
  GraphBuilder& b = c.b;
  double lr_decay = c.Get("lr_decay", 0.0), eps = c.Get("eps", 1e-10);
  NodeId g = WithWeightDecay(c, param, grad);
  NodeId clr = c.lr;
  if (lr_decay != 0.0) {
    clr = b.Div(c.lr, b.Add(b.Scalar(1.0), b.Mul(c.step, b.Scalar(lr_decay))));
  }
  NodeId sum = StateLike(b, param, "sum", c.Get("initial_accumulator_value", 0.0));
  NodeId new_sum = b.Add(sum, b.Mul(g, g));
  Assign(b, sum, new_sum);
  NodeId std = b.Add(b.Sqrt(new_sum), b.Scalar(eps));
  Assign(b, param, b.Sub(param, b.Mul(clr, b.Div(g, std))));
}

// torch.optim.Adadelta: g += wd*p; sq = rho*sq + (1-rho)*g^2;
// delta = sqrt(acc + eps) / sqrt(sq + eps) * g; acc = rho*acc + (1-rho)*delta^2; p -= lr*delta.
void AdadeltaUpdate(UpdateContext& c, NodeId param, NodeId grad) {
  GraphBuilder& b = c.b;
  double rho = c.Get("rho", 0.9), eps = c.Get("eps", 1e-6);
  NodeId g = WithWeightDecay(c, param, grad);
  NodeId square_avg = StateLike(b, param, "square_avg");
  NodeId acc_delta = StateLike(b, param, "acc_delta");
  NodeId new_square_avg = Blend(b, square_avg, rho, b.Mul(g, g));
  NodeId std = b.Sqrt(b.Add(new_square_avg, b.Scalar(eps)));
  NodeId delta = b.Mul(b.Div(b.Sqrt(b.Add(acc_delta, b.Scalar(eps))), std), g);
  Assign(b, square_avg, new_square_avg);
  Assign(b, acc_delta, Blend(b, acc_delta, rho, b.Mul(delta, delta)));
  Assign(b, param, b.Sub(param, b.Mul(delta, c.lr)));
}

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

void PrepareAdam(UpdateContext& c) {
  c.step_size = c.b.Div(c.lr, OneMinusPow(c.b, c.Get("beta1", 0.9), c.next_step));
  c.sqrt_bias_correction2 = c.b.Sqrt(OneMinusPow(c.b, c.Get("beta2", 0.999), c.next_step));
}

// One row per optimizer: the scalars its updates share (optional) and the per-parameter rule.
struct OptimizerRule {
  const char* kind;
  void (*prepare)(UpdateContext&);
  void (*update)(UpdateContext&, NodeId param, NodeId grad);
};

constexpr OptimizerRule kRules[] = {
    {"sgd", nullptr, SgdUpdate},         {"rmsprop", nullptr, RmspropUpdate},
    {"adam", PrepareAdam, AdamUpdate},   {"adamw", PrepareAdam, AdamUpdate},
    {"adagrad", nullptr, AdagradUpdate}, {"adadelta", nullptr, AdadeltaUpdate},
};

const OptimizerRule* FindRule(const std::string& kind) {
  for (const OptimizerRule& rule : kRules) {
    if (rule.kind == kind) return &rule;
  }
  return nullptr;
}

// -max(-x, -y).
NodeId Minimum(GraphBuilder& b, NodeId x, NodeId y) {
  return b.Neg(b.Maximum(b.Neg(x), b.Neg(y)));
}

std::vector<int64_t> AllDims(GraphBuilder& b, NodeId x) {
  std::vector<int64_t> dims(b.graph().node(x).type.rank());
  for (size_t d = 0; d < dims.size(); ++d) dims[d] = static_cast<int64_t>(d);
  return dims;
}

}  // namespace

const std::vector<std::string>& OptimizerKinds() {
  static const auto* kinds = [] {
    auto* names = new std::vector<std::string>;
    for (const OptimizerRule& rule : kRules) names->push_back(rule.kind);
    return names;
  }();
  return *kinds;
}

absl::Status AppendOptimizerUpdates(ir::Graph& graph, const ir::OptimizerConfig& config,
                                    const std::vector<ir::NodeId>& params,
                                    const std::vector<ir::NodeId>& grads) {
  const OptimizerRule* rule = FindRule(config.kind);
  if (rule == nullptr) {
    return ErrorAt(config.loc, absl::StrCat("unknown optimizer '", config.kind, "'",
                                            DidYouMean(config.kind, OptimizerKinds())));
  }
  GraphBuilder b(graph);
  b.set_loc(config.loc);
  NodeId lr = b.Input(kLearningRateInput, ir::TensorType{ir::DType::kF32, {}});
  NodeId step = b.State(absl::StrCat(config.kind, ".step"), ir::TensorType{ir::DType::kF32, {}});
  NodeId next_step = b.Add(step, b.Scalar(1.0));
  Assign(b, step, next_step);
  UpdateContext context{b, config, lr, step, next_step};
  if (rule->prepare != nullptr) rule->prepare(context);
  for (size_t i = 0; i < params.size(); ++i) rule->update(context, params[i], grads[i]);
  return b.status();
}

absl::StatusOr<std::vector<ir::NodeId>> ClipGradients(ir::Graph& graph,
                                                      const ir::TrainConfig& train,
                                                      const std::vector<ir::NodeId>& grads) {
  GraphBuilder b(graph);
  b.set_loc(train.clip_loc);
  std::vector<NodeId> clipped = grads;
  // clip_grad_value_: clamp(g, -value, value).
  if (double value = train.clip_grad_value; value > 0.0) {
    for (NodeId& g : clipped) {
      g = Minimum(b, b.Maximum(g, b.Scalar(-value)), b.Scalar(value));
    }
  }
  // clip_grad_norm_: g *= min(max_norm / (||all gradients||_2 + 1e-6), 1).
  if (double max_norm = train.clip_grad_norm; max_norm > 0.0 && !clipped.empty()) {
    NodeId sum_of_squares = ir::kNoNode;
    for (NodeId g : clipped) {
      NodeId square = b.ReduceSum(b.Mul(g, g), AllDims(b, g));
      sum_of_squares = sum_of_squares == ir::kNoNode ? square : b.Add(sum_of_squares, square);
    }
    NodeId total_norm = b.Sqrt(sum_of_squares);
    NodeId coefficient = b.Div(b.Scalar(max_norm), b.Add(total_norm, b.Scalar(1e-6)));
    coefficient = Minimum(b, coefficient, b.Scalar(1.0));
    for (NodeId& g : clipped) g = b.Mul(g, coefficient);
  }
  if (!b.status().ok()) return b.status();
  return clipped;
}

}  // namespace kiln::passes
