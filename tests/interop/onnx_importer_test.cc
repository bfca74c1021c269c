// kiln import on ONNX models built in C++: the .kiln text it writes, the numbers that text
// computes once compiled, and one-line errors for broken or unsupported files.
#include "interop/onnx/onnx_importer.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/checkpoint.h"
#include "support/file_io.h"
#include "tests/interop/onnx_test_models.h"
#include "tests/interop/run_imported.h"

namespace kiln::interop {
namespace {

using testing::AddInitializer;
using testing::AddInput;
using testing::AddIntInitializer;
using testing::AddNode;
using testing::AddOutput;
using testing::NewModel;
using testing::SetInt;
using testing::SetInts;

std::vector<float> Ramp(int n, float scale, float offset) {
  std::vector<float> v(n);
  for (int i = 0; i < n; ++i) v[i] = scale * static_cast<float>(i) + offset;
  return v;
}

// y[n, o] = sum_i x[n, i] * w[o, i] + b[o]: nn.Linear's form, the reference for Gemm transB=1.
std::vector<double> Linear(const std::vector<double>& x, const std::vector<float>& w,
                           const std::vector<float>& b, int in, int out) {
  const int rows = static_cast<int>(x.size()) / in;
  std::vector<double> y(rows * out);
  for (int n = 0; n < rows; ++n) {
    for (int o = 0; o < out; ++o) {
      double sum = b[o];
      for (int i = 0; i < in; ++i) sum += x[n * in + i] * w[o * in + i];
      y[n * out + o] = sum;
    }
  }
  return y;
}

void ExpectNear(const std::vector<double>& actual, const std::vector<double>& expected) {
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t i = 0; i < actual.size(); ++i) {
    EXPECT_NEAR(actual[i], expected[i], 1e-5 + 1e-5 * std::fabs(expected[i])) << "element " << i;
  }
}

// PyTorch's nn.Sequential(Linear(3, 4), ReLU(), Linear(4, 2)) as torch.onnx.export writes it.
onnx::ModelProto Mlp() {
  onnx::ModelProto model = NewModel();
  onnx::GraphProto& g = *model.mutable_graph();
  AddInput(g, "x", {-1, 3});
  AddInitializer(g, "fc1.weight", {4, 3}, Ramp(12, 0.1f, -0.6f));
  AddInitializer(g, "fc1.bias", {4}, {0.1f, -0.2f, 0.3f, 0.0f});
  AddInitializer(g, "fc2.weight", {2, 4}, Ramp(8, -0.2f, 0.7f));
  AddInitializer(g, "fc2.bias", {2}, {0.5f, -0.5f});
  SetInt(*AddNode(g, "Gemm", {"x", "fc1.weight", "fc1.bias"}, {"/fc1/Gemm_output_0"}, "/fc1/Gemm"),
         "transB", 1);
  AddNode(g, "Relu", {"/fc1/Gemm_output_0"}, {"/act/Relu_output_0"}, "/act/Relu");
  SetInt(*AddNode(g, "Gemm", {"/act/Relu_output_0", "fc2.weight", "fc2.bias"}, {"logits"},
                  "/fc2/Gemm"),
         "transB", 1);
  AddOutput(g, "logits");
  return model;
}

TEST(OnnxImporterTest, MlpBecomesReadableKilnText) {
  absl::StatusOr<ImportedModel> imported = ImportOnnxModel(
      Mlp(), {.model_name = "mlp", .weights_path = "mlp.kckpt", .source_name = "mlp.onnx"});
  ASSERT_TRUE(imported.ok()) << imported.status();
  EXPECT_EQ(
      imported->source,
      "# Imported from mlp.onnx by kiln import (producer kiln-test, IR version 8, opset 13).\n"
      "# Its weights are in mlp.kckpt (the train section's init_weights loads them).\n"
      "model mlp {\n"
      "  input x: f32[B, 3]\n"
      "  param fc1.weight: f32[4, 3] = zeros\n"
      "  param fc1.bias: f32[4] = zeros\n"
      "  param fc2.weight: f32[2, 4] = zeros\n"
      "  param fc2.bias: f32[2] = zeros\n"
      "  fc1_Gemm_output_0 = matmul(x, fc1.weight, transpose_b=true) + fc1.bias\n"
      "  act_Relu_output_0 = relu(fc1_Gemm_output_0)\n"
      "  logits = matmul(act_Relu_output_0, fc2.weight, transpose_b=true) + fc2.bias\n"
      "  # kiln import cannot know the loss: this placeholder only makes the file compile.\n"
      "  # Replace it, e.g. with `input labels: i64[B]` above and "
      "`loss = cross_entropy(logits, labels)`.\n"
      "  loss = mean(logits)\n"
      "}\n"
      "\n"
      "# A stub to edit: the data, the optimizer, what to train.\n"
      "train {\n"
      "  data = fashion_mnist(scale=1/255)\n"
      "  optimizer = sgd(lr=0.01)\n"
      "  batch_size = 64\n"
      "  epochs = 1\n"
      "  # freeze = [...]\n"
      "  init_weights = \"mlp.kckpt\"\n"
      "}\n");
  ASSERT_EQ(imported->weights.size(), 4u);
  EXPECT_EQ(imported->weights[0].name, "fc1.weight");
  EXPECT_EQ(imported->weights[0].shape, (std::vector<int64_t>{4, 3}));
}

// Older PyTorch exports F.pad(x, (1, 2), value=-1) with its pads computed from constants:
// ConstantOfShape -> Concat -> Reshape -> Slice (step -1) -> Transpose -> Reshape -> Cast -> Pad.
// The chain folds to constant pads [0, 1, 0, 2] (begins, then ends).
TEST(OnnxImporterTest, FoldsTorchPadArithmetic) {
  onnx::ModelProto model = NewModel(13);
  onnx::GraphProto& g = *model.mutable_graph();
  AddInput(g, "x", {2, 3});
  AddIntInitializer(g, "zeros_len", {1}, {2});
  AddIntInitializer(g, "given", {2}, {1, 2});
  AddIntInitializer(g, "pairs", {2}, {-1, 2});
  AddIntInitializer(g, "start", {1}, {-1});
  AddIntInitializer(g, "end", {1}, {std::numeric_limits<int64_t>::min() + 1});
  AddIntInitializer(g, "axis", {1}, {0});
  AddIntInitializer(g, "step", {1}, {-1});
  AddIntInitializer(g, "flat", {1}, {-1});
  AddInitializer(g, "fill", {}, {-1.0f});
  onnx::NodeProto* zeros = AddNode(g, "ConstantOfShape", {"zeros_len"}, {"zeros"});
  onnx::AttributeProto* value = zeros->add_attribute();
  value->set_name("value");
  value->set_type(onnx::AttributeProto::TENSOR);
  value->mutable_t()->set_data_type(onnx::TensorProto::INT64);
  value->mutable_t()->add_dims(1);
  value->mutable_t()->add_int64_data(0);
  SetInt(*AddNode(g, "Concat", {"given", "zeros"}, {"all"}), "axis", 0);
  AddNode(g, "Reshape", {"all", "pairs"}, {"as_pairs"});
  AddNode(g, "Slice", {"as_pairs", "start", "end", "axis", "step"}, {"reversed"});
  SetInts(*AddNode(g, "Transpose", {"reversed"}, {"by_side"}), "perm", {1, 0});
  AddNode(g, "Reshape", {"by_side", "flat"}, {"pads_f"});
  SetInt(*AddNode(g, "Cast", {"pads_f"}, {"pads"}), "to", onnx::TensorProto::INT64);
  AddNode(g, "Pad", {"x", "pads", "fill"}, {"y"});
  AddOutput(g, "y");
  absl::StatusOr<ImportedModel> imported = ImportOnnxModel(model, {});
  ASSERT_TRUE(imported.ok()) << imported.status();
  absl::StatusOr<TensorValuesByName> out =
      RunImported(*imported, {{"x", {1, 2, 3, 4, 5, 6}}}, /*batch=*/1);
  ASSERT_TRUE(out.ok()) << out.status() << "\n" << imported->source;
  const std::vector<double> want = {-1, 1, 2, 3, -1, -1, -1, 4, 5, 6, -1, -1};
  EXPECT_EQ(out->at("y"), want) << imported->source;
}

TEST(OnnxImporterTest, MlpComputesWhatPyTorchWould) {
  absl::StatusOr<ImportedModel> imported = ImportOnnxModel(Mlp(), {});
  ASSERT_TRUE(imported.ok()) << imported.status();
  const std::vector<double> x = {0.5, -1.0, 2.0, 1.5, 0.25, -0.75};
  absl::StatusOr<TensorValuesByName> out = RunImported(*imported, {{"x", x}}, /*batch=*/2);
  ASSERT_TRUE(out.ok()) << out.status();
  std::vector<double> h = Linear(x, Ramp(12, 0.1f, -0.6f), {0.1f, -0.2f, 0.3f, 0.0f}, 3, 4);
  for (double& v : h) v = std::max(v, 0.0);
  ExpectNear(out->at("logits"), Linear(h, Ramp(8, -0.2f, 0.7f), {0.5f, -0.5f}, 4, 2));
}

// conv(3x3, pad 1) -> relu -> maxpool(2, stride 2) -> flatten -> Gemm, on a 1x1x4x4 image.
TEST(OnnxImporterTest, CnnComputesWhatPyTorchWould) {
  onnx::ModelProto model = NewModel();
  onnx::GraphProto& g = *model.mutable_graph();
  AddInput(g, "image", {-1, 1, 4, 4});
  const std::vector<float> kernel = Ramp(18, 0.05f, -0.4f);
  const std::vector<float> conv_bias = {0.1f, -0.1f};
  const std::vector<float> fc_weight = Ramp(24, 0.03f, -0.3f);
  const std::vector<float> fc_bias = {0.0f, 0.2f, -0.2f};
  AddInitializer(g, "conv1.weight", {2, 1, 3, 3}, kernel);
  AddInitializer(g, "conv1.bias", {2}, conv_bias);
  AddInitializer(g, "fc.weight", {3, 8}, fc_weight);
  AddInitializer(g, "fc.bias", {3}, fc_bias);
  onnx::NodeProto* conv = AddNode(g, "Conv", {"image", "conv1.weight", "conv1.bias"}, {"c"});
  SetInts(*conv, "pads", {1, 1, 1, 1});
  SetInts(*conv, "kernel_shape", {3, 3});
  AddNode(g, "Relu", {"c"}, {"r"});
  onnx::NodeProto* pool = AddNode(g, "MaxPool", {"r"}, {"p"});
  SetInts(*pool, "kernel_shape", {2, 2});
  SetInts(*pool, "strides", {2, 2});
  AddNode(g, "Flatten", {"p"}, {"f"});
  SetInt(*AddNode(g, "Gemm", {"f", "fc.weight", "fc.bias"}, {"y"}), "transB", 1);
  AddOutput(g, "y");

  absl::StatusOr<ImportedModel> imported = ImportOnnxModel(model, {});
  ASSERT_TRUE(imported.ok()) << imported.status();
  EXPECT_NE(imported->source.find("  c = conv2d(image, 1, 2, [3, 3], stride=[1, 1], "
                                  "padding=[1, 1], dilation=[1, 1], groups=1, name=conv1)\n"),
            std::string::npos)
      << imported->source;
  EXPECT_NE(imported->source.find("  f = flatten(p, start_dim=1)\n"), std::string::npos);

  std::vector<double> x(16);
  for (int i = 0; i < 16; ++i) x[i] = 0.1 * i - 0.5;
  absl::StatusOr<TensorValuesByName> out = RunImported(*imported, {{"image", x}}, /*batch=*/1);
  ASSERT_TRUE(out.ok()) << out.status() << "\n" << imported->source;

  // The reference: direct convolution, relu, 2x2 max pooling, then the linear layer.
  std::vector<double> pooled(8, -1e30);
  for (int o = 0; o < 2; ++o) {
    for (int i = 0; i < 4; ++i) {
      for (int j = 0; j < 4; ++j) {
        double sum = conv_bias[o];
        for (int u = 0; u < 3; ++u) {
          for (int v = 0; v < 3; ++v) {
            const int r = i + u - 1, c = j + v - 1;
            if (r >= 0 && r < 4 && c >= 0 && c < 4) sum += x[r * 4 + c] * kernel[o * 9 + u * 3 + v];
          }
        }
        double& cell = pooled[o * 4 + (i / 2) * 2 + j / 2];
        cell = std::max(cell, std::max(sum, 0.0));
      }
    }
  }
  ExpectNear(out->at("y"), Linear(pooled, fc_weight, fc_bias, 8, 3));
}

// Uneven pads (bottom and right only, as for padding="same" with an even kernel) become an
// explicit pad before conv2d.
TEST(OnnxImporterTest, AsymmetricConvPadsBecomeAnExplicitPad) {
  onnx::ModelProto model = NewModel();
  onnx::GraphProto& g = *model.mutable_graph();
  AddInput(g, "x", {1, 1, 3, 3});
  const std::vector<float> kernel = {1.0f, 2.0f, 3.0f, 4.0f};
  AddInitializer(g, "w", {1, 1, 2, 2}, kernel);
  SetInts(*AddNode(g, "Conv", {"x", "w"}, {"y"}), "pads", {0, 0, 1, 1});
  AddOutput(g, "y");
  absl::StatusOr<ImportedModel> imported = ImportOnnxModel(model, {});
  ASSERT_TRUE(imported.ok()) << imported.status();
  EXPECT_NE(imported->source.find("  y = conv2d(pad(x, [0, 1, 0, 1]), 1, 1, [2, 2], stride=[1, 1], "
                                  "padding=[0, 0], dilation=[1, 1], groups=1, bias=false, name=y)"),
            std::string::npos)
      << imported->source;

  const std::vector<double> x = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  absl::StatusOr<TensorValuesByName> out = RunImported(*imported, {{"x", x}}, /*batch=*/1);
  ASSERT_TRUE(out.ok()) << out.status();
  std::vector<double> expected(9, 0.0);
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 3; ++j) {
      for (int u = 0; u < 2; ++u) {
        for (int v = 0; v < 2; ++v) {
          if (i + u < 3 && j + v < 3)
            expected[i * 3 + j] += x[(i + u) * 3 + j + v] * kernel[u * 2 + v];
        }
      }
    }
  }
  ExpectNear(out->at("y"), expected);
}

