// Elementwise arithmetic, activations, comparisons and casts. Binary ops broadcast like NumPy;
// their gradients sum back over the broadcast dims (GraphBuilder::SumToShape).
#include <numbers>
#include <optional>

#include "absl/status/status.h"
#include "ir/graph_builder.h"
#include "ir/op_registry.h"
#include "ir/ops/op_helpers.h"

namespace kiln::ir {
namespace {

using Grads = std::vector<std::optional<NodeId>>;
using kernel::ScalarBuilder;
using kernel::Value;

absl::StatusOr<TensorType> SameFloatType(std::span<const TensorType> operands, const Attrs&) {
  if (auto s = RequireFloat(operands[0], "the operand"); !s.ok()) return s;
  return operands[0];
}

absl::StatusOr<TensorType> BroadcastFloat(std::span<const TensorType> operands, const Attrs&) {
  for (const TensorType& t : operands) {
    if (auto s = RequireFloat(t, "operands"); !s.ok()) return s;
  }
  return BroadcastOperands(operands);
}

// Comparisons accept f32 or i64 operands (labels vs. predictions) and produce an f32 0/1 mask,
// so they compose with arithmetic without a separate bool dtype.
absl::StatusOr<TensorType> CompareType(std::span<const TensorType> operands, const Attrs&) {
  return BroadcastOperands(operands, DType::kF32);
}

OpDef Unary(std::string name, std::string summary, Value (ScalarBuilder::*fn)(Value),
            GradientFn gradient, bool cheap = false) {
  return OpDef{
      .name = std::move(name),
      .summary = std::move(summary),
      .num_operands = 1,
      .traits = kElementwise | (cheap ? kCheap : 0u),
      .infer_type = SameFloatType,
      .gradient = std::move(gradient),
      .emit_element = [fn](ScalarBuilder& b, const ElementInputs& in) {
        return (b.*fn)(in.operands[0]);
      },
  };
}

OpDef Binary(std::string name, std::string summary, Value (ScalarBuilder::*fn)(Value, Value),
             GradientFn gradient, bool cheap = true) {
  return OpDef{
      .name = std::move(name),
      .summary = std::move(summary),
      .num_operands = 2,
      .traits = kElementwise | (cheap ? kCheap : 0u),
      .infer_type = BroadcastFloat,
      .gradient = std::move(gradient),
      .emit_element = [fn](ScalarBuilder& b, const ElementInputs& in) {
        return (b.*fn)(in.operands[0], in.operands[1]);
      },
  };
}

// Phi(x), the standard normal CDF, from erfc(|x|/sqrt 2) by the Chebyshev fit of Numerical
// Recipes (erfcc: relative error below 1.2e-7 everywhere). Written with ScalarBuilder primitives
// so that the CPU, CUDA and constant-folding builders compute the same formula; building the CDF
// from erfc rather than 1 + erf keeps its left tail (and gelu's) accurate in f32.
Value NormalCdf(ScalarBuilder& b, Value x) {
  static constexpr double kCoefficients[] = {-1.26551223, 1.00002368,  0.37409196, 0.09678418,
                                             -0.18628806, 0.27886807,  -1.13520398, 1.48851587,
                                             -0.82215223, 0.17087277};
  Value z = b.Mul(b.Abs(x), b.ConstF32(1.0 / std::numbers::sqrt2));
  Value t = b.Div(b.ConstF32(1.0), b.Add(b.ConstF32(1.0), b.Mul(z, b.ConstF32(0.5))));
  // Horner's rule, highest coefficient first.
  Value poly = b.ConstF32(kCoefficients[9]);
  for (int i = 8; i >= 0; --i) poly = b.Add(b.Mul(poly, t), b.ConstF32(kCoefficients[i]));
  Value erfc = b.Mul(t, b.Exp(b.Sub(poly, b.Mul(z, z))));
  // Phi(x) = erfc(-x/sqrt 2) / 2: 1 - erfc(|z|)/2 for x >= 0, erfc(|z|)/2 below.
  Value half_tail = b.Mul(erfc, b.ConstF32(0.5));
  return b.Select(b.CmpGE(x, b.ConstF32(0.0)), b.Sub(b.ConstF32(1.0), half_tail), half_tail);
}

// phi(x) = exp(-x^2/2) / sqrt(2 pi), the standard normal density, as graph nodes.
NodeId NormalPdf(GraphBuilder& b, NodeId x) {
  NodeId square = b.Mul(x, x);
  NodeId half_square = b.Mul(square, b.Scalar(-0.5));
  return b.Mul(b.Exp(half_square), b.Scalar(std::numbers::inv_sqrtpi / std::numbers::sqrt2));
}

// 1.0 where lo <= x, and where x <= hi (bounds included), as graph nodes.
NodeId AtLeast(GraphBuilder& b, NodeId x, double lo) {
  return b.Op("greater_equal", {x, b.Scalar(lo)});
}
NodeId AtMost(GraphBuilder& b, NodeId x, double hi) {
  return b.Op("greater_equal", {b.Scalar(hi), x});
}

// A copy, not a reference: the node storage it would point into reallocates when the gradient
// expression it is an argument of adds nodes (argument evaluation order is unspecified), and
// GraphBuilder::SumToShape adds nodes before it reads its `shape` argument.
Shape ShapeOf(GradContext& g, int i) { return g.b.type(g.operand(i)).shape; }

void RegisterArithmetic(OpRegistry& r) {
  // d(a+b) = (g, g), each summed over the dims it was broadcast along.
  OpDef add = Binary("add", "a + b", &ScalarBuilder::Add, [](GradContext& g) -> Grads {
    return {g.b.SumToShape(g.output_grad, ShapeOf(g, 0)),
            g.b.SumToShape(g.output_grad, ShapeOf(g, 1))};
  });
  add.library_epilogue = LibraryEpilogue::kAdd;  // A bias add after a GEMM.
  r.Add(add);
  r.Add(Binary("sub", "a - b", &ScalarBuilder::Sub, [](GradContext& g) -> Grads {
    return {g.b.SumToShape(g.output_grad, ShapeOf(g, 0)),
            g.b.SumToShape(g.b.Neg(g.output_grad), ShapeOf(g, 1))};
  }));
  // d(a*b) = (g*b, g*a).
  OpDef mul = Binary("mul", "a * b", &ScalarBuilder::Mul, [](GradContext& g) -> Grads {
    return {g.b.SumToShape(g.b.Mul(g.output_grad, g.operand(1)), ShapeOf(g, 0)),
            g.b.SumToShape(g.b.Mul(g.output_grad, g.operand(0)), ShapeOf(g, 1))};
  });
  mul.linear_in = {0, 1};
  r.Add(mul);
  // d(a/b) = (g/b, -g*a/b^2).
  OpDef div = Binary("div", "a / b", &ScalarBuilder::Div, [](GradContext& g) -> Grads {
    NodeId a = g.operand(0), b = g.operand(1);
    NodeId ga = g.b.Div(g.output_grad, b);
    NodeId gb = g.b.Neg(g.b.Div(g.b.Mul(ga, a), b));
    return {g.b.SumToShape(ga, ShapeOf(g, 0)), g.b.SumToShape(gb, ShapeOf(g, 1))};
  }, /*cheap=*/false);
  div.linear_in = {0};
  r.Add(div);
  // Ties split the gradient evenly, as torch.maximum does. Written as "1 unless the other one
  // wins", so that with a NaN (the output is NaN) both operands get the gradient, as in PyTorch.
  r.Add(Binary("maximum", "max(a, b); NaN if either is NaN", &ScalarBuilder::Max,
               [](GradContext& g) -> Grads {
    NodeId a = g.operand(0), b = g.operand(1);
    NodeId half_tie = g.b.Mul(g.b.Equal(a, b), g.b.Scalar(0.5));
    NodeId one = g.b.Scalar(1.0);
    NodeId wa = g.b.Sub(g.b.Sub(one, g.b.Greater(b, a)), half_tie);
    NodeId wb = g.b.Sub(g.b.Sub(one, g.b.Greater(a, b)), half_tie);
    return {g.b.SumToShape(g.b.Mul(g.output_grad, wa), ShapeOf(g, 0)),
            g.b.SumToShape(g.b.Mul(g.output_grad, wb), ShapeOf(g, 1))};
  }));
  r.Add(Binary("minimum", "min(a, b); NaN if either is NaN", &ScalarBuilder::Min,
               [](GradContext& g) -> Grads {
    NodeId a = g.operand(0), b = g.operand(1);
    NodeId half_tie = g.b.Mul(g.b.Equal(a, b), g.b.Scalar(0.5));
    NodeId one = g.b.Scalar(1.0);
    NodeId wa = g.b.Sub(g.b.Sub(one, g.b.Greater(a, b)), half_tie);
    NodeId wb = g.b.Sub(g.b.Sub(one, g.b.Greater(b, a)), half_tie);
    return {g.b.SumToShape(g.b.Mul(g.output_grad, wa), ShapeOf(g, 0)),
            g.b.SumToShape(g.b.Mul(g.output_grad, wb), ShapeOf(g, 1))};
  }));
  // d(a^b) = (g*b*a^(b-1), g*log(a)*a^b).
  r.Add(Binary("pow", "a ^ b", &ScalarBuilder::Pow, [](GradContext& g) -> Grads {
    NodeId a = g.operand(0), b = g.operand(1);
    NodeId y = g.b.Pow(a, b);
    NodeId ga = g.b.Mul(g.output_grad, g.b.Mul(b, g.b.Pow(a, g.b.Sub(b, g.b.Scalar(1)))));
    NodeId gb = g.b.Mul(g.output_grad, g.b.Mul(g.b.Log(a), y));
    return {g.b.SumToShape(ga, ShapeOf(g, 0)), g.b.SumToShape(gb, ShapeOf(g, 1))};
  }, /*cheap=*/false));
}

void RegisterUnary(OpRegistry& r) {
  OpDef neg = Unary("neg", "-x", &ScalarBuilder::Neg,
                    [](GradContext& g) -> Grads { return {g.b.Neg(g.output_grad)}; },
                    /*cheap=*/true);
  neg.linear_in = {0};
  r.Add(neg);
  // d exp(x) = g * exp(x); the forward value is recomputed (CSE merges it with the forward).
  r.Add(Unary("exp", "e^x", &ScalarBuilder::Exp, [](GradContext& g) -> Grads {
    return {g.b.Mul(g.output_grad, g.b.Exp(g.operand(0)))};
  }));
  r.Add(Unary("log", "natural log", &ScalarBuilder::Log, [](GradContext& g) -> Grads {
    return {g.b.Div(g.output_grad, g.operand(0))};
  }));
  // d sqrt(x) = g / (2 sqrt(x)).
  r.Add(Unary("sqrt", "square root", &ScalarBuilder::Sqrt, [](GradContext& g) -> Grads {
    return {g.b.Div(g.output_grad, g.b.Mul(g.b.Sqrt(g.operand(0)), g.b.Scalar(2)))};
  }));
  // d relu/dx is 0 at x == 0, matching PyTorch. The mask reads the output (y > 0 iff x > 0) so
  // the backward pass keeps only y alive and the pre-activation stays inside the GEMM epilogue.
  // relu(NaN) = NaN, and the gradient passes where y is NaN, as torch's threshold_backward
  // (zero where y <= 0) does.
  r.Add(OpDef{
      .name = "relu",
      .summary = "max(x, 0); relu(NaN) = NaN",
      .num_operands = 1,
      .traits = kElementwise | kCheap,
      .infer_type = SameFloatType,
      .gradient = [](GradContext& g) -> Grads {
        NodeId y = g.node.id;
        return {g.b.Select(AtMost(g.b, y, 0.0), g.b.Scalar(0), g.output_grad)};
      },
      .emit_element = [](ScalarBuilder& b, const ElementInputs& in) {
        return b.Max(in.operands[0], b.ConstF32(0.0));
      },
      .library_epilogue = LibraryEpilogue::kRelu,
  });
  r.Add(OpDef{
      .name = "stop_gradient",
      .summary = "Identity whose gradient is zero (e.g. the max subtracted inside log_softmax).",
      .num_operands = 1,
      .traits = kElementwise | kNoGradient | kCheap,
      .infer_type = SameFloatType,
      .emit_element = [](ScalarBuilder&, const ElementInputs& in) { return in.operands[0]; },
  });
}

absl::StatusOr<TensorType> ClampType(std::span<const TensorType> operands, const Attrs& attrs) {
  if (!attrs.Has("min") && !attrs.Has("max")) {
    return absl::InvalidArgumentError("clamp needs at least one of min and max");
  }
  return SameFloatType(operands, attrs);
}

// Pointwise activations. The gradients of sigmoid and tanh read the output, as PyTorch's do.
void RegisterActivations(OpRegistry& r) {
  // d|x| = g * sign(x), with sign(0) = 0 as in PyTorch.
  r.Add(Unary("abs", "|x|", &ScalarBuilder::Abs, [](GradContext& g) -> Grads {
    NodeId x = g.operand(0);
    NodeId positive = g.b.Greater(x, g.b.Scalar(0));
    NodeId negative = g.b.Greater(g.b.Scalar(0), x);
    return {g.b.Mul(g.output_grad, g.b.Sub(positive, negative))};
  }, /*cheap=*/true));
  // clamp(x) = min(max(x, min), max), like torch.clamp (so max wins when min > max). The gradient
  // passes where min <= x <= max, bounds included, as in PyTorch.
  r.Add(OpDef{
      .name = "clamp",
      .summary = "min(max(x, `min`), `max`); either bound may be left out.",
      .num_operands = 1,
      .traits = kElementwise | kCheap,
      .infer_type = ClampType,
      .gradient = [](GradContext& g) -> Grads {
        NodeId x = g.operand(0);
        NodeId grad = g.output_grad;
        const Attrs& attrs = g.node.attrs;
        // Read the bounds before adding nodes: `g.node` lives in the graph's node storage.
        std::optional<double> lo, hi;
        if (attrs.Has("min")) lo = attrs.GetFloat("min");
        if (attrs.Has("max")) hi = attrs.GetFloat("max");
        if (lo) grad = g.b.Mul(grad, AtLeast(g.b, x, *lo));
        if (hi) grad = g.b.Mul(grad, AtMost(g.b, x, *hi));
        return {grad};
      },
      .emit_element = [](ScalarBuilder& b, const ElementInputs& in) {
        Value x = in.operands[0];
        const Attrs& attrs = in.node.attrs;
        if (attrs.Has("min")) x = b.Max(x, b.ConstF32(attrs.GetFloat("min")));
        if (attrs.Has("max")) x = b.Min(x, b.ConstF32(attrs.GetFloat("max")));
        return x;
      },
  });
  // leaky_relu(x) = x where x > 0 else slope * x; at 0 the gradient is the slope, as in PyTorch.
  r.Add(OpDef{
      .name = "leaky_relu",
      .summary = "x where x > 0 else `negative_slope` * x (default 0.01).",
      .num_operands = 1,
      .traits = kElementwise | kCheap,
      .infer_type = SameFloatType,
      .gradient = [](GradContext& g) -> Grads {
        double slope = g.node.attrs.GetFloat("negative_slope", 0.01);
        NodeId x = g.operand(0);
        NodeId grad = g.output_grad;
        NodeId positive = g.b.Greater(x, g.b.Scalar(0));
        NodeId scaled = g.b.Mul(grad, g.b.Scalar(slope));
        return {g.b.Select(positive, grad, scaled)};
      },
      .emit_element = [](ScalarBuilder& b, const ElementInputs& in) {
        Value x = in.operands[0];
        Value slope = b.ConstF32(in.node.attrs.GetFloat("negative_slope", 0.01));
        return b.Select(b.CmpGT(x, b.ConstF32(0.0)), x, b.Mul(x, slope));
      },
  });
  // sigmoid(x) = 1 / (1 + e^-x): e^-x overflows to inf for very negative x, giving exactly 0.
  // d sigmoid = g * y * (1 - y).
  r.Add(OpDef{
      .name = "sigmoid",
      .summary = "1 / (1 + exp(-x))",
      .num_operands = 1,
      .traits = kElementwise,
      .infer_type = SameFloatType,
      .gradient = [](GradContext& g) -> Grads {
        NodeId y = g.node.id;
        NodeId slope = g.b.Mul(y, g.b.Sub(g.b.Scalar(1), y));
        return {g.b.Mul(g.output_grad, slope)};
      },
      .emit_element = [](ScalarBuilder& b, const ElementInputs& in) {
        Value e = b.Exp(b.Neg(in.operands[0]));
        return b.Div(b.ConstF32(1.0), b.Add(b.ConstF32(1.0), e));
      },
  });
  // d tanh = g * (1 - y^2).
  r.Add(OpDef{
      .name = "tanh",
      .summary = "hyperbolic tangent",
      .num_operands = 1,
      .traits = kElementwise,
      .infer_type = SameFloatType,
      .gradient = [](GradContext& g) -> Grads {
        NodeId y = g.node.id;
        NodeId slope = g.b.Sub(g.b.Scalar(1), g.b.Mul(y, y));
        return {g.b.Mul(g.output_grad, slope)};
      },
      .emit_element = [](ScalarBuilder& b, const ElementInputs& in) {
        return b.Tanh(in.operands[0]);
      },
  });
  // d Phi = g * phi(x).
  r.Add(OpDef{
      .name = "normal_cdf",
      .summary = "Phi(x), the standard normal CDF (torch.special.ndtr).",
      .num_operands = 1,
      .traits = kElementwise,
      .infer_type = SameFloatType,
      .gradient = [](GradContext& g) -> Grads {
        return {g.b.Mul(g.output_grad, NormalPdf(g.b, g.operand(0)))};
      },
      .emit_element = [](ScalarBuilder& b, const ElementInputs& in) {
        return NormalCdf(b, in.operands[0]);
      },
  });
  // gelu(x) = x * Phi(x), the exact (erf) form of torch's default; d gelu = g * (Phi + x phi).
  r.Add(OpDef{
      .name = "gelu",
      .summary = "x * Phi(x) (exact, erf-based)",
      .num_operands = 1,
      .traits = kElementwise,
      .infer_type = SameFloatType,
      .gradient = [](GradContext& g) -> Grads {
        NodeId x = g.operand(0);
        NodeId cdf = g.b.Op("normal_cdf", {x});
        NodeId pdf = NormalPdf(g.b, x);
        NodeId slope = g.b.Add(cdf, g.b.Mul(x, pdf));
        return {g.b.Mul(g.output_grad, slope)};
      },
      .emit_element = [](ScalarBuilder& b, const ElementInputs& in) {
        return b.Mul(in.operands[0], NormalCdf(b, in.operands[0]));
      },
  });
}

void RegisterComparisons(OpRegistry& r) {
  auto compare = [](std::string name, std::string summary,
                    Value (ScalarBuilder::*fn)(Value, Value)) {
    return OpDef{
        .name = std::move(name),
        .summary = std::move(summary),
        .num_operands = 2,
        .traits = kElementwise | kNoGradient | kCheap,
        .infer_type = CompareType,
        .emit_element = [fn](ScalarBuilder& b, const ElementInputs& in) {
          return b.Cast((b.*fn)(in.operands[0], in.operands[1]), kernel::ScalarType::kF32);
        },
    };
  };
  r.Add(compare("greater", "1.0 where a > b else 0.0", &ScalarBuilder::CmpGT));
  r.Add(compare("greater_equal", "1.0 where a >= b else 0.0", &ScalarBuilder::CmpGE));
  r.Add(compare("equal", "1.0 where a == b else 0.0", &ScalarBuilder::CmpEQ));

  // select(c, a, b) = a where c != 0 else b. The condition gets no gradient.
  r.Add(OpDef{
      .name = "select",
      .summary = "a where cond != 0 else b",
      .num_operands = 3,
      .traits = kElementwise | kCheap,
      .infer_type = [](std::span<const TensorType> operands,
                       const Attrs& attrs) -> absl::StatusOr<TensorType> {
        if (auto s = RequireFloat(operands[0], "the condition"); !s.ok()) return s;
        return BroadcastOperands(operands);
      },
      .gradient = [](GradContext& g) -> Grads {
        NodeId cond = g.operand(0), zero = g.b.Scalar(0);
        return {std::nullopt,
                g.b.SumToShape(g.b.Select(cond, g.output_grad, zero), ShapeOf(g, 1)),
                g.b.SumToShape(g.b.Select(cond, zero, g.output_grad), ShapeOf(g, 2))};
      },
      .emit_element = [](ScalarBuilder& b, const ElementInputs& in) {
        Value cond = b.CmpEQ(in.operands[0], b.ConstF32(0.0));
        return b.Select(cond, in.operands[2], in.operands[1]);
      },
  });

  r.Add(OpDef{
      .name = "cast",
      .summary = "Converts to `dtype` (f32 <-> i64; f32 -> i64 truncates).",
      .num_operands = 1,
      .traits = kElementwise | kNoGradient | kCheap,
      .infer_type = [](std::span<const TensorType> operands,
                       const Attrs& attrs) -> absl::StatusOr<TensorType> {
        auto dtype = ParseDType(attrs.GetString("dtype"));
        if (!dtype.ok()) return dtype.status();
        return TensorType{*dtype, operands[0].shape};
      },
      .emit_element = [](ScalarBuilder& b, const ElementInputs& in) {
        return b.Cast(in.operands[0], in.node.type.dtype == DType::kI64 ? kernel::ScalarType::kI64
                                                                        : kernel::ScalarType::kF32);
      },
  });
}

}  // namespace

void RegisterElementwiseOps(OpRegistry& r) {
  RegisterArithmetic(r);
  RegisterUnary(r);
  RegisterActivations(r);
  RegisterComparisons(r);
}

}  // namespace kiln::ir
