#include "interop/onnx/op_emitters.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iterator>
#include <limits>
#include <optional>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "interop/onnx/onnx_tensor.h"
#include "support/status.h"

namespace kiln::interop {

std::string FormatNumber(double value) {
  if (value == std::floor(value) && std::fabs(value) < 1e15) {
    return absl::StrCat(static_cast<int64_t>(value), ".0");
  }
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%.9g", value);
  return buffer;
}

std::string FormatList(const std::vector<int64_t>& values) {
  return absl::StrCat("[", absl::StrJoin(values, ", "), "]");
}

std::string FormatDims(const std::vector<int64_t>& dims) {
  return absl::StrCat("[",
                      absl::StrJoin(dims, ", ",
                                    [](std::string* out, int64_t d) {
                                      absl::StrAppend(out, d == kBatchDim ? "B" : absl::StrCat(d));
                                    }),
                      "]");
}

namespace {

using Emit = absl::StatusOr<std::string>;

Emit Call(NodeContext& node, const std::string& callee, int operands = 1,
          const std::string& extra = "") {
  std::vector<std::string> args;
  for (int i = 0; i < operands; ++i) {
    KILN_ASSIGN_OR_RETURN(std::string operand, node.Operand(i));
    args.push_back(operand);
  }
  if (!extra.empty()) args.push_back(extra);
  return absl::StrCat(callee, "(", absl::StrJoin(args, ", "), ")");
}

Emit Infix(NodeContext& node, const char* op) {
  KILN_ASSIGN_OR_RETURN(std::string a, node.Operand(0));
  KILN_ASSIGN_OR_RETURN(std::string b, node.Operand(1));
  return absl::StrCat(a, " ", op, " ", b);
}

// The axis an old-opset (< 13) Softmax means is "flatten from axis on"; it is a per-dim softmax
// only when axis is the last dim.
absl::StatusOr<int64_t> SoftmaxDim(NodeContext& node) {
  const int64_t axis = node.Int("axis", node.opset() >= 13 ? -1 : 1);
  if (node.opset() >= 13 || axis == -1) return axis;
  std::optional<int> rank = node.Rank(0);
  if (rank && axis == *rank - 1) return axis;
  return node.Unsupported(absl::StrCat("axis ", axis,
                                       " before opset 13 flattens the input; "
                                       "kiln converts it only for the last dim"));
}

Emit EmitSoftmax(NodeContext& node) {
  KILN_ASSIGN_OR_RETURN(int64_t dim, SoftmaxDim(node));
  return Call(node, "softmax", 1, absl::StrCat("dim=", dim));
}

Emit EmitLogSoftmax(NodeContext& node) {
  KILN_ASSIGN_OR_RETURN(int64_t dim, SoftmaxDim(node));
  return Call(node, "log_softmax", 1, absl::StrCat("dim=", dim));
}

// Y = alpha * A' B' + beta * C, A' and B' optionally transposed; kiln's matmul takes the flags.
Emit EmitGemm(NodeContext& node) {
  std::vector<std::string> flags;
  if (node.Int("transA", 0)) flags.push_back("transpose_a=true");
  if (node.Int("transB", 0)) flags.push_back("transpose_b=true");
  KILN_ASSIGN_OR_RETURN(std::string product, Call(node, "matmul", 2, absl::StrJoin(flags, ", ")));
  node.SetOutputRank(2);
  const float alpha = node.Float("alpha", 1.0f);
  const float beta = node.Float("beta", 1.0f);
  if (alpha != 1.0f) product = absl::StrCat(FormatNumber(alpha), " * ", product);
  if (!node.HasInput(2) || beta == 0.0f) return product;
  KILN_ASSIGN_OR_RETURN(std::string c, node.Operand(2));
  if (beta != 1.0f) c = absl::StrCat(FormatNumber(beta), " * ", c);
  return absl::StrCat(product, " + ", c);
}

Emit EmitMatMul(NodeContext& node) {
  if (node.Rank(0).value_or(2) != 2 || node.Rank(1).value_or(2) != 2) {
    return node.Unsupported("kiln's matmul is 2-D; batched MatMul has no kiln form yet");
  }
  node.SetOutputRank(2);
  return Call(node, "matmul", 2);
}

Emit EmitLeakyRelu(NodeContext& node) {
  return Call(node, "leaky_relu", 1,
              absl::StrCat("negative_slope=", FormatNumber(node.Float("alpha", 0.01f))));
}

Emit EmitGelu(NodeContext& node) {
  if (node.String("approximate", "none") != "none") {
    return node.Unsupported("only the exact (erf) form; kiln's gelu has no tanh approximation");
  }
  return Call(node, "gelu");
}

// Before opset 11 the bounds are attributes, from 11 optional constant inputs.
Emit EmitClip(NodeContext& node) {
  std::vector<std::string> bounds;
  const char* keys[] = {"min", "max"};
  for (int k = 0; k < 2; ++k) {
    if (node.opset() < 11) {
      if (node.HasAttribute(keys[k])) {
        bounds.push_back(absl::StrCat(keys[k], "=", FormatNumber(node.Float(keys[k], 0))));
      }
      continue;
    }
    if (!node.HasInput(k + 1)) continue;
    KILN_ASSIGN_OR_RETURN(runtime::CheckpointTensor bound, node.ConstantInput(k + 1));
    std::vector<double> v = TensorValues(bound);
    if (v.size() != 1) return node.Unsupported("min and max must be constant scalars");
    bounds.push_back(absl::StrCat(keys[k], "=", FormatNumber(v[0])));
  }
  if (bounds.empty()) return Call(node, "clamp", 1, "min=-3.4028234e38");
  return Call(node, "clamp", 1, absl::StrJoin(bounds, ", "));
}

Emit EmitDropout(NodeContext& node) {
  if (node.node().output_size() > 1 && !node.node().output(1).empty()) {
    return node.Unsupported("the mask output has no kiln form");
  }
  double ratio = node.Float("ratio", 0.5f);
  if (node.opset() >= 12 && node.HasInput(1)) {
    KILN_ASSIGN_OR_RETURN(runtime::CheckpointTensor r, node.ConstantInput(1));
    std::vector<double> v = TensorValues(r);
    if (v.size() != 1) return node.Error("ratio must be a scalar");
    ratio = v[0];
  }
  return Call(node, "dropout", 1, absl::StrCat("p=", FormatNumber(ratio)));
}

// ONNX Flatten makes a matrix [prod(dims < axis), prod(dims >= axis)]; kiln's flatten keeps the
// leading dims, so the two agree for axis 1 and axis 0 is a reshape to one row.
Emit EmitFlatten(NodeContext& node) {
  int64_t axis = node.Int("axis", 1);
  std::optional<int> rank = node.Rank(0);
  if (axis < 0 && rank) axis += *rank;
  node.SetOutputRank(2);
  if (axis == 0) return Call(node, "reshape", 1, "[1, -1]");
  if (axis == 1) return Call(node, "flatten", 1, "start_dim=1");
  return node.Unsupported(absl::StrCat("axis ", axis,
                                       " needs the input's shape; kiln converts "
                                       "axis 0 and 1"));
}

Emit EmitReshape(NodeContext& node) {
  KILN_ASSIGN_OR_RETURN(runtime::CheckpointTensor shape_tensor, node.ConstantInput(1));
  std::vector<int64_t> shape;
  for (double d : TensorValues(shape_tensor)) shape.push_back(static_cast<int64_t>(d));
  if (std::find(shape.begin(), shape.end(), 0) != shape.end()) {
    return node.Unsupported(
        node.Int("allowzero", 0)
            ? "a 0 in the shape with allowzero (kiln has no empty tensors)"
            : "a 0 in the shape (copy the input's dim) needs the input's shape");
  }
  node.SetOutputRank(static_cast<int>(shape.size()));
  return Call(node, "reshape", 1, FormatDims(shape));
}

Emit EmitTranspose(NodeContext& node) {
  if (!node.HasAttribute("perm")) return Call(node, "transpose");
  return Call(node, "transpose", 1, FormatList(node.Ints("perm")));
}

Emit EmitConcat(NodeContext& node) {
  const int n = node.node().input_size();
  if (n > 8) return node.Unsupported(absl::StrCat(n, " inputs; kiln's concat takes up to 8"));
  node.SetOutputRank(node.Rank(0).value_or(-1));
  return Call(node, "concat", n, absl::StrCat("dim=", node.Int("axis", 0)));
}

// ONNX pads are [x1_begin, x2_begin, ..., x1_end, x2_end]; kiln's two-sided pad per dim.
struct Padding {
  std::vector<int64_t> symmetric;  // Per spatial dim, when begin == end.
  bool asymmetric = false;
  std::vector<int64_t> onnx_pads;  // As ONNX gives them (empty: none).
};

absl::StatusOr<Padding> SpatialPadding(NodeContext& node, size_t spatial) {
  const std::string auto_pad = node.String("auto_pad", "NOTSET");
  if (auto_pad != "NOTSET" && auto_pad != "VALID") {
    return node.Unsupported(absl::StrCat("auto_pad ", auto_pad, " needs the input's shape"));
  }
  std::vector<int64_t> pads = node.Ints("pads");
  Padding padding;
  padding.symmetric.assign(spatial, 0);
  if (pads.empty() || auto_pad == "VALID") return padding;
  if (pads.size() != 2 * spatial) return node.Error("pads must have two entries per spatial dim");
  padding.onnx_pads = pads;
  for (size_t i = 0; i < spatial; ++i) {
    if (pads[i] != pads[i + spatial]) padding.asymmetric = true;
    padding.symmetric[i] = pads[i];
  }
  return padding;
}

std::vector<int64_t> AttrOr(NodeContext& node, const char* name, size_t n, int64_t fallback) {
  std::vector<int64_t> v = node.Ints(name);
  if (v.empty()) v.assign(n, fallback);
  return v;
}

// Conv with a 4-D initializer weight is kiln's conv2d layer; its weight and bias go to the
// weights file under the layer's names (<instance>.weight, <instance>.bias).
Emit EmitConv(NodeContext& node) {
  KILN_ASSIGN_OR_RETURN(runtime::CheckpointTensor weight, node.ConstantInput(1));
  if (weight.shape.size() != 4) {
    return node.Unsupported(absl::StrCat("a ", weight.shape.size(), "-D weight; kiln has conv2d"));
  }
  KILN_ASSIGN_OR_RETURN(Padding padding, SpatialPadding(node, 2));
  const int64_t groups = node.Int("group", 1);
  KILN_ASSIGN_OR_RETURN(std::string instance, node.LayerInstance(1));
  KILN_RETURN_IF_ERROR(node.StoreLayerTensor(instance, "weight", 1));
  const bool has_bias = node.HasInput(2);
  if (has_bias) KILN_RETURN_IF_ERROR(node.StoreLayerTensor(instance, "bias", 2));
  KILN_ASSIGN_OR_RETURN(std::string x, node.Operand(0));
  node.SetOutputRank(4);
  node.SetOutputNode(instance);
  // conv2d pads both sides alike; uneven zero padding is an explicit pad first (what PyTorch
  // exports for padding="same" with an even kernel). ONNX's [top, left, bottom, right] is
  // F.pad's (left, right, top, bottom).
  if (padding.asymmetric) {
    const std::vector<int64_t>& p = padding.onnx_pads;
    if (*std::min_element(p.begin(), p.end()) < 0) return node.Unsupported("negative pads");
    x = absl::StrCat("pad(", x, ", ", FormatList({p[1], p[3], p[0], p[2]}), ")");
    padding.symmetric = {0, 0};
  }
  return absl::StrCat("conv2d(", x, ", ", weight.shape[1] * groups, ", ", weight.shape[0], ", ",
                      FormatList({weight.shape[2], weight.shape[3]}),
                      ", stride=", FormatList(AttrOr(node, "strides", 2, 1)),
                      ", padding=", FormatList(padding.symmetric),
                      ", dilation=", FormatList(AttrOr(node, "dilations", 2, 1)),
                      ", groups=", groups, has_bias ? "" : ", bias=false",
                      ", name=", FormatLayerName(instance), ")");
}

absl::StatusOr<std::vector<int64_t>> PoolKernel(NodeContext& node) {
  std::vector<int64_t> kernel = node.Ints("kernel_shape");
  if (kernel.size() != 2) return node.Unsupported("kiln pools over 2 spatial dims");
  if (node.Int("ceil_mode", 0) != 0) return node.Unsupported("ceil_mode 1");
  return kernel;
}

// kiln's pools, like PyTorch's, pad at most half the kernel; ONNX allows up to the kernel.
absl::StatusOr<std::vector<int64_t>> PoolPadding(NodeContext& node,
                                                 const std::vector<int64_t>& kernel) {
  KILN_ASSIGN_OR_RETURN(Padding padding, SpatialPadding(node, 2));
  if (padding.asymmetric) return node.Unsupported("asymmetric pads");
  for (size_t i = 0; i < kernel.size(); ++i) {
    if (2 * padding.symmetric[i] > kernel[i]) {
      return node.Unsupported(absl::StrCat("pads ", FormatList(padding.symmetric),
                                           " above half the kernel ", FormatList(kernel)));
    }
  }
  return padding.symmetric;
}

Emit EmitMaxPool(NodeContext& node) {
  if (node.node().output_size() > 1 && !node.node().output(1).empty()) {
    return node.Unsupported("the Indices output has no kiln form");
  }
  if (node.Int("storage_order", 0) != 0) return node.Unsupported("storage_order 1");
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> kernel, PoolKernel(node));
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> padding, PoolPadding(node, kernel));
  node.SetOutputRank(4);
  return Call(
      node, "max_pool2d", 1,
      absl::StrCat(FormatList(kernel), ", stride=", FormatList(AttrOr(node, "strides", 2, 1)),
                   ", padding=", FormatList(padding),
                   ", dilation=", FormatList(AttrOr(node, "dilations", 2, 1))));
}