// A torchvision block's conv and batch norm as torch.onnx.export (TrainingMode.PRESERVE) writes
// them: the layers keep the state_dict's numbered module paths (quoted for name=), and equal
// initializers are deduplicated into one plus Identity nodes, which are constants too.
TEST(OnnxImporterTest, LayersKeepStateDictNamesThroughDeduplicatedInitializers) {
  onnx::ModelProto model = NewModel();
  onnx::GraphProto& g = *model.mutable_graph();
  AddInput(g, "x", {-1, 2, 1, 1});
  AddInitializer(g, "layer1.0.conv1.weight", {2, 2, 1, 1}, {1.0f, 2.0f, 3.0f, 4.0f});
  AddInitializer(g, "layer1.0.bn1.weight", {2}, {2.0f, 0.5f});
  AddInitializer(g, "layer1.0.bn1.bias", {2}, {0.25f, -0.25f});
  AddInitializer(g, "layer1.0.bn1.running_mean", {2}, {1.0f, -1.0f});
  AddNode(g, "Identity", {"layer1.0.bn1.weight"}, {"layer1.0.bn1.running_var"});
  AddNode(g, "Conv", {"x", "layer1.0.conv1.weight"}, {"c"}, "/layer1/layer1.0/conv1/Conv");
  AddNode(g, "BatchNormalization",
          {"c", "layer1.0.bn1.weight", "layer1.0.bn1.bias", "layer1.0.bn1.running_mean",
           "layer1.0.bn1.running_var"},
          {"y"}, "/layer1/layer1.0/bn1/BatchNormalization");
  AddOutput(g, "y");  // A layer's output (named by its name=, not the binding) as the output.
  absl::StatusOr<ImportedModel> imported = ImportOnnxModel(model, {});
  ASSERT_TRUE(imported.ok()) << imported.status();
  EXPECT_NE(imported->source.find("bias=false, name=\"layer1.0.conv1\")"), std::string::npos)
      << imported->source;
  EXPECT_NE(imported->source.find("name=\"layer1.0.bn1\")"), std::string::npos) << imported->source;
  std::vector<std::string> names;
  for (const runtime::CheckpointTensor& w : imported->weights) names.push_back(w.name);
  EXPECT_EQ(names, (std::vector<std::string>{"layer1.0.conv1.weight", "layer1.0.bn1.weight",
                                             "layer1.0.bn1.bias", "layer1.0.bn1.running_mean",
                                             "layer1.0.bn1.running_var"}));
  EXPECT_EQ(imported->weights[4].bytes, imported->weights[1].bytes);

  // c = [1*1 + 2*2, 3*1 + 4*2] = [5, 11]; y = (c - mean) / sqrt(var + eps) * weight + bias.
  absl::StatusOr<TensorValuesByName> out = RunImported(*imported, {{"x", {1, 2}}}, /*batch=*/1);
  ASSERT_TRUE(out.ok()) << out.status() << "\n" << imported->source;
  ExpectNear(out->at("y"), {(5.0 - 1.0) / std::sqrt(2.0 + 1e-5) * 2.0 + 0.25,
                            (11.0 + 1.0) / std::sqrt(0.5 + 1e-5) * 0.5 - 0.25});
}

