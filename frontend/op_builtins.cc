// The plain ops callable from .kiln files, with PyTorch's argument names and defaults.
#include <algorithm>
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

// slice(x, dim, start, stop, step) selects x[..., start:stop:step, ...] in one dim, with
// Python's negative indices and clamping; the IR op takes a start/stop/step per dim.
absl::Status SliceOneDim(const std::vector<ir::TensorType>& types, ir::Attrs& attrs) {
  const ir::Shape& shape = types[0].shape;
  const int64_t rank = static_cast<int64_t>(shape.size());
  int64_t dim = attrs.GetInt("dim", 0);
  if (dim < -rank || dim >= rank) {
    return absl::InvalidArgumentError(
        absl::StrCat("dim ", dim, " is out of range for ", types[0].ToString()));
  }
  if (dim < 0) dim += rank;
  const int64_t size = shape[dim];
  auto clamp = [size](int64_t i) { return std::clamp<int64_t>(i < 0 ? i + size : i, 0, size); };
  int64_t start = clamp(attrs.GetInt("start", 0));
  int64_t stop = attrs.Has("stop") ? clamp(attrs.GetInt("stop")) : size;
  int64_t step = attrs.GetInt("step", 1);
  if (step <= 0) return absl::InvalidArgumentError(absl::StrCat("step must be positive, got ", step));
  if (start >= stop) {
    return absl::InvalidArgumentError(absl::StrCat("slice ", start, ":", stop, " of dim ", dim,
                                                   " of ", types[0].ToString(), " is empty"));
  }
  std::vector<int64_t> starts(rank, 0), stops = shape, steps(rank, 1);
  starts[dim] = start;
  stops[dim] = stop;
  steps[dim] = step;
  attrs = ir::Attrs{{"starts", starts}, {"stops", stops}, {"steps", steps}};
  return absl::OkStatus();
}

// pad(x, pad, value): torch.nn.functional.pad's `pad` lists (left, right) amounts from the last
// dim backwards; the IR op takes an offset per dim and the padded shape.
absl::Status PadAmounts(const std::vector<ir::TensorType>& types, ir::Attrs& attrs) {
  std::vector<int64_t> pad = attrs.GetInts("pad");
  const int64_t rank = types[0].rank();
  if (pad.size() % 2 != 0 || static_cast<int64_t>(pad.size()) > 2 * rank) {
    return absl::InvalidArgumentError(absl::StrCat(
        "pad needs (left, right) pairs for at most ", rank, " dims, got ", pad.size(), " values"));
  }
  std::vector<int64_t> lo(rank, 0);
  ir::Shape shape = types[0].shape;
  for (size_t i = 0; i < pad.size() / 2; ++i) {
    int64_t d = rank - 1 - static_cast<int64_t>(i);
    if (pad[2 * i] < 0 || pad[2 * i + 1] < 0) {
      return absl::InvalidArgumentError("negative padding is not supported");
    }
    lo[d] = pad[2 * i];
    shape[d] += pad[2 * i] + pad[2 * i + 1];
  }
  double value = attrs.GetFloat("value", 0.0);
  attrs = ir::Attrs{{"lo", lo}, {"shape", shape}, {"value", value}};
  return absl::OkStatus();
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
      {"max_pool2d",
       {{"x", K::kTensor},
        {"kernel_size", K::kInts, std::nullopt, true},
        {"stride", K::kInts},
        {"padding", K::kInts, int64_t{0}},
        {"dilation", K::kInts, int64_t{1}}}},
      {"avg_pool2d",
       {{"x", K::kTensor},
        {"kernel_size", K::kInts, std::nullopt, true},
        {"stride", K::kInts},
        {"padding", K::kInts, int64_t{0}},
        {"ceil_mode", K::kBool, int64_t{0}},
        {"count_include_pad", K::kBool, int64_t{1}}}},
      {"adaptive_avg_pool2d",
       {{"x", K::kTensor}, {"output_size", K::kInts, std::nullopt, true}}},
      {"gather", {{"x", K::kTensor}, {"dim", K::kInt, std::nullopt, true}, {"index", K::kTensor}}},
      {"one_hot", {{"x", K::kTensor}, {"num_classes", K::kInt, std::nullopt, true}}},
      {"slice",
       {{"x", K::kTensor},
        {"dim", K::kInt, int64_t{0}},
        {"start", K::kInt, int64_t{0}},
        {"stop", K::kInt},
        {"step", K::kInt, int64_t{1}}},
       SliceOneDim},
      {"pad",
       {{"x", K::kTensor}, {"pad", K::kInts, std::nullopt, true}, {"value", K::kNumber, 0.0}},
       PadAmounts},
      {"concat",
       {{"a", K::kTensor},
        {"b", K::kOptionalTensor},
        {"c", K::kOptionalTensor},
        {"d", K::kOptionalTensor},
        {"e", K::kOptionalTensor},
        {"f", K::kOptionalTensor},
        {"g", K::kOptionalTensor},
        {"h", K::kOptionalTensor},
        {"dim", K::kInt, int64_t{0}}}},
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