Emit EmitAveragePool(NodeContext& node) {
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> kernel, PoolKernel(node));
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> padding, PoolPadding(node, kernel));
  if (!node.Ints("dilations").empty()) {
    for (int64_t d : node.Ints("dilations")) {
      if (d != 1) return node.Unsupported("dilations; kiln's avg_pool2d has none");
    }
  }
  node.SetOutputRank(4);
  return Call(
      node, "avg_pool2d", 1,
      absl::StrCat(FormatList(kernel), ", stride=", FormatList(AttrOr(node, "strides", 2, 1)),
                   ", padding=", FormatList(padding),
                   ", count_include_pad=", node.Int("count_include_pad", 0) ? "true" : "false"));
}

Emit EmitGlobalAveragePool(NodeContext& node) {
  if (node.Rank(0).value_or(4) != 4) return node.Unsupported("kiln pools over 2 spatial dims");
  node.SetOutputRank(4);
  return Call(node, "adaptive_avg_pool2d", 1, "1");
}

// Inference-form BatchNormalization is kiln's batch_norm layer, whose parameters and running
// statistics go to the weights file under the layer's names. ONNX's momentum weighs the running
// value, PyTorch's (and kiln's) the batch's.
Emit EmitBatchNormalization(NodeContext& node) {
  if (node.Int("training_mode", 0) != 0 || node.node().output_size() > 1) {
    return node.Unsupported("training mode (running statistics as outputs)");
  }
  std::optional<int> rank = node.Rank(0);
  const char* layer = rank == 4 ? "batch_norm2d" : rank == 2 || rank == 3 ? "batch_norm1d" : "";
  if (*layer == '\0') return node.Unsupported("the input's rank must be known to be 2, 3 or 4");
  KILN_ASSIGN_OR_RETURN(std::string instance, node.LayerInstance(1));
  const char* suffixes[] = {"weight", "bias", "running_mean", "running_var"};
  for (int i = 0; i < 4; ++i) {
    KILN_RETURN_IF_ERROR(node.StoreLayerTensor(instance, suffixes[i], i + 1));
  }
  KILN_ASSIGN_OR_RETURN(std::string x, node.Operand(0));
  node.SetOutputRank(*rank);
  node.SetOutputNode(instance);
  return absl::StrCat(layer, "(", x, ", eps=", FormatNumber(node.Float("epsilon", 1e-5f)),
                      ", momentum=", FormatNumber(1.0 - node.Float("momentum", 0.9f)),
                      ", name=", FormatLayerName(instance), ")");
}