// x.view(x.size(0), -1) as torch.onnx.export writes it: the shape arithmetic folds away and the
// batch dim stays symbolic.
TEST(OnnxImporterTest, ShapeSubgraphFoldsIntoReshapeWithB) {
  onnx::ModelProto model = NewModel();
  onnx::GraphProto& g = *model.mutable_graph();
  AddInput(g, "x", {-1, 2, 3});
  AddIntInitializer(g, "zero", {}, {0});
  AddIntInitializer(g, "axes", {1}, {0});
  AddIntInitializer(g, "minus_one", {1}, {-1});
  AddNode(g, "Relu", {"x"}, {"r"});
  AddNode(g, "Shape", {"r"}, {"shape"});
  AddNode(g, "Gather", {"shape", "zero"}, {"batch"});
  AddNode(g, "Unsqueeze", {"batch", "axes"}, {"batch_1d"});
  AddNode(g, "Concat", {"batch_1d", "minus_one"}, {"target"})->add_attribute()->set_name("axis");
  AddNode(g, "Reshape", {"r", "target"}, {"flat"});
  AddOutput(g, "flat");
  absl::StatusOr<ImportedModel> imported = ImportOnnxModel(model, {});
  ASSERT_TRUE(imported.ok()) << imported.status();
  EXPECT_NE(imported->source.find("  r = relu(x)\n  flat = reshape(r, [B, -1])\n"),
            std::string::npos)
      << imported->source;
  EXPECT_TRUE(imported->weights.empty());

  const std::vector<double> x = {1, -2, 3, -4, 5, -6, -7, 8, -9, 10, -11, 12};
  absl::StatusOr<TensorValuesByName> out = RunImported(*imported, {{"x", x}}, /*batch=*/2);
  ASSERT_TRUE(out.ok()) << out.status();
  std::vector<double> expected = x;
  for (double& v : expected) v = std::max(v, 0.0);
  ExpectNear(out->at("flat"), expected);
}

