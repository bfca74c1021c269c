// The finite-difference gradient check, one test per registered op (ggml's test-backend-ops
// idea): for each op, small graphs loss = sum(op(params) * w) with fixed random weights w are
// differentiated by passes::AppendGradients, compiled by the real pipeline (GraphRunner: simplify,
// fuse, plan memory, LLVM JIT) and the analytic gradients compared with central differences of
// the same compiled loss. Composites are expanded first; ops that stop gradients must give zero.
//
// Inputs are drawn per operand from domains that keep the difference quotient away from kinks:
// relu, abs, leaky_relu, clamp, maximum and minimum never see a kink or tie within eps, reduce_max
// and reduce_min see distinct values, log/sqrt/pow get positive inputs, div a denominator away
// from zero.
#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "ir/graph_builder.h"
#include "ir/op_registry.h"
#include "ir/printer.h"
#include "passes/autodiff.h"
#include "passes/expand_composites.h"
#include "tools/graph_runner.h"

namespace kiln::cpu {
namespace {

using ir::Attrs;
using ir::DType;
using ir::Graph;
using ir::NodeId;
using ir::Shape;
using ir::TensorType;

// How an operand's values are drawn, and whether it is differentiated.
enum class Domain {
  kAny,        // Parameter, uniform in [-1.5, 1.5].
  kPositive,   // Parameter, uniform in [0.5, 2].
  kNonZero,    // Parameter, |x| in [0.5, 1.5] with a random sign.
  kGrid,       // Parameter, odd multiples of 0.1 in [-0.9, 0.9]: never within 0.1 of 0 or kGridHalf.
  kGridHalf,   // Parameter, multiples of 0.2 in [-1, 1]: at least 0.1 from every kGrid value.
  kDistinct,   // Parameter, a shuffle of distinct values 0.1 apart (no ties for a max).
  kWide,       // Parameter, uniform in [-6, 6].
  kMask,       // Input, fixed 0/1 values (select's condition).
  kLabels,     // Input, i64 class indices in [0, shape.back() of operand 0).
};

struct Operand {
  Shape shape;
  Domain domain = Domain::kAny;
};

struct GradCase {
  std::string op;
  std::string label;
  std::vector<Operand> operands;
  Attrs attrs;
  // Ops that stop gradients: the analytic gradient must be exactly zero. The difference quotient
  // is not compared (stop_gradient is the identity going forward).
  bool expect_zero = false;
  // The op gives an i64 result: cast it to f32 before weighting.
  bool cast_result = false;
};

bool IsParameter(Domain d) { return d != Domain::kMask && d != Domain::kLabels; }

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
  }
  cases.push_back({"reshape", "to_2x6", {{{3, 4}}}, {{"shape", Shape{2, 6}}}});
  cases.push_back({"reshape", "to_flat", {{{2, 3, 2}}}, {{"shape", Shape{-1}}}});
  cases.push_back({"broadcast_to", "row", {{{4}}}, {{"shape", Shape{3, 4}}}});
  cases.push_back({"broadcast_to", "column_new_dim", {{{3, 1}}}, {{"shape", Shape{2, 3, 4}}}});
  cases.push_back({"transpose", "2d", {{{3, 4}}}, {{"perm", std::vector<int64_t>{1, 0}}}});
  cases.push_back({"transpose", "3d", {{{2, 3, 4}}}, {{"perm", std::vector<int64_t>{2, 0, 1}}}});
  using Ints = std::vector<int64_t>;
  cases.push_back({"im2col", "k3_s2_p1", {{{2, 3, 5, 5}}},
                   {{"kernel", int64_t{3}}, {"stride", int64_t{2}}, {"padding", int64_t{1}}}});
  cases.push_back({"im2col", "k2x3_dilated", {{{1, 2, 6, 7}}},
                   {{"kernel", Ints{2, 3}}, {"dilation", Ints{2, 1}}, {"padding", Ints{0, 1}}}});
  cases.push_back({"col2im", "k3_s2_p1", {{{1, 3, 3, 2, 3, 3}}},
                   {{"kernel", int64_t{3}}, {"stride", int64_t{2}}, {"padding", int64_t{1}},
                    {"input_size", Ints{5, 5}}}});
  // Stride = kernel: the windows tile the input, each pixel has one tap.
  cases.push_back({"col2im", "k2_s2_tiles", {{{2, 2, 3, 2, 2, 2}}},
                   {{"kernel", int64_t{2}}, {"stride", int64_t{2}}, {"input_size", Ints{5, 6}}}});
  cases.push_back({"col2im", "k2_s1", {{{2, 3, 4, 1, 2, 2}}},
                   {{"kernel", int64_t{2}}, {"input_size", Ints{4, 5}}}});
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
  cases.push_back({"reduce_mean", "dims0", {{{3, 4}}}, Reduce({0}, false)});
  cases.push_back({"reduce_mean", "dims0_1_keep", {{{3, 4}}}, Reduce({0, 1}, true)});
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
  using Ints = std::vector<int64_t>;
  cases.push_back({"conv2d", "pad1_bias", {{{2, 3, 5, 5}}, {{4, 3, 3, 3}}, {{4}}},
                   {{"padding", int64_t{1}}}});
  cases.push_back({"conv2d", "stride2_dilation2_nobias", {{{1, 2, 7, 6}}, {{3, 2, 2, 3}}},
                   {{"stride", int64_t{2}}, {"dilation", Ints{2, 1}}}});
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
  return cases;
}