// An attribute before the opset that made it an input (axes, pads, ...): the attribute when the
// node has it, else the constant input `input` when given; nullopt when neither is there.
absl::StatusOr<std::optional<std::vector<int64_t>>> IntsAttributeOrInput(NodeContext& node,
                                                                         const char* name,
                                                                         int input) {
  if (node.HasAttribute(name)) return std::optional<std::vector<int64_t>>(node.Ints(name));
  if (!node.HasInput(input)) return std::optional<std::vector<int64_t>>();
  KILN_ASSIGN_OR_RETURN(runtime::CheckpointTensor tensor, node.ConstantInput(input));
  std::vector<int64_t> values;
  // INT64_MAX (Slice's "to the end") rounds up to 2^63 as a double: clamp, do not overflow.
  constexpr double kLimit = 9.2e18;
  for (double v : TensorValues(tensor)) {
    values.push_back(v >= kLimit    ? std::numeric_limits<int64_t>::max()
                     : v <= -kLimit ? std::numeric_limits<int64_t>::min()
                                    : static_cast<int64_t>(v));
  }
  return std::optional<std::vector<int64_t>>(values);
}

// ReduceSum/Mean/Max: axes an attribute (an input from opset 13 for ReduceSum, 18 for the
// others); none means every dim, as kiln's reductions do when dims is omitted.
Emit Reduce(NodeContext& node, const char* callee) {
  KILN_ASSIGN_OR_RETURN(std::optional<std::vector<int64_t>> axes,
                        IntsAttributeOrInput(node, "axes", 1));
  const bool keepdims = node.Int("keepdims", 1) != 0;
  if ((!axes || axes->empty()) && node.Int("noop_with_empty_axes", 0) != 0) {
    return node.Unsupported("noop_with_empty_axes with no axes");
  }
  std::string args = absl::StrCat("keepdim=", keepdims ? "true" : "false");
  if (axes && !axes->empty()) args = absl::StrCat(FormatList(*axes), ", ", args);
  if (std::optional<int> rank = node.Rank(0)) {
    node.SetOutputRank(keepdims                 ? *rank
                       : axes && !axes->empty() ? *rank - static_cast<int>(axes->size())
                                                : 0);
  }
  return Call(node, callee, 1, args);
}

