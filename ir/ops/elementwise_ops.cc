// Elementwise arithmetic, activations, comparisons and casts. Binary ops broadcast like NumPy;
// their gradients sum back over the broadcast dims (GraphBuilder::SumToShape).
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

// A copy, not a reference: the node storage it would point into reallocates when the gradient
// expression it is an argument of adds nodes (argument evaluation order is unspecified), and
// GraphBuilder::SumToShape adds nodes before it reads its `shape` argument.
Shape ShapeOf(GradContext& g, int i) { return g.b.type(g.operand(i)).shape; }

void RegisterArithmetic(OpRegistry& r) {
  // d(a+b) = (g, g), each summed over the dims it was broadcast along.
  r.Add(Binary("add", "a + b", &ScalarBuilder::Add, [](GradContext& g) -> Grads {
    return {g.b.SumToShape(g.output_grad, ShapeOf(g, 0)),
            g.b.SumToShape(g.output_grad, ShapeOf(g, 1))};
  }));
  r.Add(Binary("sub", "a - b", &ScalarBuilder::Sub, [](GradContext& g) -> Grads {
    return {g.b.SumToShape(g.output_grad, ShapeOf(g, 0)),
            g.b.SumToShape(g.b.Neg(g.output_grad), ShapeOf(g, 1))};
  }));
  // d(a*b) = (g*b, g*a).
  r.Add(Binary("mul", "a * b", &ScalarBuilder::Mul, [](GradContext& g) -> Grads {
    return {g.b.SumToShape(g.b.Mul(g.output_grad, g.operand(1)), ShapeOf(g, 0)),
            g.b.SumToShape(g.b.Mul(g.output_grad, g.operand(0)), ShapeOf(g, 1))};
  }));
  // d(a/b) = (g/b, -g*a/b^2).
  r.Add(Binary("div", "a / b", &ScalarBuilder::Div, [](GradContext& g) -> Grads {
    NodeId a = g.operand(0), b = g.operand(1);
    NodeId ga = g.b.Div(g.output_grad, b);
    NodeId gb = g.b.Neg(g.b.Div(g.b.Mul(ga, a), b));
    return {g.b.SumToShape(ga, ShapeOf(g, 0)), g.b.SumToShape(gb, ShapeOf(g, 1))};
  }, /*cheap=*/false));
  // Ties split the gradient evenly, as torch.maximum does.
  r.Add(Binary("maximum", "max(a, b)", &ScalarBuilder::Max, [](GradContext& g) -> Grads {
    NodeId a = g.operand(0), b = g.operand(1);
    NodeId half_tie = g.b.Mul(g.b.Equal(a, b), g.b.Scalar(0.5));
    NodeId wa = g.b.Add(g.b.Greater(a, b), half_tie);
    NodeId wb = g.b.Add(g.b.Greater(b, a), half_tie);
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
  r.Add(Unary("neg", "-x", &ScalarBuilder::Neg,
              [](GradContext& g) -> Grads { return {g.b.Neg(g.output_grad)}; }, /*cheap=*/true));
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
  r.Add(OpDef{
      .name = "relu",
      .summary = "max(x, 0)",
      .num_operands = 1,
      .traits = kElementwise | kCheap,
      .infer_type = SameFloatType,
      .gradient = [](GradContext& g) -> Grads {
        NodeId y = g.node.id;
        return {g.b.Select(g.b.Greater(y, g.b.Scalar(0)), g.output_grad, g.b.Scalar(0))};
      },
      .emit_element = [](ScalarBuilder& b, const ElementInputs& in) {
        return b.Max(in.operands[0], b.ConstF32(0.0));
      },
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
  RegisterComparisons(r);
}

}  // namespace kiln::ir