// Ops with no f32 operand to differentiate; autodiff_test and fused_kernel_test cover them.
const std::map<std::string, std::string> kExempt = {
    {"iota", "no operands"},
    {"random_uniform", "its only operand is the i64 key (dropout is checked below)"},
};

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
      case Domain::kAny: v[i] = -1.5 + 3 * unit(rng); break;
      case Domain::kPositive: v[i] = 0.5 + 1.5 * unit(rng); break;
      case Domain::kWide: v[i] = -6 + 12 * unit(rng); break;
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

// A case built, compiled and fed: parameters "p<i>", inputs "in<i>", weights "w".
struct Prepared {
  std::unique_ptr<tools::GraphRunner> runner;
  std::vector<std::string> params;
  std::vector<std::vector<double>> values;  // Of each entry of `params`.
};

absl::StatusOr<Prepared> Prepare(const GradCase& c, uint32_t seed) {
  Graph graph;
  graph.name = "gradcheck";
  ir::GraphBuilder b(graph);
  std::mt19937 rng(seed);
  std::vector<NodeId> operands;
  std::vector<std::pair<std::string, std::vector<double>>> feeds;
  Prepared prepared;
  for (size_t i = 0; i < c.operands.size(); ++i) {
    const Operand& o = c.operands[i];
    std::vector<double> values = Draw(o, c.operands[0].shape, rng);
    if (IsParameter(o.domain)) {
      std::string name = absl::StrCat("p", i);
      operands.push_back(b.Parameter(name, TensorType{DType::kF32, o.shape},
                                     {{"init", std::string("constant")}, {"value", 0.0}}));
      prepared.params.push_back(name);
      prepared.values.push_back(values);
      feeds.emplace_back(name, values);
    } else {
      std::string name = absl::StrCat("in", i);
      DType dtype = o.domain == Domain::kLabels ? DType::kI64 : DType::kF32;
      operands.push_back(b.Input(name, TensorType{dtype, o.shape}));
      feeds.emplace_back(name, values);
    }
  }
  NodeId y = b.Op(c.op, operands, c.attrs);
  if (c.cast_result) y = b.Cast(y, DType::kF32);
  if (!b.status().ok()) return b.status();
  // Weights make every output element matter differently, so a gradient routed to the wrong
  // element (a transposed or misbroadcast rule) cannot pass.
  Operand weight_operand{b.type(y).shape, Domain::kAny};
  NodeId w = b.Input("w", TensorType{DType::kF32, b.type(y).shape});
  feeds.emplace_back("w", Draw(weight_operand, {1}, rng));
  NodeId weighted = b.Mul(y, w);
  std::vector<int64_t> all_dims;
  for (int64_t d = 0; d < b.type(y).rank(); ++d) all_dims.push_back(d);
  NodeId loss = all_dims.empty() ? weighted : b.ReduceSum(weighted, all_dims);
  if (!b.status().ok()) return b.status();
  graph.outputs = {{"loss", loss}};

  if (auto expanded = passes::ExpandComposites(graph, /*training=*/false); !expanded.ok()) {
    return expanded.status();
  }
  std::vector<NodeId> wrt;
  for (const std::string& name : prepared.params) wrt.push_back(graph.FindByName(name));
  auto grads = passes::AppendGradients(graph, graph.Output("loss"), wrt);
  if (!grads.ok()) return grads.status();
  for (size_t i = 0; i < grads->size(); ++i) {
    graph.outputs.emplace_back(absl::StrCat("grad_", i), (*grads)[i]);
  }
  auto runner = tools::GraphRunner::Compile(std::move(graph));
  if (!runner.ok()) return runner.status();
  prepared.runner = *std::move(runner);
  for (const auto& [name, values] : feeds) {
    if (absl::Status s = prepared.runner->Set(name, values); !s.ok()) return s;
  }
  return prepared;
}