Emit EmitReduceSum(NodeContext& node) { return Reduce(node, "reduce_sum"); }
Emit EmitReduceMean(NodeContext& node) { return Reduce(node, "reduce_mean"); }
Emit EmitReduceMax(NodeContext& node) { return Reduce(node, "reduce_max"); }

// ONNX slices several axes at once; kiln's slice takes one dim, so one call per axis, nested.
// An end past the dim (ONNX writes INT64_MAX for "to the end") is kiln's default stop.
Emit EmitSlice(NodeContext& node) {
  std::vector<int64_t> starts, ends, axes, steps;
  if (node.opset() < 10) {
    starts = node.Ints("starts");
    ends = node.Ints("ends");
    axes = node.Ints("axes");
  } else {
    KILN_ASSIGN_OR_RETURN(auto s, IntsAttributeOrInput(node, "starts", 1));
    KILN_ASSIGN_OR_RETURN(auto e, IntsAttributeOrInput(node, "ends", 2));
    KILN_ASSIGN_OR_RETURN(auto a, IntsAttributeOrInput(node, "axes", 3));
    KILN_ASSIGN_OR_RETURN(auto t, IntsAttributeOrInput(node, "steps", 4));
    if (!s || !e) return node.Error("starts and ends are required");
    starts = *s;
    ends = *e;
    if (a) axes = *a;
    if (t) steps = *t;
  }
  if (axes.empty()) {
    for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
  }
  if (steps.empty()) steps.assign(starts.size(), 1);
  if (ends.size() != starts.size() || axes.size() != starts.size() ||
      steps.size() != starts.size()) {
    return node.Error("starts, ends, axes and steps differ in length");
  }
  // kiln has no empty tensors: a slice that selects nothing (ONNX clamps start and end to the
  // dim) is refused here rather than by the compiler.
  if (absl::StatusOr<std::vector<int64_t>> dims = node.InputDims(0); dims.ok()) {
    for (size_t i = 0; i < starts.size(); ++i) {
      const int64_t axis = axes[i] < 0 ? axes[i] + static_cast<int64_t>(dims->size()) : axes[i];
      if (axis < 0 || axis >= static_cast<int64_t>(dims->size()) || steps[i] <= 0) continue;
      const int64_t dim = (*dims)[axis];
      if (dim == kBatchDim) continue;
      auto clamp = [dim](int64_t v) { return std::clamp(v < 0 ? v + dim : v, int64_t{0}, dim); };
      if (clamp(ends[i]) <= clamp(starts[i])) {
        return node.Unsupported(absl::StrCat("an empty result along axis ", axes[i],
                                             "; kiln has no empty tensors"));
      }
    }
  }
  KILN_ASSIGN_OR_RETURN(std::string expr, node.Operand(0));
  constexpr int64_t kToTheEnd = int64_t{1} << 31;
  for (size_t i = 0; i < starts.size(); ++i) {
    if (steps[i] <= 0) return node.Unsupported("a step below 1; kiln slices forwards");
    std::string args = absl::StrCat("dim=", axes[i], ", start=", starts[i]);
    if (ends[i] < kToTheEnd) absl::StrAppend(&args, ", stop=", ends[i]);
    if (steps[i] != 1) absl::StrAppend(&args, ", step=", steps[i]);
    expr = absl::StrCat("slice(", expr, ", ", args, ")");
  }
  return expr;
}

