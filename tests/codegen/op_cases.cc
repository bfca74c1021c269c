#include "tests/codegen/op_cases.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "ir/graph_builder.h"
#include "passes/autodiff.h"
#include "passes/expand_composites.h"
#include "support/status.h"

namespace kiln::op_cases {

using ir::DType;
using ir::Graph;
using ir::NodeId;
using ir::TensorType;

namespace {


Attrs Reduce(std::vector<int64_t> dims, bool keepdim) {
  return {{"dims", std::move(dims)}, {"keepdim", int64_t{keepdim}}};
}

void AddBinaryCases(std::vector<GradCase>& cases, const std::string& op, Domain a, Domain b) {
  // Same shape, a row vector, a column, both operands broadcast, and a scalar.
  const std::vector<std::pair<Shape, Shape>> shapes = {
      {{3, 4}, {3, 4}}, {{3, 4}, {4}}, {{3, 4}, {3, 1}}, {{4}, {3, 1}}, {{3, 4}, {}}};
  for (const auto& [sa, sb] : shapes) {
    cases.push_back({op, absl::StrCat(ir::ShapeToString(sa), "_", ir::ShapeToString(sb)),
                     {{sa, a}, {sb, b}}});
  }
}

std::vector<GradCase> PrimitiveCases() {
  std::vector<GradCase> cases;
  AddBinaryCases(cases, "add", Domain::kAny, Domain::kAny);
  AddBinaryCases(cases, "sub", Domain::kAny, Domain::kAny);
  AddBinaryCases(cases, "mul", Domain::kAny, Domain::kAny);
  AddBinaryCases(cases, "div", Domain::kAny, Domain::kNonZero);
  AddBinaryCases(cases, "maximum", Domain::kGrid, Domain::kGridHalf);
  AddBinaryCases(cases, "minimum", Domain::kGrid, Domain::kGridHalf);
  AddBinaryCases(cases, "pow", Domain::kPositive, Domain::kAny);
  for (const char* op : {"neg", "exp", "relu", "abs", "sigmoid", "tanh", "gelu", "normal_cdf"}) {
    // relu and abs have a kink at 0, which kGrid values stay 0.1 away from.
    Domain d = std::string(op) == "relu" || std::string(op) == "abs" ? Domain::kGrid
                                                                     : Domain::kAny;
    cases.push_back({op, "3x4", {{{3, 4}, d}}});
    cases.push_back({op, "2x3x2", {{{2, 3, 2}, d}}});
  }
  for (const char* op : {"log", "sqrt"}) {
    cases.push_back({op, "3x4", {{{3, 4}, Domain::kPositive}}});
  }
  // The wide draws reach gelu's and sigmoid's tails, where the formulas could lose accuracy.
  for (const char* op : {"sigmoid", "tanh", "gelu", "normal_cdf"}) {
    cases.push_back({op, "wide", {{{3, 4}, Domain::kWide}}});
  }
  // leaky_relu: kGrid stays 0.1 away from the kink. clamp: the bounds +-0.4 are 0.1 away from
  // every kGrid value, so each element is clearly inside or outside.
  cases.push_back({"leaky_relu", "default_slope", {{{3, 4}, Domain::kGrid}}});
  cases.push_back({"leaky_relu", "slope0.2", {{{3, 4}, Domain::kGrid}}, {{"negative_slope", 0.2}}});
  cases.push_back({"clamp", "min_max", {{{3, 4}, Domain::kGrid}}, {{"min", -0.4}, {"max", 0.4}}});
  cases.push_back({"clamp", "min_only", {{{3, 4}, Domain::kGrid}}, {{"min", -0.4}}});
  cases.push_back({"clamp", "max_only", {{{2, 3, 2}, Domain::kGrid}}, {{"max", 0.4}}});
  // On one rank the mean over ranks is the identity, and so is its gradient.
  cases.push_back({"all_reduce", "flat", {{{12}}}});
  cases.push_back({"select", "same_shape", {{{3, 4}, Domain::kMask}, {{3, 4}}, {{3, 4}}}});
  cases.push_back({"select", "broadcast", {{{3, 1}, Domain::kMask}, {{3, 4}}, {{4}}}});
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      // op(a) is [3,5], op(b) is [5,4]: the stored shapes follow the flags.
      Shape a = ta ? Shape{5, 3} : Shape{3, 5}, b = tb ? Shape{4, 5} : Shape{5, 4};
      cases.push_back({"matmul", absl::StrCat("ta", ta, "_tb", tb), {{a}, {b}},
                       {{"transpose_a", int64_t{ta}}, {"transpose_b", int64_t{tb}}}});
    }
  }
  for (const char* op : {"reduce_sum", "reduce_max", "reduce_min"}) {
    Domain d = std::string(op) == "reduce_sum" ? Domain::kAny : Domain::kDistinct;
    for (const std::vector<int64_t>& dims :
         std::vector<std::vector<int64_t>>{{0}, {1}, {0, 1}, {-1}}) {
      for (bool keep : {false, true}) {
        cases.push_back({op, absl::StrCat("dims", absl::StrJoin(dims, "_"), "_keep", keep),
                         {{{3, 4}, d}}, Reduce(dims, keep)});
      }
    }
    cases.push_back({op, "rank3_dims0_2", {{{2, 3, 4}, d}}, Reduce({0, 2}, false)});
    // Columns summed in blocks of 16 rows (codegen/summation_plan.h), the last block short; and
    // two reduced dims apart, the inner one in blocks inside the steps over the outer.
    cases.push_back({op, "columns_37_rows", {{{37, 5}, d}}, Reduce({0}, false)});
    cases.push_back({op, "rank4_dims0_2_blocks", {{{3, 2, 35, 3}, d}}, Reduce({0, 2}, false)});
    // A rank-0 tensor reduces over no dims, as torch.sum(scalar) does.
    cases.push_back({op, "rank0", {{{}, d}}, Reduce({}, false)});
  }
  cases.push_back({"reshape", "to_2x6", {{{3, 4}}}, {{"shape", Shape{2, 6}}}});
  cases.push_back({"reshape", "to_flat", {{{2, 3, 2}}}, {{"shape", Shape{-1}}}});
  cases.push_back({"broadcast_to", "row", {{{4}}}, {{"shape", Shape{3, 4}}}});
  cases.push_back({"broadcast_to", "column_new_dim", {{{3, 1}}}, {{"shape", Shape{2, 3, 4}}}});
  cases.push_back({"transpose", "2d", {{{3, 4}}}, {{"perm", std::vector<int64_t>{1, 0}}}});
  cases.push_back({"transpose", "3d", {{{2, 3, 4}}}, {{"perm", std::vector<int64_t>{2, 0, 1}}}});
  // Read 17 and 24 elements apart along the output's last dim of 130: the loop kernel walks the
  // other dim in blocks of 16 innermost (codegen/loop_order.h), with a shorter last block.
  cases.push_back(
      {"transpose", "2d_blocked", {{{130, 17}}}, {{"perm", std::vector<int64_t>{1, 0}}}});
  cases.push_back({"transpose", "3d_blocked", {{{2, 130, 24}}},
                   {{"perm", std::vector<int64_t>{0, 2, 1}}}});
  using Ints = std::vector<int64_t>;
  cases.push_back({"im2col", "k3_s2_p1", {{{2, 3, 5, 5}}},
                   {{"kernel", int64_t{3}}, {"stride", int64_t{2}}, {"padding", int64_t{1}}}});
  cases.push_back({"im2col", "k2x3_dilated", {{{1, 2, 6, 7}}},
                   {{"kernel", Ints{2, 3}}, {"dilation", Ints{2, 1}}, {"padding", Ints{0, 1}}}});
  // channel_major=1: patches [N,OH,OW,C,KH,KW], as conv2d uses where the weight outweighs them.
  cases.push_back({"im2col", "k3_s2_p1_channel_major", {{{2, 3, 5, 5}}},
                   {{"kernel", int64_t{3}}, {"stride", int64_t{2}}, {"padding", int64_t{1}},
                    {"channel_major", int64_t{1}}}});
  cases.push_back({"col2im", "k3_s2_p1_channel_major", {{{1, 3, 3, 2, 3, 3}}},
                   {{"kernel", int64_t{3}}, {"stride", int64_t{2}}, {"padding", int64_t{1}},
                    {"input_size", Ints{5, 5}}, {"channel_major", int64_t{1}}}});
  cases.push_back({"col2im", "k3_s2_p1", {{{1, 3, 3, 3, 3, 2}}},
                   {{"kernel", int64_t{3}}, {"stride", int64_t{2}}, {"padding", int64_t{1}},
                    {"input_size", Ints{5, 5}}}});
  // channels_last=1: the result [N,H,W,C], as im2col's gradient asks for channel-innermost patches.
  cases.push_back({"col2im", "k3_s2_p1_channels_last", {{{1, 3, 3, 3, 3, 2}}},
                   {{"kernel", int64_t{3}}, {"stride", int64_t{2}}, {"padding", int64_t{1}},
                    {"input_size", Ints{5, 5}}, {"channels_last", int64_t{1}}}});
  cases.push_back({"col2im", "k2_s1_channels_last", {{{2, 3, 4, 2, 2, 3}}},
                   {{"kernel", int64_t{2}}, {"input_size", Ints{4, 5}},
                    {"channels_last", int64_t{1}}}});
  // Stride = kernel: the windows tile the input, each pixel has one tap.
  cases.push_back({"col2im", "k2_s2_tiles", {{{2, 2, 3, 2, 2, 2}}},
                   {{"kernel", int64_t{2}}, {"stride", int64_t{2}}, {"input_size", Ints{5, 6}}}});
  cases.push_back({"col2im", "k2_s1", {{{2, 3, 4, 2, 2, 1}}},
                   {{"kernel", int64_t{2}}, {"input_size", Ints{4, 5}}}});
  // Stride > kernel: pixels in the gaps between windows get no tap at all.
  cases.push_back({"col2im", "k2_s3_gaps", {{{1, 2, 2, 2, 2, 2}}},
                   {{"kernel", int64_t{2}}, {"stride", int64_t{3}}, {"input_size", Ints{6, 5}}}});
  // Up to two taps per dim, from a kernel that is not a multiple of the stride, rectangular.
  cases.push_back({"col2im", "k5x3_s3x2_p2x1", {{{1, 3, 4, 5, 3, 2}}},
                   {{"kernel", Ints{5, 3}}, {"stride", Ints{3, 2}}, {"padding", Ints{2, 1}},
                    {"input_size", Ints{8, 7}}}});
  cases.push_back({"col2im", "k3_s2_dilated", {{{1, 2, 2, 3, 3, 1}}},
                   {{"kernel", int64_t{3}}, {"stride", int64_t{2}}, {"dilation", int64_t{2}},
                    {"input_size", Ints{7, 7}}}});
  cases.push_back({"slice", "strided", {{{4, 6}}},
                   {{"starts", Ints{1, 0}}, {"stops", Ints{4, 6}}, {"steps", Ints{2, 3}}}});
  cases.push_back({"slice", "rank3", {{{2, 3, 4}}},
                   {{"starts", Ints{0, 1, 1}}, {"stops", Ints{2, 3, 4}}, {"steps", Ints{1, 1, 1}}}});
  cases.push_back({"pad", "strided_value", {{{3, 4}}},
                   {{"lo", Ints{1, 2}}, {"stride", Ints{1, 2}}, {"shape", Ints{5, 10}},
                    {"value", 0.5}}});
  cases.push_back({"pad", "plain", {{{2, 3, 2}}},
                   {{"lo", Ints{0, 1, 2}}, {"shape", Ints{2, 5, 5}}}});
  cases.push_back({"adaptive_avg_pool2d", "5x7_to_3x2", {{{2, 2, 5, 7}}},
                   {{"output_size", Ints{3, 2}}}});
  cases.push_back({"adaptive_avg_pool2d", "to_1x1", {{{1, 3, 4, 4}}}, {{"output_size", int64_t{1}}}});
  cases.push_back({"adaptive_avg_pool2d_grad", "3x2_to_5x7", {{{2, 2, 3, 2}}},
                   {{"input_size", Ints{5, 7}}}});
  cases.push_back({"gather", "dim1", {{{3, 4}}, {{3, 5}, Domain::kLabels}}, {{"dim", int64_t{1}}}});
  cases.push_back({"gather", "dim0_rank3", {{{4, 2, 3}}, {{2, 2, 3}, Domain::kLabels}},
                   {{"dim", int64_t{0}}}});
  cases.push_back({"concat", "dim1", {{{2, 3}}, {{2, 2}}}, {{"dim", int64_t{1}}}});
  cases.push_back({"concat", "three_dim0", {{{1, 3}}, {{2, 3}}, {{2, 3}}}, {{"dim", int64_t{0}}}});
  return cases;
}

