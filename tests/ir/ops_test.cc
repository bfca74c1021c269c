// The op records themselves: shape rules and their error messages, and a registry-wide check that
// every op carries what its traits promise.
#include <gtest/gtest.h>

#include "ir/graph_builder.h"
#include "ir/op_registry.h"
#include "ir/verifier.h"
#include "tests/ir/test_graphs.h"

namespace kiln::ir {
namespace {

constexpr DType kF32 = DType::kF32;
constexpr DType kI64 = DType::kI64;

// Builds inputs of the given types, then one `op` node over them; returns its type or error.
absl::StatusOr<TensorType> Infer(const std::string& op, std::vector<TensorType> operand_types,
                                 Attrs attrs = {}, const std::string& name = "") {
  Graph graph;
  GraphBuilder b(graph);
  std::vector<NodeId> operands;
  for (size_t i = 0; i < operand_types.size(); ++i) {
    operands.push_back(b.Input("in" + std::to_string(i), operand_types[i]));
  }
  NodeId id = b.Op(op, operands, std::move(attrs), name);
  if (!b.status().ok()) return b.status();
  return graph.node(id).type;
}

std::string InferError(const std::string& op, std::vector<TensorType> operand_types,
                       Attrs attrs = {}, const std::string& name = "") {
  absl::StatusOr<TensorType> type = Infer(op, std::move(operand_types), std::move(attrs), name);
  return type.ok() ? "<ok: " + type->ToString() + ">" : std::string(type.status().message());
}

TensorType F32(Shape shape) { return {kF32, std::move(shape)}; }
TensorType I64(Shape shape) { return {kI64, std::move(shape)}; }

TEST(OpsTest, MatmulErrorNamesTheOpAndBothTypes) {
  EXPECT_EQ(InferError("matmul", {F32({64, 784}), F32({100, 10})}, {}, "fc1"),
            "error: matmul 'fc1': inner dimensions differ: f32[64,784] @ f32[100,10] "
            "(784 vs 100)");
  EXPECT_EQ(InferError("matmul", {F32({64, 784}), F32({100, 10})}, {{"transpose_b", int64_t{1}}}),
            "error: matmul: inner dimensions differ: f32[64,784] @ f32[100,10]^T (784 vs 10)");
  EXPECT_EQ(InferError("matmul", {F32({2, 3, 4}), F32({4, 5})}),
            "error: matmul: expects two 2-D f32 matrices, got f32[2,3,4] and f32[4,5]");
}

TEST(OpsTest, MatmulTransposeFlags) {
  EXPECT_EQ(*Infer("matmul", {F32({3, 2}), F32({3, 5})}, {{"transpose_a", int64_t{1}}}),
            F32({2, 5}));
  EXPECT_EQ(*Infer("matmul", {F32({2, 3}), F32({5, 3})}, {{"transpose_b", int64_t{1}}}),
            F32({2, 5}));
  EXPECT_EQ(*Infer("matmul", {F32({3, 2}), F32({5, 3})},
                   {{"transpose_a", int64_t{1}}, {"transpose_b", int64_t{1}}}),
            F32({2, 5}));
}

TEST(OpsTest, BroadcastingRules) {
  EXPECT_EQ(*Infer("add", {F32({3, 1}), F32({1, 4})}), F32({3, 4}));
  EXPECT_EQ(*Infer("mul", {F32({4}), F32({2, 3, 4})}), F32({2, 3, 4}));
  EXPECT_EQ(*Infer("sub", {F32({}), F32({2, 3})}), F32({2, 3}));
  EXPECT_EQ(*Infer("select", {F32({2, 1}), F32({3}), F32({})}), F32({2, 3}));
  std::string error = InferError("add", {F32({64, 128}), F32({64, 256})}, {}, "res2");
  EXPECT_EQ(error,
            "error: add 'res2': cannot broadcast [64,128] with [64,256] (dim 1: 128 vs 256)");
}

TEST(OpsTest, ArithmeticNeedsFloatsAndComparisonsGiveFloatMasks) {
  EXPECT_EQ(InferError("add", {I64({2}), I64({2})}),
            "error: add: operands must be f32, got i64[2]");
  EXPECT_EQ(InferError("add", {F32({2}), I64({2})}),
            "error: add: operands must be f32, got i64[2]");
  EXPECT_EQ(*Infer("equal", {I64({4, 1}), I64({1, 10})}), F32({4, 10}));
  EXPECT_EQ(InferError("equal", {I64({4}), F32({4})}),
            "error: equal: operand dtypes differ: i64[4] and f32[4]");
}

TEST(OpsTest, ReduceDimsAndKeepdim) {
  auto reduce = [](std::vector<int64_t> dims, int64_t keepdim) {
    return Infer("reduce_sum", {F32({2, 3, 4})}, {{"dims", dims}, {"keepdim", keepdim}});
  };
  EXPECT_EQ(*reduce({1}, 0), F32({2, 4}));
  EXPECT_EQ(*reduce({1}, 1), F32({2, 1, 4}));
  EXPECT_EQ(*reduce({-1}, 0), F32({2, 3}));
  EXPECT_EQ(*reduce({0, 2}, 1), F32({1, 3, 1}));
  EXPECT_EQ(*reduce({0, 1, 2}, 0), F32({}));
  EXPECT_EQ(reduce({3}, 0).status().message(),
            "error: reduce_sum: dim 3 is out of range for a rank-3 tensor");
  EXPECT_EQ(reduce({1, -2}, 0).status().message(), "error: reduce_sum: dim -2 is reduced twice");
  EXPECT_EQ(reduce({}, 0).status().message(),
            "error: reduce_sum: a reduction needs at least one dim");
  EXPECT_EQ(*Infer("argmax", {F32({8, 10})}, {{"dims", std::vector<int64_t>{1}}}), I64({8}));
  EXPECT_EQ(*Infer("argmax", {F32({2, 3, 3, 8})}, {{"dims", std::vector<int64_t>{1, 2}}}),
            I64({2, 8}));
  EXPECT_EQ(InferError("argmax", {F32({8, 10})}, {{"dims", std::vector<int64_t>{1, 0}}}),
            "error: argmax: argmax dims [1,0] must be in increasing order (the index is "
            "row-major over them)");
  EXPECT_EQ(*Infer("reduce_mean", {F32({8, 10})},
                   {{"dims", std::vector<int64_t>{0}}, {"keepdim", int64_t{1}}}),
            F32({1, 10}));
}

TEST(OpsTest, TransposePermValidation) {
  auto transpose = [](std::vector<int64_t> perm) {
    return Infer("transpose", {F32({2, 3, 4})}, {{"perm", perm}});
  };
  EXPECT_EQ(*transpose({2, 0, 1}), F32({4, 2, 3}));
  EXPECT_EQ(*transpose({0, 1, 2}), F32({2, 3, 4}));
  for (auto [perm, text] :
       std::vector<std::pair<std::vector<int64_t>, std::string>>{{{0, 0, 1}, "[0,0,1]"},
                                                                 {{0, 1}, "[0,1]"},
                                                                 {{0, 1, 3}, "[0,1,3]"},
                                                                 {{-1, 0, 1}, "[-1,0,1]"},
                                                                 {{0, 1, 2, 3}, "[0,1,2,3]"}}) {
    EXPECT_EQ(transpose(perm).status().message(),
              "error: transpose: perm " + text + " is not a permutation of the dims of f32[2,3,4]");
  }
}

TEST(OpsTest, ReshapeInfersOneMinusOne) {
  auto reshape = [](Shape from, Shape to) {
    return Infer("reshape", {F32(from)}, {{"shape", to}});
  };
  EXPECT_EQ(*reshape({64, 1, 28, 28}, {-1, 784}), F32({64, 784}));
  EXPECT_EQ(*reshape({64, 1, 28, 28}, {64, -1}), F32({64, 784}));
  EXPECT_EQ(*reshape({2, 3}, {-1}), F32({6}));
  EXPECT_EQ(*reshape({6}, {1, -1, 1}), F32({1, 6, 1}));
  EXPECT_EQ(*reshape({}, {1, 1}), F32({1, 1}));
  EXPECT_EQ(reshape({2, 3}, {4, -1}).status().message(),
            "error: reshape: cannot reshape f32[2,3] to [4,-1]");
  EXPECT_EQ(reshape({2, 3}, {-1, -1}).status().message(),
            "error: reshape: cannot reshape f32[2,3] to [-1,-1]");
  EXPECT_EQ(reshape({2, 3}, {5}).status().message(),
            "error: reshape: cannot reshape f32[2,3] to [5]");
  // Negative sizes other than -1 never multiply out to a valid shape.
  EXPECT_EQ(reshape({6}, {-2, -3}).status().message(),
            "error: reshape: cannot reshape f32[6] to [-2,-3]");
  EXPECT_EQ(reshape({6}, {-6, -1}).status().message(),
            "error: reshape: cannot reshape f32[6] to [-6,-1]");
}

TEST(OpsTest, BroadcastToOnlyGrows) {
  EXPECT_EQ(*Infer("broadcast_to", {F32({4, 1})}, {{"shape", Shape{2, 4, 5}}}), F32({2, 4, 5}));
  EXPECT_EQ(InferError("broadcast_to", {F32({4, 3})}, {{"shape", Shape{4, 1}}}),
            "error: broadcast_to: cannot broadcast f32[4,3] to [4,1]");
  EXPECT_EQ(InferError("broadcast_to", {F32({2, 4})}, {{"shape", Shape{4}}}),
            "error: broadcast_to: cannot broadcast f32[2,4] to [4]");
}

TEST(OpsTest, GeneratorsValidateTheirShapes) {
  EXPECT_EQ(InferError("iota", {}, {{"shape", Shape{4, 5}}, {"dim", int64_t{2}}}),
            "error: iota: dim 2 is out of range for a rank-2 tensor");
  EXPECT_EQ(InferError("random_uniform", {I64({})}, {{"shape", Shape{4, 0}}}),
            "error: random_uniform: dimension sizes must be positive, got [4,0]");
  EXPECT_EQ(InferError("random_uniform", {F32({})}, {{"shape", Shape{4}}}),
            "error: random_uniform: the random key must be an i64 scalar, got f32[]");
}

TEST(OpsTest, CompositeShapeErrorsNameBothTypes) {
  EXPECT_EQ(InferError("linear", {F32({64, 784}), F32({100, 10})}, {}, "fc1"),
            "error: linear 'fc1': input f32[64,784] does not match weight f32[100,10] "
            "(in_features 784 vs 100)");
  EXPECT_EQ(InferError("linear", {F32({64, 784}), F32({784, 10}), F32({12})}),
            "error: linear: bias f32[12] does not match weight f32[784,10] (expected f32[10])");
  // Rules accept only what the expansions can build.
  EXPECT_EQ(InferError("linear", {F32({64, 784}), F32({784, 10}), I64({10})}),
            "error: linear: bias i64[10] does not match weight f32[784,10] (expected f32[10])");
  EXPECT_EQ(InferError("linear", {F32({64, 784}), I64({784, 10})}),
            "error: linear: expects an f32 input and a 2-D f32 weight, got f32[64,784] and "
            "i64[784,10]");
  EXPECT_EQ(InferError("nll_loss", {F32({64, 10}), I64({64}), I64({10})}),
            "error: nll_loss: class weights i64[10] do not match input f32[64,10] (expected "
            "f32[10])");
  EXPECT_EQ(InferError("reduce_mean", {I64({4})}, {{"dims", std::vector<int64_t>{0}}}),
            "error: reduce_mean: the input must be f32, got i64[4]");
  EXPECT_EQ(InferError("nll_loss", {F32({64, 10}), F32({64})}),
            "error: nll_loss: target f32[64] does not match input f32[64,10] (expected i64[64] "
            "class indices)");
  EXPECT_EQ(*Infer("nll_loss", {F32({64, 10}), I64({64})}, {{"reduction", std::string("none")}}),
            F32({64}));
}

// Each composite's expansion must produce a value of the composite's own type.
TEST(OpsTest, CompositeExpansionsKeepTheirType) {
  struct Case {
    std::string op;
    std::vector<TensorType> operands;
    Attrs attrs;
  };
  const std::vector<Case> cases = {
      {"linear", {F32({64, 784}), F32({784, 256}), F32({256})}, {}},
      {"linear", {F32({8, 16, 32}), F32({32, 4})}, {}},
      {"linear", {F32({32}), F32({32, 4}), F32({4})}, {}},
      {"softmax", {F32({8, 10})}, {{"dim", int64_t{1}}}},
      {"log_softmax", {F32({8, 10})}, {{"dim", int64_t{-1}}}},
      {"nll_loss", {F32({8, 10}), I64({8})}, {}},
      {"nll_loss", {F32({8, 10}), I64({8}), F32({10})}, {{"reduction", std::string("none")}}},
      {"cross_entropy", {F32({8, 10}), I64({8}), F32({10})}, {}},
      {"cross_entropy", {F32({8, 10}), I64({8})}, {{"reduction", std::string("sum")}}},
      {"dropout", {F32({8, 10})}, {{"p", 0.25}}},
      {"flatten", {F32({8, 1, 28, 28})}, {}},
      {"reduce_mean", {F32({8, 10})}, {{"dims", std::vector<int64_t>{0, 1}}}},
  };
  for (const Case& c : cases) {
    for (bool training : {false, true}) {
      SCOPED_TRACE(c.op + (training ? " (training)" : ""));
      Graph graph;
      GraphBuilder b(graph);
      std::vector<NodeId> operands;
      for (size_t i = 0; i < c.operands.size(); ++i) {
        operands.push_back(b.Input("in" + std::to_string(i), c.operands[i]));
      }
      NodeId composite = b.Op(c.op, operands, c.attrs);
      ASSERT_TRUE(b.status().ok()) << b.status();
      Node node = graph.node(composite);
      NodeId expanded = OpOf(node).expand(b, node, training);
      ASSERT_TRUE(b.status().ok()) << b.status();
      EXPECT_EQ(graph.node(expanded).type, node.type);
      EXPECT_TRUE(VerifyGraph(graph).ok()) << VerifyGraph(graph);
    }
  }
}

TEST(OpsTest, OperandCountIsChecked) {
  EXPECT_EQ(InferError("relu", {F32({2}), F32({2})}), "error: relu takes 1 operands, got 2");
  EXPECT_EQ(InferError("linear", {F32({2, 2})}),
            "error: linear: expects (input, weight) or (input, weight, bias)");
}

// Every op carries what its traits promise, so passes can rely on the records.
TEST(OpRegistryTest, EveryOpHasWhatItsTraitsPromise) {
  const OpRegistry& registry = OpRegistry::Global();
  ASSERT_FALSE(registry.Names().empty());
  for (const std::string& name : registry.Names()) {
    SCOPED_TRACE(name);
    const OpDef& def = *registry.Find(name);
    EXPECT_EQ(def.name, name);
    EXPECT_FALSE(def.summary.empty());
    EXPECT_TRUE(def.infer_type != nullptr);
    bool needs_gradient = !def.Has(kLeaf) && !def.Has(kComposite) && !def.Has(kNoGradient);
    EXPECT_EQ(def.gradient != nullptr, needs_gradient);
    EXPECT_TRUE(!def.Has(kElementwise) || def.emit_element != nullptr);
    EXPECT_TRUE(!def.Has(kComposite) || def.expand != nullptr);
    EXPECT_TRUE(!def.Has(kIndexMap) || def.index_map != nullptr);
    EXPECT_TRUE(!def.Has(kWindow) || def.emit_window != nullptr);
    EXPECT_TRUE(!def.Has(kLeaf) || def.num_operands == 0);
    EXPECT_TRUE(!def.Has(kPersistent) || def.Has(kLeaf));
  }
}

TEST(OpRegistryTest, KnowsTheOpsTheCompilerNeeds) {
  for (const char* name :
       {"input",          "parameter", "state",         "constant",   "iota",
        "random_uniform", "add",       "sub",           "mul",        "div",
        "maximum",        "pow",       "neg",           "exp",        "log",
        "sqrt",           "relu",      "stop_gradient", "greater",    "greater_equal",
        "equal",          "select",    "cast",          "reduce_sum", "reduce_max",
        "argmax",         "reshape",   "broadcast_to",  "transpose",  "matmul",
        "linear",         "softmax",   "log_softmax",   "nll_loss",   "cross_entropy",
        "dropout",        "flatten",   "reduce_mean"}) {
    EXPECT_NE(OpRegistry::Global().Find(name), nullptr) << name;
  }
  EXPECT_EQ(OpRegistry::Global().Lookup("matmull").status().message(),
            "unknown op 'matmull', did you mean 'matmul'?");
}

}  // namespace
}  // namespace kiln::ir