// ONNX pads are [begin of every dim..., end of every dim...]; kiln's pad lists (left, right)
// pairs from the last dim backwards, as F.pad does.
Emit EmitPad(NodeContext& node) {
  if (node.String("mode", "constant") != "constant") {
    return node.Unsupported(absl::StrCat("mode ", node.String("mode", "")));
  }
  if (node.HasInput(3)) return node.Unsupported("the axes input");
  KILN_ASSIGN_OR_RETURN(std::optional<std::vector<int64_t>> pads,
                        IntsAttributeOrInput(node, "pads", 1));
  if (!pads || pads->size() % 2 != 0) return node.Error("pads must list a begin and end per dim");
  double value = node.Float("value", 0.0f);
  if (node.opset() >= 11 && node.HasInput(2)) {
    KILN_ASSIGN_OR_RETURN(runtime::CheckpointTensor constant, node.ConstantInput(2));
    std::vector<double> v = TensorValues(constant);
    if (v.size() != 1) return node.Error("constant_value must be a scalar");
    value = v[0];
  }
  const size_t rank = pads->size() / 2;
  std::vector<int64_t> kiln_pads;
  for (size_t d = rank; d-- > 0;) {
    if ((*pads)[d] < 0 || (*pads)[d + rank] < 0) return node.Unsupported("negative pads");
    kiln_pads.push_back((*pads)[d]);
    kiln_pads.push_back((*pads)[d + rank]);
  }
  return Call(node, "pad", 1, absl::StrCat(FormatList(kiln_pads), ", value=", FormatNumber(value)));
}

// Shape arithmetic, folded at import time: a PyTorch export's x.view(x.size(0), -1) is
// Shape -> Gather -> Unsqueeze -> Concat -> Reshape, which becomes reshape(x, [B, -1]).
using Fold = absl::StatusOr<std::optional<runtime::CheckpointTensor>>;

runtime::CheckpointTensor IntTensor(std::vector<int64_t> shape,
                                    const std::vector<int64_t>& values) {
  runtime::CheckpointTensor tensor;
  tensor.type = runtime::ElementType::kI64;
  tensor.shape = std::move(shape);
  tensor.bytes.assign(reinterpret_cast<const char*>(values.data()),
                      values.size() * sizeof(int64_t));
  return tensor;
}

std::vector<int64_t> IntValues(const runtime::CheckpointTensor& tensor) {
  std::vector<int64_t> values;
  for (double v : TensorValues(tensor)) values.push_back(static_cast<int64_t>(v));
  return values;
}

Fold FoldShape(NodeContext& node) {
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> dims, node.InputDims(0));
  const int64_t rank = static_cast<int64_t>(dims.size());
  int64_t start = node.Int("start", 0), end = node.Int("end", rank);
  if (start < 0) start += rank;
  if (end < 0) end += rank;
  start = std::clamp<int64_t>(start, 0, rank);
  end = std::clamp<int64_t>(end, start, rank);
  std::vector<int64_t> slice(dims.begin() + start, dims.begin() + end);
  return IntTensor({static_cast<int64_t>(slice.size())}, slice);
}

Fold FoldGather(NodeContext& node) {
  if (!node.IsConstant(0) || !node.IsConstant(1)) return std::nullopt;
  KILN_ASSIGN_OR_RETURN(runtime::CheckpointTensor data, node.ConstantInput(0));
  KILN_ASSIGN_OR_RETURN(runtime::CheckpointTensor indices, node.ConstantInput(1));
  if (data.shape.size() != 1 || data.type != runtime::ElementType::kI64 ||
      node.Int("axis", 0) != 0) {
    return std::nullopt;
  }
  const std::vector<int64_t> values = IntValues(data);
  const int64_t n = static_cast<int64_t>(values.size());
  std::vector<int64_t> gathered;
  for (int64_t index : IntValues(indices)) {
    if (index < -n || index >= n) {
      return node.Error(absl::StrCat("index ", index, " is outside [", -n, ", ", n, ")"));
    }
    gathered.push_back(values[index < 0 ? index + n : index]);
  }
  return IntTensor(indices.shape, gathered);
}

// Unsqueeze and Squeeze of a constant change only its dims; axes are an attribute before
// opset 13 and an input from it.
Fold FoldUnsqueeze(NodeContext& node) {
  if (!node.IsConstant(0)) return std::nullopt;
  KILN_ASSIGN_OR_RETURN(runtime::CheckpointTensor data, node.ConstantInput(0));
  KILN_ASSIGN_OR_RETURN(std::optional<std::vector<int64_t>> axes,
                        IntsAttributeOrInput(node, "axes", 1));
  if (!axes) return node.Error("axes are required");
  const int64_t rank = static_cast<int64_t>(data.shape.size() + axes->size());
  std::vector<int64_t> shape(rank, 0);
  for (int64_t axis : *axes) {
    if (axis < 0) axis += rank;
    if (axis < 0 || axis >= rank) return node.Error(absl::StrCat("axis ", axis, " is outside"));
    shape[axis] = 1;
  }
  size_t next = 0;
  for (int64_t& d : shape) {
    if (d == 1) continue;
    if (next == data.shape.size()) return node.Error("axes repeat");
    d = data.shape[next++];
  }
  data.shape = shape;
  return data;
}