// The losses of loss_ops.cc under each reduction. Targets that are parameters (probabilities,
// regression targets) have their gradient checked too. Regression inputs are kGrid against
// kGridHalf targets: the difference stays 0.1 away from l1's kink at 0 and from smooth_l1's
// switch at beta = 0.4.
void AddLossCases(std::vector<GradCase>& cases) {
  cases.push_back({"binary_cross_entropy_term", "4x3",
                   {{{4, 3}, Domain::kProbability}, {{4, 3}, Domain::kProbability}}});
  const Operand labels{{4}, Domain::kLabels}, class_weights{{5}, Domain::kPositive};
  for (const char* reduction : {"mean", "sum", "none"}) {
    Attrs attrs = {{"reduction", std::string(reduction)}};
    Attrs smoothed = {{"reduction", std::string(reduction)}, {"label_smoothing", 0.1}};
    std::string r = reduction;
    cases.push_back({"cross_entropy", r + "_probabilities",
                     {{{4, 5}}, {{4, 5}, Domain::kProbability}}, attrs});
    cases.push_back({"cross_entropy", r + "_probabilities_weighted_smoothed",
                     {{{4, 5}}, {{4, 5}, Domain::kProbability}, class_weights}, smoothed});
    cases.push_back({"cross_entropy", r + "_smoothed", {{{4, 5}}, labels}, smoothed});
    cases.push_back({"cross_entropy", r + "_weighted_smoothed",
                     {{{4, 5}}, labels, class_weights}, smoothed});
    cases.push_back({"binary_cross_entropy", r,
                     {{{4, 3}, Domain::kProbability}, {{4, 3}, Domain::kMask}}, attrs});
    cases.push_back({"binary_cross_entropy", r + "_weighted",
                     {{{4, 3}, Domain::kProbability}, {{4, 3}, Domain::kProbability},
                      {{3}, Domain::kPositive}},
                     attrs});
    cases.push_back({"binary_cross_entropy_with_logits", r,
                     {{{4, 3}, Domain::kWide}, {{4, 3}, Domain::kMask}}, attrs});
    cases.push_back({"binary_cross_entropy_with_logits", r + "_pos_weight",
                     {{{4, 3}}, {{4, 3}, Domain::kProbability}, {{3}, Domain::kPositive}},
                     attrs});
    for (const char* op : {"mse_loss", "l1_loss", "smooth_l1_loss"}) {
      Attrs loss_attrs = attrs;
      if (std::string(op) == "smooth_l1_loss") loss_attrs.Set("beta", 0.4);
      cases.push_back({op, r, {{{3, 4}, Domain::kGrid}, {{3, 4}, Domain::kGridHalf}}, loss_attrs});
    }
  }
  cases.push_back({"smooth_l1_loss", "beta0_is_l1",
                   {{{3, 4}, Domain::kGrid}, {{3, 4}, Domain::kGridHalf}},
                   {{"reduction", std::string("mean")}, {"beta", 0.0}}});
  cases.push_back({"smooth_l1_loss", "default_beta",
                   {{{3, 4}, Domain::kWide}, {{3, 4}}}, {{"reduction", std::string("sum")}}});
}
std::vector<GradCase> CompositeCases() {
  std::vector<GradCase> cases;
  cases.push_back({"linear", "rank3_bias", {{{2, 3, 4}}, {{4, 5}}, {{5}}}});
  cases.push_back({"linear", "no_bias", {{{3, 4}}, {{4, 5}}}});
  for (const char* op : {"softmax", "log_softmax"}) {
    cases.push_back({op, "dim1", {{{3, 5}}}, {{"dim", int64_t{1}}}});
    cases.push_back({op, "dim0", {{{3, 5}}}, {{"dim", int64_t{0}}}});
  }
  for (const char* reduction : {"mean", "sum", "none"}) {
    Attrs attrs = {{"reduction", std::string(reduction)}};
    cases.push_back({"nll_loss", reduction, {{{4, 5}}, {{4}, Domain::kLabels}}, attrs});
    cases.push_back({"nll_loss", absl::StrCat(reduction, "_weighted"),
                     {{{4, 5}}, {{4}, Domain::kLabels}, {{5}, Domain::kPositive}}, attrs});
    cases.push_back({"cross_entropy", reduction, {{{4, 5}}, {{4}, Domain::kLabels}}, attrs});
  }
  cases.push_back({"cross_entropy", "mean_weighted",
                   {{{4, 5}}, {{4}, Domain::kLabels}, {{5}, Domain::kPositive}},
                   {{"reduction", std::string("mean")}}});
  AddLossCases(cases);
  cases.push_back({"reduce_mean", "dims0", {{{3, 4}}}, Reduce({0}, false)});
  cases.push_back({"reduce_mean", "dims0_1_keep", {{{3, 4}}}, Reduce({0, 1}, true)});
  cases.push_back({"reduce_mean", "rank0", {{{}}}, Reduce({}, false)});
  for (const char* op : {"var", "std"}) {
    for (bool unbiased : {false, true}) {
      Attrs dims1 = Reduce({1}, false), dims01 = Reduce({0, -1}, true);
      dims1.Set("unbiased", int64_t{unbiased});
      dims01.Set("unbiased", int64_t{unbiased});
      cases.push_back({op, absl::StrCat("dims1_unbiased", unbiased), {{{3, 4}}}, dims1});
      cases.push_back({op, absl::StrCat("dims0_m1_keep_unbiased", unbiased), {{{3, 4}}}, dims01});
    }
    cases.push_back({op, "rank3_dims0_2", {{{2, 3, 4}}}, Reduce({0, 2}, false)});
  }
  // No f32 operand: checks that it compiles and that autodiff passes through nothing.
  cases.push_back({"one_hot", "labels", {{{4}, Domain::kLabels}}, {{"num_classes", int64_t{5}}}});
  cases.push_back({"flatten", "start1", {{{2, 3, 2}}}, {{"start_dim", int64_t{1}}}});
  cases.push_back({"dropout", "eval_is_identity", {{{3, 4}}}, {{"p", 0.5}}});
  // x [B=2, T=3, I=4], hidden 5: biases and a zero initial state; no biases and a given h0.
  cases.push_back({"rnn", "bias_zero_h0", {{{2, 3, 4}}, {{5, 4}}, {{5, 5}}, {{5}}, {{5}}},
                   {{"bias", int64_t{1}}, {"h0", int64_t{0}}}});
  cases.push_back({"rnn", "no_bias_h0", {{{2, 3, 4}}, {{5, 4}}, {{5, 5}}, {{2, 5}}},
                   {{"bias", int64_t{0}}, {"h0", int64_t{1}}}});
  using Ints = std::vector<int64_t>;
  cases.push_back({"conv2d", "pad1_bias", {{{2, 3, 5, 5}}, {{4, 3, 3, 3}}, {{4}}},
                   {{"padding", int64_t{1}}}});
  cases.push_back({"conv2d", "stride2_dilation2_nobias", {{{1, 2, 7, 6}}, {{3, 2, 2, 3}}},
                   {{"stride", int64_t{2}}, {"dilation", Ints{2, 1}}}});
  // 4 patch rows against 8 output channels: the channel-major patches (conv_ops.cc).
  cases.push_back({"conv2d", "more_channels_than_rows", {{{1, 3, 4, 4}}, {{8, 3, 3, 3}}, {{8}}},
                   {{"stride", int64_t{2}}, {"padding", int64_t{1}}}});
  // Taps that read only padding leave the GEMM (conv_ops.cc): a 3x3 kernel on a 1x1 map keeps
  // its centre; stride 2 on a 2x2 map keeps a 2x2 corner. The dropped taps' gradient is zero.
  cases.push_back({"conv2d", "one_pixel_keeps_the_centre", {{{2, 3, 1, 1}}, {{4, 3, 3, 3}}, {{4}}},
                   {{"padding", int64_t{1}}}});
  cases.push_back({"conv2d", "stride2_two_pixels_drops_a_tap", {{{2, 3, 2, 2}}, {{5, 3, 3, 3}}},
                   {{"stride", int64_t{2}}, {"padding", int64_t{1}}}});
  // 16 channels: a padded channels-last copy whose patches the GEMMs read unstored
  // (ir/windowed_operand.h); at stride 1 the input gradient is itself such a convolution
  // (passes/convolve_input_gradients.h).
  cases.push_back({"conv2d", "windowed_16_channels", {{{2, 16, 4, 4}}, {{16, 16, 3, 3}}, {{16}}},
                   {{"padding", int64_t{1}}}});
  cases.push_back({"conv2d", "windowed_stride2", {{{1, 16, 5, 5}}, {{16, 16, 3, 3}}},
                   {{"stride", int64_t{2}}, {"padding", int64_t{1}}}});
  cases.push_back({"conv2d", "groups2", {{{1, 4, 5, 5}}, {{6, 2, 3, 3}}, {{6}}},
                   {{"groups", int64_t{2}}, {"padding", int64_t{1}}, {"stride", int64_t{2}}}});
  // Distinct values: the window maximum is unique, so the difference quotient is defined.
  cases.push_back({"max_pool2d", "k2", {{{2, 3, 4, 4}, Domain::kDistinct}},
                   {{"kernel_size", int64_t{2}}}});
  cases.push_back({"max_pool2d", "k3_s2_p1", {{{1, 2, 5, 5}, Domain::kDistinct}},
                   {{"kernel_size", int64_t{3}}, {"stride", int64_t{2}}, {"padding", int64_t{1}}}});
  cases.push_back({"avg_pool2d", "k2", {{{2, 3, 4, 4}}}, {{"kernel_size", int64_t{2}}}});
  cases.push_back({"avg_pool2d", "k3_s2_p1_exclude_pad", {{{1, 2, 5, 5}}},
                   {{"kernel_size", int64_t{3}}, {"stride", int64_t{2}}, {"padding", int64_t{1}},
                    {"count_include_pad", int64_t{0}}}});
  // batch_norm(x, weight, bias, running_mean, running_var): training differentiates through the
  // batch mean and variance; evaluation is an affine map of x with the running statistics.
  for (const Shape& x : std::vector<Shape>{{4, 3}, {2, 3, 4}, {2, 3, 2, 2}}) {
    std::vector<Operand> operands = {
        {x}, {{3}, Domain::kPositive}, {{3}}, {{3}, Domain::kState}, {{3}, Domain::kStatePositive}};
    std::string shape = ir::ShapeToString(x);
    cases.push_back({"batch_norm", "training_" + shape, operands, {{"eps", 1e-5}}, false, false,
                     /*training=*/true});
    cases.push_back({"batch_norm", "eval_" + shape, operands, {{"eps", 1e-5}}});
  }
  return cases;
}

