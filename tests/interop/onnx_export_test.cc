// kiln export, checked by kiln's own importer: every example model, with deterministic weights,
// is exported, the ONNX model is imported back and both are compiled and run on the same batch;
// the outputs agree. Plus the batch dim's symbol and one-line errors for bad weights.
#include "interop/onnx/onnx_exporter.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "ir/op_registry.h"
#include "passes/training_step.h"
#include "support/status.h"
#include "tests/interop/run_imported.h"
#include "tools/graph_runner.h"

namespace kiln::interop {
namespace {

// Small values that differ per element and per tensor; variances (running_var) stay positive.
std::vector<double> Values(int64_t n, int64_t salt, bool positive) {
  std::vector<double> v(n);
  uint64_t state = 0x9e3779b97f4a7c15ull * (salt + 1);
  for (int64_t i = 0; i < n; ++i) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    const double u = static_cast<double>(state >> 11) / static_cast<double>(1ull << 53);
    v[i] = positive ? 0.5 + u : (u - 0.5) * 0.4;
  }
  return v;
}

runtime::CheckpointTensor Tensor(const ir::Node& node, const std::vector<double>& values) {
  runtime::CheckpointTensor t{.name = node.name, .shape = node.type.shape};
  if (node.type.dtype == ir::DType::kI64) {
    t.type = runtime::ElementType::kI64;
    std::vector<int64_t> ints(values.begin(), values.end());
    t.bytes.assign(reinterpret_cast<const char*>(ints.data()), ints.size() * 8);
  } else {
    std::vector<float> floats(values.begin(), values.end());
    t.bytes.assign(reinterpret_cast<const char*>(floats.data()), floats.size() * 4);
  }
  return t;
}

struct Reference {
  std::vector<runtime::CheckpointTensor> weights;
  std::map<std::string, std::vector<double>> inputs;  // By input name.
  std::vector<double> output;
};

// The model run by kiln directly: its evaluation step's prediction on a batch of `batch`.
absl::StatusOr<Reference> RunKiln(const frontend::ModelAst& ast, int64_t batch) {
  KILN_ASSIGN_OR_RETURN(ir::Graph graph,
                        frontend::LowerModel(ast, {{frontend::BatchDimName(ast), batch}}));
  const ir::NodeId prediction = graph.node(graph.Output("loss")).operands[0];
  graph.outputs.emplace_back("out.prediction", prediction);
  Reference ref;
  int64_t salt = 0;
  for (const ir::Node& node : graph.nodes()) {
    if (ir::OpOf(node).Has(ir::kPersistent)) {
      const bool positive = node.name.find("running_var") != std::string::npos;
      ref.weights.push_back(Tensor(node, Values(node.type.num_elements(), ++salt, positive)));
    } else if (ir::OpOf(node).IsBoundLeaf()) {  // An input.
      std::vector<double> values = Values(node.type.num_elements(), 1000 + ++salt, false);
      if (node.type.dtype == ir::DType::kI64) std::fill(values.begin(), values.end(), 0.0);
      for (double& v : values) v *= 5;
      ref.inputs[node.name] = values;
    }
  }
  KILN_ASSIGN_OR_RETURN(ir::Graph eval, passes::BuildEvalStep(graph));
  KILN_ASSIGN_OR_RETURN(auto runner, tools::GraphRunner::Compile(std::move(eval)));
  for (const runtime::CheckpointTensor& w : ref.weights) {
    KILN_RETURN_IF_ERROR(runner->Set(w.name, TensorValues(w)));
  }
  for (const auto& [name, values] : ref.inputs) {
    // Inputs the evaluation step does not read (a regression's unused labels) have no buffer.
    (void)runner->Set(name, values);
  }
  KILN_RETURN_IF_ERROR(runner->Run());
  KILN_ASSIGN_OR_RETURN(ref.output, runner->Read("out.prediction"));
  return ref;
}

double MaxRelativeError(const std::vector<double>& got, const std::vector<double>& want) {
  double worst = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    worst = std::max(worst, std::abs(got[i] - want[i]) / (1e-3 + std::abs(want[i])));
  }
  return worst;
}

std::vector<std::string> ExampleModels() {
  std::vector<std::string> paths;
  for (const auto& entry : std::filesystem::directory_iterator("examples")) {
    if (entry.path().extension() == ".kiln") paths.push_back(entry.path().string());
  }
  std::sort(paths.begin(), paths.end());
  return paths;
}

class ExportExampleTest : public ::testing::TestWithParam<std::string> {};