Fold FoldSqueeze(NodeContext& node) {
  if (!node.IsConstant(0)) return std::nullopt;
  KILN_ASSIGN_OR_RETURN(runtime::CheckpointTensor data, node.ConstantInput(0));
  KILN_ASSIGN_OR_RETURN(std::optional<std::vector<int64_t>> axes,
                        IntsAttributeOrInput(node, "axes", 1));
  const int64_t rank = static_cast<int64_t>(data.shape.size());
  std::vector<int64_t> shape;
  for (int64_t d = 0; d < rank; ++d) {
    bool squeeze = !axes && data.shape[d] == 1;
    if (axes) {
      for (int64_t axis : *axes) squeeze |= (axis < 0 ? axis + rank : axis) == d;
    }
    if (squeeze && data.shape[d] != 1) return node.Error("squeezes a dim that is not 1");
    if (!squeeze) shape.push_back(data.shape[d]);
  }
  data.shape = shape;
  return data;
}

// A Concat of 1-D integer constants (shape pieces); anything else is emitted as tensors.
Fold FoldConcat(NodeContext& node) {
  std::vector<int64_t> values;
  for (int i = 0; i < node.node().input_size(); ++i) {
    if (!node.IsConstant(i)) return std::nullopt;
    KILN_ASSIGN_OR_RETURN(runtime::CheckpointTensor piece, node.ConstantInput(i));
    if (piece.type != runtime::ElementType::kI64 || piece.shape.size() != 1) return std::nullopt;
    for (int64_t v : IntValues(piece)) values.push_back(v);
  }
  return IntTensor({static_cast<int64_t>(values.size())}, values);
}

// F.pad's export in older PyTorch builds its pads at run time from constants: ConstantOfShape,
// Concat, Reshape, Slice (step -1), Transpose, Cast. Each folds when its inputs are integer
// constants (shape arithmetic; a float or larger tensor is left to the op's emitter).
constexpr int64_t kFoldLimit = 1 << 16;  // Elements: shape arithmetic is small.

// A constant input as an integer tensor small enough to fold; nullopt otherwise.
absl::StatusOr<std::optional<runtime::CheckpointTensor>> SmallIntConstant(NodeContext& node,
                                                                          int i) {
  if (!node.HasInput(i) || !node.IsConstant(i)) return std::nullopt;
  KILN_ASSIGN_OR_RETURN(runtime::CheckpointTensor t, node.ConstantInput(i));
  if (t.type != runtime::ElementType::kI64 || ElementCount(t.shape) > kFoldLimit) {
    return std::nullopt;
  }
  return t;
}

Fold FoldConstantOfShape(NodeContext& node) {
  KILN_ASSIGN_OR_RETURN(auto shape, SmallIntConstant(node, 0));
  if (!shape) return std::nullopt;
  const std::vector<int64_t> dims = IntValues(*shape);
  int64_t count = 1;
  for (int64_t d : dims) {
    if (d < 0 || d > kFoldLimit) return std::nullopt;
    count *= d;
    if (count > kFoldLimit) return std::nullopt;
  }
  int64_t value = 0;
  for (const onnx::AttributeProto& attr : node.node().attribute()) {
    if (attr.name() != "value") continue;
    KILN_ASSIGN_OR_RETURN(runtime::CheckpointTensor v, TensorFromOnnx(attr.t()));
    if (v.type != runtime::ElementType::kI64 || ElementCount(v.shape) != 1) return std::nullopt;
    value = IntValues(v)[0];
  }
  if (!node.HasAttribute("value")) return std::nullopt;  // Float zeros: a tensor, not a shape.
  return IntTensor(dims, std::vector<int64_t>(count, value));
}

Fold FoldReshape(NodeContext& node) {
  KILN_ASSIGN_OR_RETURN(auto data, SmallIntConstant(node, 0));
  KILN_ASSIGN_OR_RETURN(auto target, SmallIntConstant(node, 1));
  if (!data || !target) return std::nullopt;
  std::vector<int64_t> shape = IntValues(*target);
  const int64_t count = ElementCount(data->shape);
  int64_t known = 1, infer = -1;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 0 && d < data->shape.size()) shape[d] = data->shape[d];
    if (shape[d] == -1) {
      if (infer >= 0) return node.Error("two -1 dims");
      infer = static_cast<int64_t>(d);
    } else if (shape[d] < 0) {
      return node.Error(absl::StrCat("dim ", shape[d], " is negative"));
    } else {
      known *= shape[d];
    }
  }
  if (infer >= 0 && known > 0) shape[infer] = count / known;
  if (ElementCount(shape) != count) return node.Error("the shape holds another element count");
  data->shape = shape;
  return data;
}