// Ops that stop gradients but take f32 operands: the gradient through them must be zero.
std::vector<GradCase> NoGradientCases() {
  std::vector<GradCase> cases;
  cases.push_back({"stop_gradient", "3x4", {{{3, 4}}}, {}, /*expect_zero=*/true});
  for (const char* op : {"greater", "greater_equal", "equal"}) {
    cases.push_back({op, "broadcast", {{{3, 4}, Domain::kGrid}, {{4}, Domain::kGridHalf}}, {},
                     /*expect_zero=*/true});
  }
  // Truncation to i64 and back: kGrid values are 0.1 away from every integer.
  cases.push_back({"cast", "f32_to_i64", {{{3, 4}, Domain::kGrid}},
                   {{"dtype", std::string("i64")}}, /*expect_zero=*/true, /*cast_result=*/true});
  cases.push_back({"argmax", "dim1", {{{3, 4}, Domain::kDistinct}}, Reduce({1}, false),
                   /*expect_zero=*/true, /*cast_result=*/true});
  cases.push_back({"argmax", "dim0_keep", {{{3, 4}, Domain::kDistinct}}, Reduce({0}, true),
                   /*expect_zero=*/true, /*cast_result=*/true});
  return cases;
}

// Ops with no f32 operand to differentiate; autodiff_test and fused_kernel_test cover them.
}  // namespace