TEST(OnnxImporterTest, WeightsFileIsACheckpointInitWeightsReads) {
  absl::StatusOr<ImportedModel> imported = ImportOnnxModel(Mlp(), {});
  ASSERT_TRUE(imported.ok()) << imported.status();
  const std::string path = ::testing::TempDir() + "/onnx_mlp.kckpt";
  ASSERT_TRUE(WriteFileAtomically(path, EncodeWeights("mlp", imported->weights)).ok());
  absl::StatusOr<runtime::Checkpoint> checkpoint = runtime::ReadCheckpoint(path);
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  ASSERT_EQ(checkpoint->tensors.size(), 4u);
  EXPECT_EQ(checkpoint->tensors[3].name, "fc2.bias");
  EXPECT_EQ(checkpoint->tensors[3].bytes, imported->weights[3].bytes);
}

std::string ImportError(const std::string& bytes) {
  absl::StatusOr<ImportedModel> imported = ImportOnnx(bytes, {});
  EXPECT_FALSE(imported.ok());
  return std::string(imported.status().message());
}

TEST(OnnxImporterTest, GarbageAndTruncatedFilesAreOneLineErrors) {
  EXPECT_EQ(ImportError("this is not a protobuf \x01\x02\xff"),
            "not an ONNX model (the protobuf does not parse)");
  EXPECT_EQ(ImportError(""), "not an ONNX model (the protobuf does not parse)");
  const std::string bytes = Mlp().SerializeAsString();
  for (size_t cut : {bytes.size() / 3, bytes.size() / 2, bytes.size() - 1}) {
    const std::string message = ImportError(bytes.substr(0, cut));
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    EXPECT_FALSE(message.empty());
  }
}