// Row-major strides of `shape`.
std::vector<int64_t> Strides(const std::vector<int64_t>& shape) {
  std::vector<int64_t> strides(shape.size(), 1);
  for (int64_t d = static_cast<int64_t>(shape.size()) - 2; d >= 0; --d) {
    strides[d] = strides[d + 1] * shape[d + 1];
  }
  return strides;
}

Fold FoldTranspose(NodeContext& node) {
  KILN_ASSIGN_OR_RETURN(auto data, SmallIntConstant(node, 0));
  if (!data) return std::nullopt;
  const int64_t rank = static_cast<int64_t>(data->shape.size());
  std::vector<int64_t> perm = node.Ints("perm");
  if (perm.empty()) {
    for (int64_t d = rank - 1; d >= 0; --d) perm.push_back(d);
  }
  if (static_cast<int64_t>(perm.size()) != rank) return node.Error("perm has the wrong length");
  std::vector<int64_t> shape(rank);
  for (int64_t d = 0; d < rank; ++d) {
    if (perm[d] < 0 || perm[d] >= rank) return node.Error("perm is outside the rank");
    shape[d] = data->shape[perm[d]];
  }
  const std::vector<int64_t> values = IntValues(*data), in_strides = Strides(data->shape);
  std::vector<int64_t> out(values.size());
  const std::vector<int64_t> out_strides = Strides(shape);
  for (int64_t i = 0; i < static_cast<int64_t>(out.size()); ++i) {
    int64_t from = 0;
    for (int64_t d = 0; d < rank; ++d)
      from += (i / out_strides[d] % shape[d]) * in_strides[perm[d]];
    out[i] = values[from];
  }
  return IntTensor(shape, out);
}

// Slice with ONNX's clamping, negative steps included.
Fold FoldSlice(NodeContext& node) {
  KILN_ASSIGN_OR_RETURN(auto data, SmallIntConstant(node, 0));
  if (!data || node.opset() < 10) return std::nullopt;
  KILN_ASSIGN_OR_RETURN(auto starts, IntsAttributeOrInput(node, "starts", 1));
  KILN_ASSIGN_OR_RETURN(auto ends, IntsAttributeOrInput(node, "ends", 2));
  KILN_ASSIGN_OR_RETURN(auto axes, IntsAttributeOrInput(node, "axes", 3));
  KILN_ASSIGN_OR_RETURN(auto steps, IntsAttributeOrInput(node, "steps", 4));
  if (!starts || !ends || starts->size() != ends->size()) return std::nullopt;
  const int64_t rank = static_cast<int64_t>(data->shape.size());
  std::vector<int64_t> first(rank, 0), step(rank, 1), shape = data->shape;
  for (size_t i = 0; i < starts->size(); ++i) {
    int64_t axis = axes && i < axes->size() ? (*axes)[i] : static_cast<int64_t>(i);
    if (axis < 0) axis += rank;
    if (axis < 0 || axis >= rank) return node.Error("an axis is outside the rank");
    const int64_t s = steps && i < steps->size() ? (*steps)[i] : 1;
    if (s == 0) return node.Error("a step is 0");
    const int64_t n = data->shape[axis];
    int64_t b = (*starts)[i], e = (*ends)[i];
    if (b < 0) b = b < -n ? -n - 1 : b + n;
    if (e < 0) e = e < -n ? -n - 1 : e + n;
    if (s > 0) {
      b = std::clamp<int64_t>(b, 0, n);
      e = std::clamp<int64_t>(e, 0, n);
      shape[axis] = e > b ? (e - b + s - 1) / s : 0;
    } else {
      b = std::clamp<int64_t>(b, -1, n - 1);
      e = std::clamp<int64_t>(e, -1, n - 1);
      shape[axis] = b > e ? (b - e - s - 1) / -s : 0;
    }
    first[axis] = b;
    step[axis] = s;
  }
  const std::vector<int64_t> values = IntValues(*data), in_strides = Strides(data->shape),
                             out_strides = Strides(shape);
  std::vector<int64_t> out(ElementCount(shape));
  for (int64_t i = 0; i < static_cast<int64_t>(out.size()); ++i) {
    int64_t from = 0;
    for (int64_t d = 0; d < rank; ++d) {
      from += (first[d] + (i / out_strides[d] % shape[d]) * step[d]) * in_strides[d];
    }
    out[i] = values[from];
  }
  return IntTensor(shape, out);
}

// A Cast of an integer constant to an integer type keeps its values.
Fold FoldCast(NodeContext& node) {
  KILN_ASSIGN_OR_RETURN(auto data, SmallIntConstant(node, 0));
  const int64_t to = node.Int("to", 0);
  if (!data || (to != onnx::TensorProto::INT64 && to != onnx::TensorProto::INT32)) {
    return std::nullopt;
  }
  return data;
}

Emit EmitAdd(NodeContext& node) { return Infix(node, "+"); }
Emit EmitSub(NodeContext& node) { return Infix(node, "-"); }
Emit EmitMul(NodeContext& node) { return Infix(node, "*"); }
Emit EmitDiv(NodeContext& node) { return Infix(node, "/"); }
Emit EmitPow(NodeContext& node) {
  for (int i : {0, 1}) {
    if (node.ElementTypeOf(i) == runtime::ElementType::kI64) {
      return node.Unsupported(absl::StrCat("an integer operand (input ", i,
                                           "); kiln's pow takes f32 operands"));
    }
  }
  return Call(node, "pow", 2);
}
Emit EmitRelu(NodeContext& node) { return Call(node, "relu"); }
Emit EmitSigmoid(NodeContext& node) { return Call(node, "sigmoid"); }
Emit EmitTanh(NodeContext& node) { return Call(node, "tanh"); }
Emit EmitExp(NodeContext& node) { return Call(node, "exp"); }
Emit EmitLog(NodeContext& node) { return Call(node, "log"); }
Emit EmitSqrt(NodeContext& node) { return Call(node, "sqrt"); }
Emit EmitAbs(NodeContext& node) { return Call(node, "abs"); }
Emit EmitNeg(NodeContext& node) { return Call(node, "neg"); }

