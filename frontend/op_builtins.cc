// The plain ops callable from .kiln files, with PyTorch's argument names and defaults.
#include <numeric>

#include "absl/strings/str_cat.h"
#include "frontend/builtins.h"

namespace kiln::frontend {
namespace {

using K = ArgKind;

// Reduces over every dim when `dims` is left out, as torch.sum(x) does.
absl::Status AllDimsByDefault(const std::vector<ir::TensorType>& types, ir::Attrs& attrs) {
  if (attrs.Has("dims")) return absl::OkStatus();
  std::vector<int64_t> dims(types[0].rank());
  std::iota(dims.begin(), dims.end(), 0);
  attrs.Set("dims", dims);
  return absl::OkStatus();
}

// transpose(x) reverses the dims, like x.T.
absl::Status ReversedPermByDefault(const std::vector<ir::TensorType>& types, ir::Attrs& attrs) {
  if (attrs.Has("perm")) return absl::OkStatus();
  std::vector<int64_t> perm(types[0].rank());
  std::iota(perm.rbegin(), perm.rend(), 0);
  attrs.Set("perm", perm);
  return absl::OkStatus();
}

// argmax(x, dim, keepdim) is the IR's one-dim reduction.
absl::Status ArgmaxDims(const std::vector<ir::TensorType>&, ir::Attrs& attrs) {
  ir::Attrs out;
  out.Set("dims", std::vector<int64_t>{attrs.GetInt("dim", -1)});
  out.Set("keepdim", attrs.GetInt("keepdim", 0));
  attrs = out;
  return absl::OkStatus();
}

// Reductions take PyTorch's `dim=` as well as `dims=` (both an integer or a list): `dim` is
// folded into the IR's `dims` attr, then every dim is reduced when neither was given.
absl::Status ReductionDims(const std::vector<ir::TensorType>& types, ir::Attrs& attrs) {
  if (attrs.Has("dim")) {
    if (attrs.Has("dims")) return absl::InvalidArgumentError("give dim or dims, not both");
    ir::Attrs out;
    for (const auto& [key, value] : attrs.values()) {
      out.Set(key == "dim" ? "dims" : key, value);
    }
    attrs = out;
  }
  return AllDimsByDefault(types, attrs);
}

absl::Status CheckReduction(const std::vector<ir::TensorType>&, ir::Attrs& attrs) {
  std::string reduction = attrs.GetString("reduction");
  if (reduction == "mean" || reduction == "sum" || reduction == "none") return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("reduction must be mean, sum or none, got '", reduction, "'"));
}

absl::Status CheckDropout(const std::vector<ir::TensorType>&, ir::Attrs& attrs) {
  double p = attrs.GetFloat("p");
  if (p >= 0.0 && p < 1.0) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("dropout probability must be in [0, 1), got ", p));
}

OpBuiltin Binary(const std::string& name) {
  return {name, {{"a", K::kOperand}, {"b", K::kOperand}}};
}
OpBuiltin Unary(const std::string& name) { return {name, {{"x", K::kTensor}}}; }
// `dim` comes last so that positional calls keep the (x, dims, keepdim) order.
OpBuiltin Reduce(const std::string& name) {
  return {name,
          {{"x", K::kTensor},
           {"dims", K::kInts},
           {"keepdim", K::kBool, int64_t{0}},
           {"dim", K::kInts}},
          ReductionDims};
}
// var and std, with torch.var's argument order (input, dim, unbiased, keepdim).
OpBuiltin Moment(const std::string& name) {
  return {name,
          {{"x", K::kTensor},
           {"dims", K::kInts},
           {"unbiased", K::kBool, int64_t{1}},
           {"keepdim", K::kBool, int64_t{0}},
           {"dim", K::kInts}},
          ReductionDims};
}
// torch.sum(x, dim, keepdim) and friends: the IR reductions under PyTorch's names and argument
// order. max and min reduce (torch.amax / torch.amin values); the elementwise forms are maximum
// and minimum.
OpBuiltin TorchReduce(const std::string& name, const std::string& ir_op) {
  return {name,
          {{"x", K::kTensor},
           {"dim", K::kInts},
           {"keepdim", K::kBool, int64_t{0}},
           {"dims", K::kInts}},
          ReductionDims,
          ir_op};
}
// Losses: (input, target), an optional tensor `extra` (class weights, BCE's weight or
// pos_weight), reduction=mean|sum|none, then the loss's own numbers.
OpBuiltin Loss(const std::string& name, const std::string& extra = "",
               std::vector<OpParam> numbers = {}) {
  OpBuiltin op{name, {{"input", K::kTensor}, {"target", K::kTensor}}, CheckReduction};
  if (!extra.empty()) op.params.push_back({extra, K::kOptionalTensor});
  op.params.push_back({"reduction", K::kWord, std::string("mean")});
  op.params.insert(op.params.end(), numbers.begin(), numbers.end());
  return op;
}

}  // namespace