const std::map<std::string, std::string>& ExemptOps() {
  static const auto* exempt = new std::map<std::string, std::string>{
    {"iota", "no operands"},
    {"random_uniform", "its only operand is the i64 key (dropout has its own test)"},
  };
  return *exempt;
}

std::map<std::string, std::vector<GradCase>> CasesByOp() {
  std::map<std::string, std::vector<GradCase>> by_op;
  for (auto* list : {PrimitiveCases, CompositeCases, NoGradientCases}) {
    for (GradCase& c : list()) by_op[c.op].push_back(std::move(c));
  }
  return by_op;
}

std::vector<double> Draw(const Operand& operand, const Shape& scores_shape, std::mt19937& rng) {
  const int64_t n = ir::NumElements(operand.shape);
  std::vector<double> v(n);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::uniform_int_distribution<int> grid(0, 9), half_grid(0, 10);
  for (int64_t i = 0; i < n; ++i) {
    switch (operand.domain) {
      case Domain::kAny:
      case Domain::kState: v[i] = -1.5 + 3 * unit(rng); break;
      case Domain::kPositive:
      case Domain::kStatePositive: v[i] = 0.5 + 1.5 * unit(rng); break;
      case Domain::kWide: v[i] = -6 + 12 * unit(rng); break;
      case Domain::kProbability: v[i] = 0.1 + 0.8 * unit(rng); break;
      case Domain::kNonZero: v[i] = (unit(rng) < 0.5 ? -1 : 1) * (0.5 + unit(rng)); break;
      case Domain::kGrid: v[i] = -0.9 + 0.2 * grid(rng); break;
      case Domain::kGridHalf: v[i] = -1.0 + 0.2 * half_grid(rng); break;
      case Domain::kDistinct: v[i] = 0.1 * static_cast<double>(i) - 0.05 * n; break;
      case Domain::kMask: v[i] = (i * 7 + 3) % 3 == 0 ? 0.0 : 1.0; break;
      case Domain::kLabels: v[i] = static_cast<double>((i * 3 + 1) % scores_shape.back()); break;
    }
  }
  if (operand.domain == Domain::kDistinct) std::shuffle(v.begin(), v.end(), rng);
  return v;
}


