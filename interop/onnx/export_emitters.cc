#include "interop/onnx/export_emitters.h"

#include <cmath>
#include <cstdint>
#include <algorithm>
#include <iterator>
#include <limits>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "ir/ops/window_geometry.h"
#include "support/status.h"

namespace kiln::interop {
namespace {

using Ctx = ExportContext;

absl::Status Simple(Ctx& c, const char* op_type) {
  std::vector<std::string> inputs;
  for (size_t i = 0; i < c.node().operands.size(); ++i) inputs.push_back(c.Input(i));
  c.writer().AddNode(op_type, inputs, {c.Output()});
  return absl::OkStatus();
}

template <const char* kOpType>
absl::Status Same(Ctx& c) {
  return Simple(c, kOpType);
}

constexpr char kAdd[] = "Add", kSub[] = "Sub", kMul[] = "Mul", kDiv[] = "Div", kPow[] = "Pow",
               kMax[] = "Max", kMin[] = "Min", kRelu[] = "Relu", kSigmoid[] = "Sigmoid",
               kTanh[] = "Tanh", kNeg[] = "Neg", kExp[] = "Exp", kLog[] = "Log",
               kSqrt[] = "Sqrt", kAbs[] = "Abs", kIdentity[] = "Identity";

std::string Scalar(Ctx& c, const std::string& what, float value) {
  return c.writer().AddConstant(c.Output() + "/" + what, std::vector<float>{value}, {});
}

// A shape for Reshape: the one dim that follows the batch size becomes -1 (ONNX infers it), so
// the model runs at any batch size. Two such dims stay numbers (the exporter then notices that
// the model depends on the batch size and writes a fixed one).
std::vector<int64_t> ReshapeTarget(const ir::Node& node, const std::vector<bool>& batch) {
  std::vector<int64_t> shape = node.type.shape;
  int varying = 0;
  for (bool b : batch) varying += b;
  if (varying != 1) return shape;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (batch[d]) shape[d] = -1;
  }
  return shape;
}

absl::Status EmitReshape(Ctx& c) {
  const std::string shape =
      c.writer().AddConstant(c.Output() + "/shape", ReshapeTarget(c.node(), c.BatchDims()));
  c.writer().AddNode("Reshape", {c.Input(0), shape}, {c.Output()});
  return absl::OkStatus();
}

absl::Status EmitFlatten(Ctx& c) {
  const int64_t start = c.node().attrs.GetInt("start_dim", 1);
  if (start == 1 || (start == -1 && c.InputType(0).rank() == 2)) {
    c.writer().AddNode("Flatten", {c.Input(0)}, {c.Output()}, {OnnxAttr::Int("axis", 1)});
    return absl::OkStatus();
  }
  return EmitReshape(c);
}

absl::Status EmitLeakyRelu(Ctx& c) {
  c.writer().AddNode("LeakyRelu", {c.Input(0)}, {c.Output()},
                     {OnnxAttr::Float("alpha", c.node().attrs.GetFloat("negative_slope", 0.01))});
  return absl::OkStatus();
}

absl::Status EmitClamp(Ctx& c) {
  const ir::Attrs& a = c.node().attrs;
  std::string lo = a.Has("min") ? Scalar(c, "min", a.GetFloat("min")) : "";
  std::string hi = a.Has("max") ? Scalar(c, "max", a.GetFloat("max")) : "";
  std::vector<std::string> inputs = {c.Input(0), lo};
  if (!hi.empty()) inputs.push_back(hi);
  c.writer().AddNode("Clip", inputs, {c.Output()});
  return absl::OkStatus();
}

// gelu(x) = 0.5 * x * (1 + erf(x / sqrt(2))): ONNX's Gelu from opset 20, before it in Erf.
absl::Status EmitGelu(Ctx& c) {
  if (c.opset() >= 20) return Simple(c, "Gelu");
  OnnxGraphWriter& w = c.writer();
  const std::string scaled = c.Temp("scaled"), erf = c.Temp("erf"), one_plus = c.Temp("1+erf"),
                    half_x = c.Temp("half_x");
  w.AddNode("Div", {c.Input(0), Scalar(c, "sqrt2", std::sqrt(2.0f))}, {scaled});
  w.AddNode("Erf", {scaled}, {erf});
  w.AddNode("Add", {erf, Scalar(c, "one", 1.0f)}, {one_plus});
  w.AddNode("Mul", {c.Input(0), Scalar(c, "half", 0.5f)}, {half_x});
  w.AddNode("Mul", {half_x, one_plus}, {c.Output()});
  return absl::OkStatus();
}

absl::Status EmitLinear(Ctx& c) {
  if (c.node().operands.size() == 2) {
    c.writer().AddNode("MatMul", {c.Input(0), c.Input(1)}, {c.Output()});
    return absl::OkStatus();
  }
  const std::string product = c.Temp("matmul");
  c.writer().AddNode("MatMul", {c.Input(0), c.Input(1)}, {product});
  c.writer().AddNode("Add", {product, c.Input(2)}, {c.Output()});
  return absl::OkStatus();
}

// Swaps the last two dims of operand i (matmul's transpose flags).
std::string TransposedLast2(Ctx& c, int i) {
  const int64_t rank = c.InputType(i).rank();
  std::vector<int64_t> perm;
  for (int64_t d = 0; d < rank; ++d) perm.push_back(d);
  std::swap(perm[rank - 1], perm[rank - 2]);
  const std::string out = c.Temp(absl::StrCat("t", i));
  c.writer().AddNode("Transpose", {c.Input(i)}, {out}, {OnnxAttr::Ints("perm", perm)});
  return out;
}

absl::Status EmitMatMul(Ctx& c) {
  const std::string a = c.node().attrs.GetInt("transpose_a", 0) ? TransposedLast2(c, 0) : c.Input(0);
  const std::string b = c.node().attrs.GetInt("transpose_b", 0) ? TransposedLast2(c, 1) : c.Input(1);
  c.writer().AddNode("MatMul", {a, b}, {c.Output()});
  return absl::OkStatus();
}

absl::Status EmitTranspose(Ctx& c) {
  c.writer().AddNode("Transpose", {c.Input(0)}, {c.Output()},
                     {OnnxAttr::Ints("perm", c.node().attrs.GetInts("perm"))});
  return absl::OkStatus();
}

// Expand broadcasts like NumPy: a 1 in the shape keeps the operand's dim, so a batch dim the
// operand already has is written as 1.
absl::Status EmitBroadcastTo(Ctx& c) {
  std::vector<int64_t> shape = c.node().type.shape;
  const ir::TensorType& in = c.InputType(0);
  const std::vector<bool>& in_batch = c.InputBatchDims(0);
  const size_t offset = shape.size() - in.shape.size();
  for (size_t d = offset; d < shape.size(); ++d) {
    if (in_batch[d - offset] && in.shape[d - offset] == shape[d]) shape[d] = 1;
  }
  const std::string target = c.writer().AddConstant(c.Output() + "/shape", shape);
  c.writer().AddNode("Expand", {c.Input(0), target}, {c.Output()});
  return absl::OkStatus();
}

// ReduceSum takes its axes as an input from opset 13, the others from opset 18.
absl::Status Reduce(Ctx& c, const char* op_type, int64_t axes_input_opset) {
  const ir::Attrs& a = c.node().attrs;
  std::vector<int64_t> axes = a.GetInts("dims");
  const int64_t keep = a.GetInt("keepdim", 0);
  if (c.opset() >= axes_input_opset) {
    c.writer().AddNode(op_type, {c.Input(0), c.writer().AddConstant(c.Output() + "/axes", axes)},
                       {c.Output()}, {OnnxAttr::Int("keepdims", keep)});
  } else {
    c.writer().AddNode(op_type, {c.Input(0)}, {c.Output()},
                       {OnnxAttr::Ints("axes", axes), OnnxAttr::Int("keepdims", keep)});
  }
  return absl::OkStatus();
}
absl::Status EmitReduceSum(Ctx& c) { return Reduce(c, "ReduceSum", 13); }
absl::Status EmitReduceMax(Ctx& c) { return Reduce(c, "ReduceMax", 18); }
absl::Status EmitReduceMin(Ctx& c) { return Reduce(c, "ReduceMin", 18); }
absl::Status EmitReduceMean(Ctx& c) { return Reduce(c, "ReduceMean", 18); }

absl::Status Softmax(Ctx& c, const char* op_type) {
  c.writer().AddNode(op_type, {c.Input(0)}, {c.Output()},
                     {OnnxAttr::Int("axis", c.node().attrs.GetInt("dim", -1))});
  return absl::OkStatus();
}
absl::Status EmitSoftmax(Ctx& c) { return Softmax(c, "Softmax"); }
absl::Status EmitLogSoftmax(Ctx& c) { return Softmax(c, "LogSoftmax"); }

absl::Status EmitConcat(Ctx& c) {
  std::vector<std::string> inputs;
  for (size_t i = 0; i < c.node().operands.size(); ++i) inputs.push_back(c.Input(i));
  c.writer().AddNode("Concat", inputs, {c.Output()},
                     {OnnxAttr::Int("axis", c.node().attrs.GetInt("dim", 0))});
  return absl::OkStatus();
}

// A stop at or past the end of a batch dim is written as INT64_MAX, so slicing the whole batch
// holds at any batch size.
absl::Status EmitSlice(Ctx& c) {
  const ir::Attrs& a = c.node().attrs;
  std::vector<int64_t> starts = a.GetInts("starts"), stops = a.GetInts("stops"),
                       steps = a.GetInts("steps"), axes;
  const ir::TensorType& in = c.InputType(0);
  const std::vector<bool>& batch = c.InputBatchDims(0);
  if (steps.empty()) steps.assign(starts.size(), 1);
  for (size_t d = 0; d < starts.size(); ++d) {
    axes.push_back(static_cast<int64_t>(d));
    if (batch[d] && steps[d] > 0 && stops[d] >= in.shape[d]) {
      stops[d] = std::numeric_limits<int64_t>::max();
    }
  }
  OnnxGraphWriter& w = c.writer();
  w.AddNode("Slice",
            {c.Input(0), w.AddConstant(c.Output() + "/starts", starts),
             w.AddConstant(c.Output() + "/ends", stops), w.AddConstant(c.Output() + "/axes", axes),
             w.AddConstant(c.Output() + "/steps", steps)},
            {c.Output()});
  return absl::OkStatus();
}

absl::Status EmitPad(Ctx& c) {
  const ir::Attrs& a = c.node().attrs;
  const std::vector<int64_t> lo = a.GetInts("lo"), shape = c.node().type.shape;
  for (int64_t s : a.GetInts("stride")) {
    if (s != 1) return c.Unsupported("pad with a stride other than 1");
  }
  const ir::TensorType& in = c.InputType(0);
  std::vector<int64_t> pads = lo;
  for (size_t d = 0; d < lo.size(); ++d) pads.push_back(shape[d] - lo[d] - in.shape[d]);
  OnnxGraphWriter& w = c.writer();
  w.AddNode("Pad",
            {c.Input(0), w.AddConstant(c.Output() + "/pads", pads),
             Scalar(c, "value", a.GetFloat("value", 0.0))},
            {c.Output()}, {});
  return absl::OkStatus();
}

absl::Status EmitConv2d(Ctx& c) {
  const ir::Attrs& a = c.node().attrs;
  KILN_ASSIGN_OR_RETURN(auto stride, ir::PairAttr(a, "stride", 1));
  KILN_ASSIGN_OR_RETURN(auto padding, ir::PairAttr(a, "padding", 0));
  KILN_ASSIGN_OR_RETURN(auto dilation, ir::PairAttr(a, "dilation", 1));
  const ir::TensorType& w = c.InputType(1);
  std::vector<std::string> inputs = {c.Input(0), c.Input(1)};
  if (c.node().operands.size() > 2) inputs.push_back(c.Input(2));
  c.writer().AddNode(
      "Conv", inputs, {c.Output()},
      {OnnxAttr::Ints("kernel_shape", {w.shape[2], w.shape[3]}),
       OnnxAttr::Ints("strides", {stride.first, stride.second}),
       OnnxAttr::Ints("pads", {padding.first, padding.second, padding.first, padding.second}),
       OnnxAttr::Ints("dilations", {dilation.first, dilation.second}),
       OnnxAttr::Int("group", a.GetInt("groups", 1))});
  return absl::OkStatus();
}

enum class PoolKind { kMax, kAverage };

absl::Status Pool(Ctx& c, PoolKind kind) {
  const ir::Attrs& a = c.node().attrs;
  KILN_ASSIGN_OR_RETURN(auto kernel, ir::PairAttr(a, "kernel_size", 1));
  KILN_ASSIGN_OR_RETURN(auto stride,
                        a.Has("stride") ? ir::PairAttr(a, "stride", 1) : std::make_pair(kernel.first, kernel.second));
  KILN_ASSIGN_OR_RETURN(auto padding, ir::PairAttr(a, "padding", 0));
  KILN_ASSIGN_OR_RETURN(auto dilation, ir::PairAttr(a, "dilation", 1));
  std::vector<OnnxAttr> attrs = {
      OnnxAttr::Ints("kernel_shape", {kernel.first, kernel.second}),
      OnnxAttr::Ints("strides", {stride.first, stride.second}),
      OnnxAttr::Ints("pads", {padding.first, padding.second, padding.first, padding.second}),
      OnnxAttr::Int("ceil_mode", a.GetInt("ceil_mode", 0))};
  if (kind == PoolKind::kMax) {
    attrs.push_back(OnnxAttr::Ints("dilations", {dilation.first, dilation.second}));
  } else {
    if (dilation != std::make_pair(int64_t{1}, int64_t{1})) {
      return c.Unsupported("avg_pool2d with dilation");
    }
    // kiln (like PyTorch) counts the padding by default; ONNX does not.
    attrs.push_back(OnnxAttr::Int("count_include_pad", a.GetInt("count_include_pad", 1)));
  }
  c.writer().AddNode(kind == PoolKind::kMax ? "MaxPool" : "AveragePool", {c.Input(0)},
                     {c.Output()}, std::move(attrs));
  return absl::OkStatus();
}
absl::Status EmitMaxPool(Ctx& c) { return Pool(c, PoolKind::kMax); }
absl::Status EmitAvgPool(Ctx& c) { return Pool(c, PoolKind::kAverage); }

absl::Status EmitAdaptiveAvgPool(Ctx& c) {
  const std::vector<int64_t>& out = c.node().type.shape;
  const std::vector<int64_t>& in = c.InputType(0).shape;
  if (out[2] == 1 && out[3] == 1) {
    c.writer().AddNode("GlobalAveragePool", {c.Input(0)}, {c.Output()});
    return absl::OkStatus();
  }
  if (in[2] % out[2] != 0 || in[3] % out[3] != 0) {
    return c.Unsupported(absl::StrFormat(
        "adaptive_avg_pool2d from %dx%d to %dx%d (not a whole window)", in[2], in[3], out[2], out[3]));
  }
  const int64_t kh = in[2] / out[2], kw = in[3] / out[3];
  c.writer().AddNode("AveragePool", {c.Input(0)}, {c.Output()},
                     {OnnxAttr::Ints("kernel_shape", {kh, kw}), OnnxAttr::Ints("strides", {kh, kw})});
  return absl::OkStatus();
}

absl::Status EmitBatchNorm(Ctx& c) {
  c.writer().AddNode("BatchNormalization",
                     {c.Input(0), c.Input(1), c.Input(2), c.Input(3), c.Input(4)}, {c.Output()},
                     {OnnxAttr::Float("epsilon", c.node().attrs.GetFloat("eps", 1e-5))});
  return absl::OkStatus();
}

// kiln's comparisons and select work on f32 0/1 masks.
absl::Status Compare(Ctx& c, const char* op_type) {
  const std::string mask = c.Temp("mask");
  c.writer().AddNode(op_type, {c.Input(0), c.Input(1)}, {mask});
  c.writer().AddNode("Cast", {mask}, {c.Output()},
                     {OnnxAttr::Int("to", OnnxElementType(c.node().type.dtype == ir::DType::kI64
                                                              ? runtime::ElementType::kI64
                                                              : runtime::ElementType::kF32))});
  return absl::OkStatus();
}
absl::Status EmitGreater(Ctx& c) { return Compare(c, "Greater"); }
absl::Status EmitGreaterEqual(Ctx& c) { return Compare(c, "GreaterOrEqual"); }
absl::Status EmitEqual(Ctx& c) { return Compare(c, "Equal"); }

absl::Status EmitSelect(Ctx& c) {
  const std::string cond = c.Temp("cond");
  c.writer().AddNode("Cast", {c.Input(0)}, {cond},
                     {OnnxAttr::Int("to", onnx::TensorProto::BOOL)});
  c.writer().AddNode("Where", {cond, c.Input(1), c.Input(2)}, {c.Output()});
  return absl::OkStatus();
}

// Sorted by op name, as the importer's table is.
constexpr ExportEmitter kEmitters[] = {
    {"abs", Same<kAbs>},
    {"adaptive_avg_pool2d", EmitAdaptiveAvgPool},
    {"add", Same<kAdd>},
    {"avg_pool2d", EmitAvgPool},
    {"batch_norm", EmitBatchNorm},
    {"broadcast_to", EmitBroadcastTo},
    {"clamp", EmitClamp},
    {"concat", EmitConcat},
    {"conv2d", EmitConv2d},
    {"div", Same<kDiv>},
    {"dropout", Same<kIdentity>},  // Evaluation mode: the identity.
    {"equal", EmitEqual},
    {"exp", Same<kExp>},
    {"flatten", EmitFlatten},
    {"gelu", EmitGelu},
    {"greater", EmitGreater},
    {"greater_equal", EmitGreaterEqual},
    {"leaky_relu", EmitLeakyRelu},
    {"linear", EmitLinear},
    {"log", Same<kLog>},
    {"log_softmax", EmitLogSoftmax},
    {"matmul", EmitMatMul},
    {"max_pool2d", EmitMaxPool},
    {"maximum", Same<kMax>},
    {"minimum", Same<kMin>},
    {"mul", Same<kMul>},
    {"neg", Same<kNeg>},
    {"pad", EmitPad},
    {"pow", Same<kPow>},
    {"reduce_max", EmitReduceMax},
    {"reduce_mean", EmitReduceMean},
    {"reduce_min", EmitReduceMin},
    {"reduce_sum", EmitReduceSum},
    {"relu", Same<kRelu>},
    {"reshape", EmitReshape},
    {"select", EmitSelect},
    {"sigmoid", Same<kSigmoid>},
    {"slice", EmitSlice},
    {"softmax", EmitSoftmax},
    {"sqrt", Same<kSqrt>},
    {"stop_gradient", Same<kIdentity>},
    {"sub", Same<kSub>},
    {"tanh", Same<kTanh>},
    {"transpose", EmitTranspose},
};

static_assert(std::is_sorted(std::begin(kEmitters), std::end(kEmitters),
                             [](const ExportEmitter& a, const ExportEmitter& b) {
                               return std::string_view(a.op) < std::string_view(b.op);
                             }),
              "kEmitters must be sorted by op name");

}  // namespace

absl::Status ExportContext::Unsupported(const std::string& what) const {
  return absl::UnimplementedError(absl::StrCat(node_.loc.ToString(), ": kiln export: ",
                                               node_.op.name(), " '", node_.name, "': ", what));
}

const ExportEmitter* FindExportEmitter(const ir::OpDef& op) {
  const auto* it = std::lower_bound(
      std::begin(kEmitters), std::end(kEmitters), op.name,
      [](const ExportEmitter& e, const std::string& name) { return std::string_view(e.op) < name; });
  return it != std::end(kEmitters) && op.name == it->op ? it : nullptr;
}

}  // namespace kiln::interop