const std::vector<OpBuiltin>& OpBuiltins() {
  static const auto* table = new std::vector<OpBuiltin>{
      Binary("add"), Binary("sub"), Binary("mul"), Binary("div"), Binary("maximum"),
      Binary("pow"), Binary("minimum"),
      Unary("neg"), Unary("exp"), Unary("log"), Unary("sqrt"), Unary("relu"), Unary("abs"),
      Unary("sigmoid"), Unary("tanh"), Unary("gelu"), Unary("normal_cdf"),
      {"leaky_relu", {{"x", K::kTensor}, {"negative_slope", K::kNumber, 0.01}}},
      {"clamp", {{"x", K::kTensor}, {"min", K::kNumber}, {"max", K::kNumber}}},
      {"matmul",
       {{"a", K::kTensor},
        {"b", K::kTensor},
        {"transpose_a", K::kBool, int64_t{0}},
        {"transpose_b", K::kBool, int64_t{0}}}},
      {"reshape", {{"x", K::kTensor}, {"shape", K::kInts, std::nullopt, true}}},
      {"transpose", {{"x", K::kTensor}, {"perm", K::kInts}}, ReversedPermByDefault},
      {"flatten", {{"x", K::kTensor}, {"start_dim", K::kInt, int64_t{1}}}},
      Reduce("reduce_sum"), Reduce("reduce_max"), Reduce("reduce_min"), Reduce("reduce_mean"),
      TorchReduce("sum", "reduce_sum"), TorchReduce("mean", "reduce_mean"),
      TorchReduce("max", "reduce_max"), TorchReduce("min", "reduce_min"),
      Moment("var"), Moment("std"),
      {"argmax",
       {{"x", K::kTensor}, {"dim", K::kInt, int64_t{-1}}, {"keepdim", K::kBool, int64_t{0}}},
       ArgmaxDims},
      {"softmax", {{"x", K::kTensor}, {"dim", K::kInt, int64_t{-1}}}},
      {"log_softmax", {{"x", K::kTensor}, {"dim", K::kInt, int64_t{-1}}}},
      {"dropout", {{"x", K::kTensor}, {"p", K::kNumber, 0.5}}, CheckDropout},
      Loss("nll_loss", "weight"),
      Loss("cross_entropy", "weight", {{"label_smoothing", K::kNumber, 0.0}}),
      Loss("binary_cross_entropy", "weight"),
      Loss("binary_cross_entropy_with_logits", "pos_weight"),
      Loss("mse_loss"), Loss("l1_loss"),
      Loss("smooth_l1_loss", "", {{"beta", K::kNumber, 1.0}}),
  };
  return *table;
}

const OpBuiltin* FindOpBuiltin(const std::string& name) {
  for (const OpBuiltin& op : OpBuiltins()) {
    if (op.name == name) return &op;
  }
  return nullptr;
}

Signature SignatureOf(const OpBuiltin& op) {
  Signature sig{op.name, {}};
  for (const OpParam& p : op.params) {
    bool is_operand = p.kind == K::kTensor || p.kind == K::kOperand;
    sig.params.push_back({p.name, p.required || is_operand});
  }
  return sig;
}

}  // namespace kiln::frontend