// Reads an output by name. Simplification may merge two outputs into one node (both gradients
// of a+b are the incoming gradient); the memory plan names that node's buffer after the first
// output only, so read it under that name.
absl::StatusOr<std::vector<double>> ReadOutput(const tools::GraphRunner& runner,
                                               const std::string& name) {
  const ir::Graph& graph = runner.program().graph;
  NodeId id = graph.Output(name);
  for (const auto& [other, node] : graph.outputs) {
    if (node == id) return runner.Read(other);
  }
  return runner.Read(name);
}

absl::StatusOr<double> Loss(tools::GraphRunner& runner) {
  if (absl::Status s = runner.Run(); !s.ok()) return s;
  auto loss = runner.Read("loss");
  if (!loss.ok()) return loss.status();
  return (*loss)[0];
}

constexpr double kEps = 1e-2;
// f32 losses of O(10) carry ~1e-6 rounding, ~1e-4 after dividing by 2 eps; the curvature terms of
// the smooth ops here stay below that. A wrong rule is off by O(0.1) or more.
constexpr double kAbsTol = 3e-3;
constexpr double kRelTol = 1e-2;

// Compares analytic and numeric gradients; returns one line per mismatching element (empty if
// all agree) so that the broken-rule test can check that mismatches are caught.
absl::StatusOr<std::vector<std::string>> CheckCase(const GradCase& c, uint32_t seed = 1) {
  absl::StatusOr<Prepared> prepared = Prepare(c, seed);
  if (!prepared.ok()) return prepared.status();
  tools::GraphRunner& runner = *prepared->runner;
  if (absl::Status s = runner.Run(); !s.ok()) return s;
  std::vector<std::vector<double>> analytic;
  for (size_t i = 0; i < prepared->params.size(); ++i) {
    auto grad = ReadOutput(runner, absl::StrCat("grad_", i));
    if (!grad.ok()) return grad.status();
    analytic.push_back(*grad);
  }
  std::vector<std::string> mismatches;
  for (size_t i = 0; i < prepared->params.size(); ++i) {
    const std::string& name = prepared->params[i];
    std::vector<double> values = prepared->values[i];
    if (analytic[i].size() != values.size()) {
      return absl::InternalError(absl::StrCat("grad_", i, " has ", analytic[i].size(),
                                              " elements, ", name, " has ", values.size()));
    }
    for (size_t j = 0; j < values.size(); ++j) {
      if (c.expect_zero) {
        if (analytic[i][j] != 0.0) {
          mismatches.push_back(absl::StrCat(name, "[", j, "]: analytic ", analytic[i][j],
                                            ", expected exactly 0"));
        }
        continue;
      }
      const double original = values[j];
      values[j] = original + kEps;
      if (absl::Status s = runner.Set(name, values); !s.ok()) return s;
      absl::StatusOr<double> plus = Loss(runner);
      values[j] = original - kEps;
      if (absl::Status s = runner.Set(name, values); !s.ok()) return s;
      absl::StatusOr<double> minus = Loss(runner);
      values[j] = original;
      if (absl::Status s = runner.Set(name, values); !s.ok()) return s;
      if (!plus.ok()) return plus.status();
      if (!minus.ok()) return minus.status();
      const double numeric = (*plus - *minus) / (2 * kEps);
      const double got = analytic[i][j];
      const double tol = kAbsTol + kRelTol * std::max(std::abs(numeric), std::abs(got));
      if (std::abs(got - numeric) > tol || !std::isfinite(got)) {
        mismatches.push_back(absl::StrCat(name, "[", j, "]: analytic ", got, " vs numeric ",
                                          numeric, " (input ", original, ")"));
      }
    }
  }
  return mismatches;
}