// Export, import back with kiln import, run both on a batch of 3 (not the batch size the
// exporter probes with): the same numbers.
TEST_P(ExportExampleTest, ImportsBackWithTheSameOutputs) {
  absl::StatusOr<frontend::ModelAst> ast = frontend::ParseModelFile(GetParam());
  ASSERT_TRUE(ast.ok()) << ast.status();
  constexpr int64_t kBatch = 3;
  absl::StatusOr<Reference> ref = RunKiln(*ast, kBatch);
  ASSERT_TRUE(ref.ok()) << ref.status();
  absl::StatusOr<ExportedModel> exported = ExportOnnx(*ast, ref->weights, {.opset = 20});
  ASSERT_TRUE(exported.ok()) << exported.status();
  const onnx::GraphProto& graph = exported->model.graph();
  ASSERT_EQ(graph.output_size(), 1);
  absl::StatusOr<ImportedModel> imported = ImportOnnxModel(exported->model, {});
  ASSERT_TRUE(imported.ok()) << imported.status();
  TensorValuesByName inputs;
  for (const onnx::ValueInfoProto& input : graph.input()) {
    inputs[input.name()] = ref->inputs.at(input.name());
  }
  absl::StatusOr<TensorValuesByName> outputs = RunImported(*imported, inputs, kBatch);
  ASSERT_TRUE(outputs.ok()) << outputs.status();
  const std::vector<double>& got = outputs->at(graph.output(0).name());
  ASSERT_EQ(got.size(), ref->output.size());
  EXPECT_LT(MaxRelativeError(got, ref->output), 1e-4);
}

INSTANTIATE_TEST_SUITE_P(Examples, ExportExampleTest, ::testing::ValuesIn(ExampleModels()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string name = std::filesystem::path(info.param).stem().string();
                           return name;
                         });

constexpr char kMlp[] = R"(model mlp {
  input x: f32[B, 4]
  input y: i64[B]
  h = relu(linear(x, 3, name="fc1"))
  logits = linear(h, 2, name="fc2")
  loss = cross_entropy(logits, y)
}
train { batch_size = 8 }
)";

TEST(OnnxExportTest, KeepsNamesAndASymbolicBatchDim) {
  absl::StatusOr<frontend::ModelAst> ast = frontend::ParseModel(kMlp, "mlp.kiln");
  ASSERT_TRUE(ast.ok()) << ast.status();
  absl::StatusOr<Reference> ref = RunKiln(*ast, 2);
  ASSERT_TRUE(ref.ok()) << ref.status();
  absl::StatusOr<ExportedModel> exported = ExportOnnx(*ast, ref->weights, {});
  ASSERT_TRUE(exported.ok()) << exported.status();
  EXPECT_TRUE(exported->symbolic_batch);
  const onnx::ModelProto& model = exported->model;
  EXPECT_EQ(model.opset_import(0).version(), 17);
  ASSERT_EQ(model.graph().input_size(), 1);  // The labels are the loss's business.
  EXPECT_EQ(model.graph().input(0).name(), "x");
  EXPECT_EQ(model.graph().input(0).type().tensor_type().shape().dim(0).dim_param(), "N");
  EXPECT_EQ(model.graph().output(0).name(), "fc2");  // The value loss compares: fc2's.
  std::vector<std::string> initializers;
  for (const onnx::TensorProto& t : model.graph().initializer()) initializers.push_back(t.name());
  EXPECT_NE(std::find(initializers.begin(), initializers.end(), "fc1.weight"), initializers.end());
  EXPECT_NE(std::find(initializers.begin(), initializers.end(), "fc2.bias"), initializers.end());
}

TEST(OnnxExportTest, MissingOrMisshapenWeightsAreOneLineErrors) {
  absl::StatusOr<frontend::ModelAst> ast = frontend::ParseModel(kMlp, "mlp.kiln");
  ASSERT_TRUE(ast.ok()) << ast.status();
  absl::StatusOr<Reference> ref = RunKiln(*ast, 2);
  ASSERT_TRUE(ref.ok()) << ref.status();
  std::vector<runtime::CheckpointTensor> missing = ref->weights;
  missing.erase(missing.begin());
  absl::StatusOr<ExportedModel> exported = ExportOnnx(*ast, missing, {});
  ASSERT_FALSE(exported.ok());
  EXPECT_NE(exported.status().message().find("no tensor 'fc1.weight'"), std::string::npos)
      << exported.status();
  std::vector<runtime::CheckpointTensor> wrong = ref->weights;
  wrong[0].shape = {3, 4};
  exported = ExportOnnx(*ast, wrong, {});
  ASSERT_FALSE(exported.ok());
  EXPECT_NE(exported.status().message().find("has shape [3,4]"), std::string::npos)
      << exported.status();
  EXPECT_EQ(ExportOnnx(*ast, ref->weights, {.opset = 7}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace kiln::interop