using K = OpKind;
using R = RankRule;
// Sorted by op type (FindOpEmitter searches it).
constexpr OpEmitter kEmitters[] = {
    {"Abs", K::kStatement, R::kSameAsInput0, EmitAbs},
    {"Add", K::kStatement, R::kBroadcast, EmitAdd},
    {"AveragePool", K::kStatement, R::kUnknown, EmitAveragePool},
    {"BatchNormalization", K::kStatement, R::kUnknown, EmitBatchNormalization},
    {"Cast", K::kStatement, R::kUnknown, nullptr, FoldCast},
    {"Clip", K::kStatement, R::kSameAsInput0, EmitClip},
    {"Concat", K::kStatement, R::kUnknown, EmitConcat, FoldConcat},
    {"Constant", K::kConstant, R::kUnknown, nullptr},
    {"ConstantOfShape", K::kStatement, R::kUnknown, nullptr, FoldConstantOfShape},
    {"Conv", K::kStatement, R::kUnknown, EmitConv},
    {"Div", K::kStatement, R::kBroadcast, EmitDiv},
    {"Dropout", K::kStatement, R::kSameAsInput0, EmitDropout},
    {"Exp", K::kStatement, R::kSameAsInput0, EmitExp},
    {"Flatten", K::kStatement, R::kUnknown, EmitFlatten},
    {"Gather", K::kStatement, R::kUnknown, nullptr, FoldGather},
    {"Gelu", K::kStatement, R::kSameAsInput0, EmitGelu},
    {"Gemm", K::kStatement, R::kUnknown, EmitGemm},
    {"GlobalAveragePool", K::kStatement, R::kUnknown, EmitGlobalAveragePool},
    {"Identity", K::kAlias, R::kSameAsInput0, nullptr},
    {"LeakyRelu", K::kStatement, R::kSameAsInput0, EmitLeakyRelu},
    {"Log", K::kStatement, R::kSameAsInput0, EmitLog},
    {"LogSoftmax", K::kStatement, R::kSameAsInput0, EmitLogSoftmax},
    {"MatMul", K::kStatement, R::kUnknown, EmitMatMul},
    {"MaxPool", K::kStatement, R::kUnknown, EmitMaxPool},
    {"Mul", K::kStatement, R::kBroadcast, EmitMul},
    {"Neg", K::kStatement, R::kSameAsInput0, EmitNeg},
    {"Pad", K::kStatement, R::kSameAsInput0, EmitPad},
    {"Pow", K::kStatement, R::kBroadcast, EmitPow},
    {"ReduceMax", K::kStatement, R::kUnknown, EmitReduceMax},
    {"ReduceMean", K::kStatement, R::kUnknown, EmitReduceMean},
    {"ReduceSum", K::kStatement, R::kUnknown, EmitReduceSum},
    {"Relu", K::kStatement, R::kSameAsInput0, EmitRelu},
    {"Reshape", K::kStatement, R::kUnknown, EmitReshape, FoldReshape},
    {"Shape", K::kStatement, R::kUnknown, nullptr, FoldShape},
    {"Sigmoid", K::kStatement, R::kSameAsInput0, EmitSigmoid},
    {"Slice", K::kStatement, R::kSameAsInput0, EmitSlice, FoldSlice},
    {"Softmax", K::kStatement, R::kSameAsInput0, EmitSoftmax},
    {"Sqrt", K::kStatement, R::kSameAsInput0, EmitSqrt},
    {"Squeeze", K::kStatement, R::kUnknown, nullptr, FoldSqueeze},
    {"Sub", K::kStatement, R::kBroadcast, EmitSub},
    {"Tanh", K::kStatement, R::kSameAsInput0, EmitTanh},
    {"Transpose", K::kStatement, R::kSameAsInput0, EmitTranspose, FoldTranspose},
    {"Unsqueeze", K::kStatement, R::kUnknown, nullptr, FoldUnsqueeze},
};

// FindOpEmitter's binary search needs the rows in order.
static_assert(std::is_sorted(std::begin(kEmitters), std::end(kEmitters),
                             [](const OpEmitter& a, const OpEmitter& b) {
                               return std::string_view(a.op_type) < std::string_view(b.op_type);
                             }),
              "kEmitters must be sorted by op type");

}  // namespace

const OpEmitter* FindOpEmitter(const std::string& op_type) {
  auto it =
      std::lower_bound(std::begin(kEmitters), std::end(kEmitters), op_type,
                       [](const OpEmitter& e, const std::string& t) { return e.op_type < t; });
  if (it == std::end(kEmitters) || it->op_type != op_type) return nullptr;
  return &*it;
}

std::vector<std::string> SupportedOnnxOps() {
  std::vector<std::string> ops;
  for (const OpEmitter& e : kEmitters) ops.push_back(e.op_type);
  return ops;
}

}  // namespace kiln::interop