absl::StatusOr<CaseGraph> BuildCaseGraph(const GradCase& c, uint32_t seed, bool output_y) {
  CaseGraph built;
  Graph& graph = built.graph;
  graph.name = "gradcheck";
  ir::GraphBuilder b(graph);
  std::mt19937 rng(seed);
  std::vector<NodeId> operands;
  for (size_t i = 0; i < c.operands.size(); ++i) {
    const Operand& o = c.operands[i];
    std::vector<double> values = Draw(o, c.operands[0].shape, rng);
    if (IsParameter(o.domain)) {
      std::string name = absl::StrCat("p", i);
      operands.push_back(b.Parameter(name, TensorType{DType::kF32, o.shape},
                                     {{"init", std::string("constant")}, {"value", 0.0}}));
      built.params.push_back(name);
      built.param_values.push_back(values);
      built.feeds.emplace_back(name, values);
    } else if (o.domain == Domain::kState || o.domain == Domain::kStatePositive) {
      // Persistent like batch norm's running statistics; fed like an input.
      std::string name = absl::StrCat("s", i);
      operands.push_back(b.State(name, TensorType{DType::kF32, o.shape}));
      built.feeds.emplace_back(name, values);
    } else {
      std::string name = absl::StrCat("in", i);
      DType dtype = o.domain == Domain::kLabels ? DType::kI64 : DType::kF32;
      operands.push_back(b.Input(name, TensorType{dtype, o.shape}));
      built.feeds.emplace_back(name, values);
    }
  }
  NodeId y = b.Op(c.op, operands, c.attrs);
  if (c.cast_result) y = b.Cast(y, DType::kF32);
  if (!b.status().ok()) return b.status();
  // Weights make every output element matter differently, so a gradient routed to the wrong
  // element (a transposed or misbroadcast rule) cannot pass.
  Operand weight_operand{b.type(y).shape, Domain::kAny};
  NodeId w = b.Input("w", TensorType{DType::kF32, b.type(y).shape});
  built.feeds.emplace_back("w", Draw(weight_operand, {1}, rng));
  NodeId weighted = b.Mul(y, w);
  std::vector<int64_t> all_dims;
  for (int64_t d = 0; d < b.type(y).rank(); ++d) all_dims.push_back(d);
  NodeId loss = all_dims.empty() ? weighted : b.ReduceSum(weighted, all_dims);
  if (!b.status().ok()) return b.status();
  graph.outputs = {{"loss", loss}};
  if (output_y) graph.outputs.emplace_back("y", y);

  KILN_RETURN_IF_ERROR(passes::ExpandComposites(graph, c.training).status());
  std::vector<NodeId> wrt;
  for (const std::string& name : built.params) wrt.push_back(graph.FindByName(name));
  KILN_ASSIGN_OR_RETURN(std::vector<NodeId> grads,
                        passes::AppendGradients(graph, graph.Output("loss"), wrt));
  for (size_t i = 0; i < grads.size(); ++i) {
    graph.outputs.emplace_back(absl::StrCat("grad_", i), grads[i]);
  }
  return built;
}

}  // namespace kiln::op_cases