TEST(OnnxImporterTest, CyclicGraphIsAnError) {
  onnx::ModelProto model = NewModel();
  onnx::GraphProto& g = *model.mutable_graph();
  AddInput(g, "x", {2});
  AddNode(g, "Add", {"x", "b"}, {"a"}, "first");
  AddNode(g, "Relu", {"a"}, {"b"}, "second");
  AddOutput(g, "b");
  absl::StatusOr<ImportedModel> imported = ImportOnnxModel(model, {});
  ASSERT_FALSE(imported.ok());
  EXPECT_EQ(imported.status().message(), "the graph has a cycle through node 'first' (Add)");
}

TEST(OnnxImporterTest, MissingInitializerNamesTheNodeAndValue) {
  onnx::ModelProto model = Mlp();
  model.mutable_graph()->mutable_initializer()->RemoveLast();  // fc2.bias
  absl::StatusOr<ImportedModel> imported = ImportOnnxModel(model, {});
  ASSERT_FALSE(imported.ok());
  EXPECT_EQ(imported.status().message(),
            "node Gemm '/fc2/Gemm' (opset 13): reads 'fc2.bias', which no node, graph input or "
            "initializer defines");
}

TEST(OnnxImporterTest, UnsupportedOpNamesOpNodeAndOpset) {
  onnx::ModelProto model = NewModel(17);
  onnx::GraphProto& g = *model.mutable_graph();
  AddInput(g, "x", {2, 2});
  AddNode(g, "Einsum", {"x", "x"}, {"y"}, "attention/einsum");
  AddOutput(g, "y");
  absl::StatusOr<ImportedModel> imported = ImportOnnxModel(model, {});
  ASSERT_FALSE(imported.ok());
  EXPECT_EQ(imported.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_EQ(imported.status().message(),
            "node Einsum 'attention/einsum' (opset 17): op Einsum is not supported by kiln import");
}

TEST(OnnxImporterTest, HugeDeclaredDimsAreRefusedBeforeAllocating) {
  onnx::ModelProto model = Mlp();
  onnx::TensorProto* weight = model.mutable_graph()->mutable_initializer(0);
  weight->clear_float_data();
  weight->clear_dims();
  weight->add_dims(int64_t{1} << 40);
  weight->add_dims(int64_t{1} << 40);
  absl::StatusOr<ImportedModel> imported = ImportOnnxModel(model, {});
  ASSERT_FALSE(imported.ok());
  EXPECT_EQ(imported.status().message(),
            "tensor 'fc1.weight': dims are negative or too large (1099511627776)");

  weight->clear_dims();
  weight->add_dims(4);
  weight->add_dims(3);  // The right dims, but no data.
  imported = ImportOnnxModel(model, {});
  ASSERT_FALSE(imported.ok());
  EXPECT_EQ(imported.status().message(), "tensor 'fc1.weight': holds 0 values, the dims need 12");
}

TEST(OnnxImporterTest, OpsetOutsideTheSupportedRangeIsAnError) {
  onnx::ModelProto model = Mlp();
  model.mutable_opset_import(0)->set_version(7);
  absl::StatusOr<ImportedModel> imported = ImportOnnxModel(model, {});
  ASSERT_FALSE(imported.ok());
  EXPECT_EQ(imported.status().message(), "opset 7 is outside what kiln import reads (9-21)");
}

}  // namespace
}  // namespace kiln::interop