class GradientCheckTest : public ::testing::TestWithParam<std::string> {};

TEST_P(GradientCheckTest, AnalyticMatchesCentralDifferences) {
  const std::string& op = GetParam();
  const ir::OpDef* def = ir::OpRegistry::Global().Find(op);
  ASSERT_NE(def, nullptr);
  if (def->Has(ir::kLeaf)) GTEST_SKIP() << op << " is a leaf";
  if (kExempt.count(op)) GTEST_SKIP() << op << ": " << kExempt.at(op);
  std::map<std::string, std::vector<GradCase>> by_op = CasesByOp();
  ASSERT_TRUE(by_op.count(op)) << "no gradient-check case for op '" << op << "'";
  for (const GradCase& c : by_op.at(op)) {
    SCOPED_TRACE(absl::StrCat(op, "/", c.label));
    absl::StatusOr<std::vector<std::string>> mismatches = CheckCase(c);
    ASSERT_TRUE(mismatches.ok()) << mismatches.status();
    EXPECT_TRUE(mismatches->empty()) << absl::StrJoin(*mismatches, "\n");
  }
}

INSTANTIATE_TEST_SUITE_P(EveryOp, GradientCheckTest,
                         ::testing::ValuesIn(ir::OpRegistry::Global().Names()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

TEST(GradientCheckCoverageTest, EveryRegisteredOpHasACaseOrAReason) {
  std::map<std::string, std::vector<GradCase>> by_op = CasesByOp();
  std::set<std::string> registered;
  for (const std::string& op : ir::OpRegistry::Global().Names()) {
    registered.insert(op);
    const ir::OpDef& def = *ir::OpRegistry::Global().Find(op);
    if (def.Has(ir::kLeaf)) continue;
    if (kExempt.count(op)) {
      EXPECT_TRUE(def.Has(ir::kNoGradient)) << op << " is exempt but has a gradient rule";
      continue;
    }
    EXPECT_TRUE(by_op.count(op)) << "op '" << op << "' has no gradient-check case";
    bool differentiable = !def.Has(ir::kNoGradient);
    for (const GradCase& c : by_op[op]) {
      EXPECT_EQ(c.expect_zero, !differentiable) << op << "/" << c.label;
    }
  }
  for (const auto& [op, cases] : by_op) {
    EXPECT_TRUE(registered.count(op)) << "cases for unregistered op '" << op << "'";
  }
}

// The check must be able to fail: swap in a wrong rule for sub (the subtrahend's gradient not
// negated) and a transposed one for matmul, and expect both to be caught.
TEST(GradientCheckCoverageTest, DetectsBrokenGradientRules) {
  // Global() hands out a const view of a registry built on the heap; the test patches the
  // record in place and restores it before returning.
  auto* sub = const_cast<ir::OpDef*>(ir::OpRegistry::Global().Find("sub"));
  ir::GradientFn original = sub->gradient;
  sub->gradient = [](ir::GradContext& g) -> std::vector<std::optional<NodeId>> {
    return {g.b.SumToShape(g.output_grad, g.b.type(g.operand(0)).shape),
            g.b.SumToShape(g.output_grad, g.b.type(g.operand(1)).shape)};
  };
  absl::StatusOr<std::vector<std::string>> broken =
      CheckCase({"sub", "broken", {{{3, 4}}, {{4}}}});
  sub->gradient = original;
  ASSERT_TRUE(broken.ok()) << broken.status();
  EXPECT_EQ(broken->size(), 4u) << "only p1's 4 elements are wrong:\n"
                                << absl::StrJoin(*broken, "\n");

  auto* matmul = const_cast<ir::OpDef*>(ir::OpRegistry::Global().Find("matmul"));
  original = matmul->gradient;
  matmul->gradient = [](ir::GradContext& g) -> std::vector<std::optional<NodeId>> {
    // dA = dC B^T is right; dB = (A^T dC)^T has the right shape on square operands only.
    NodeId da = g.b.MatMul(g.output_grad, g.operand(1), false, true);
    NodeId db = g.b.Transpose(g.b.MatMul(g.operand(0), g.output_grad, true, false), {1, 0});
    return {da, db};
  };
  broken = CheckCase({"matmul", "broken", {{{4, 4}}, {{4, 4}}}});
  matmul->gradient = original;
  ASSERT_TRUE(broken.ok()) << broken.status();
  EXPECT_GT(broken->size(), 0u);
  // With the rules restored the same cases pass.
  auto fixed = CheckCase({"sub", "restored", {{{3, 4}}, {{4}}}});
  ASSERT_TRUE(fixed.ok()) << fixed.status();
  EXPECT_TRUE(fixed->empty()) << absl::StrJoin(*fixed, "\n");
}

// Dropout while training: kept elements are scaled by 1/(1-p), about 1-p of them are kept,
// different keys give different masks, and the gradient uses the forward's mask.
TEST(DropoutTrainingTest, KeepsOneMinusPAndRescales) {
  constexpr int64_t kRows = 256, kCols = 256;
  constexpr double kP = 0.25;
  Graph graph;
  ir::GraphBuilder b(graph);
  NodeId x = b.Parameter("x", TensorType{DType::kF32, {kRows, kCols}},
                         {{"init", std::string("constant")}, {"value", 1.0}});
  NodeId w = b.Input("w", TensorType{DType::kF32, {kRows, kCols}});
  NodeId y = b.Op("dropout", {x}, {{"p", kP}});
  NodeId loss = b.ReduceSum(b.Mul(y, w), {0, 1});
  ASSERT_TRUE(b.status().ok()) << b.status();
  graph.outputs = {{"y", y}, {"loss", loss}};
  ASSERT_TRUE(passes::ExpandComposites(graph, /*training=*/true).ok());
  auto grads = passes::AppendGradients(graph, graph.Output("loss"), {graph.FindByName("x")});
  ASSERT_TRUE(grads.ok()) << grads.status();
  graph.outputs.emplace_back("grad_x", (*grads)[0]);
  auto runner = tools::GraphRunner::Compile(std::move(graph));
  ASSERT_TRUE(runner.ok()) << runner.status();
  const int64_t n = kRows * kCols;
  std::vector<double> weights(n);
  for (int64_t i = 0; i < n; ++i) weights[i] = 1.0 + (i % 5);
  ASSERT_TRUE((*runner)->Set("w", weights).ok());
  ASSERT_TRUE((*runner)->Set("x", std::vector<double>(n, 1.0)).ok());

  std::vector<std::vector<double>> masks;
  for (int64_t key : {7, 8}) {
    ASSERT_TRUE((*runner)->Set("kiln.rng", {static_cast<double>(key)}).ok());
    ASSERT_TRUE((*runner)->Run().ok());
    std::vector<double> out = *(*runner)->Read("y");
    std::vector<double> grad = *(*runner)->Read("grad_x");
    int64_t kept = 0;
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) {
      if (out[i] != 0.0) {
        ++kept;
        ASSERT_NEAR(out[i], 1.0 / (1.0 - kP), 1e-6) << i;
      }
      sum += out[i];
      ASSERT_NEAR(grad[i], out[i] * weights[i], 1e-5) << i;  // d/dx of x*mask*scale*w.
    }
    // The kept fraction has standard deviation sqrt(p(1-p)/n) ~ 0.0017: 0.01 is ~6 sigma.
    EXPECT_NEAR(static_cast<double>(kept) / n, 1.0 - kP, 0.01);
    EXPECT_NEAR(sum / n, 1.0, 0.015);  // Inverted dropout keeps the mean.
    masks.push_back(out);
  }
  int64_t differ = 0;
  for (int64_t i = 0; i < n; ++i) differ += masks[0][i] != masks[1][i];
  // Independent masks differ where exactly one keeps: 2 p (1-p) = 37.5% of elements.
  EXPECT_NEAR(static_cast<double>(differ) / n, 2 * kP * (1 - kP), 0.015);
}

}  // namespace
}  // namespace kiln::cpu
