// `kiln import` as a user runs it: the files it writes, the weights kiln train then loads by
// name, and one-line errors for files that are not ONNX models.
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/e2e/kiln_process.h"
#include "tests/interop/onnx_test_models.h"

namespace kiln::interop {
namespace {

using e2e::RunKiln;
using e2e::TempDir;
using testing::AddInitializer;
using testing::AddInput;
using testing::AddNode;
using testing::AddOutput;
using testing::NewModel;
using testing::SetInt;

// A Fashion-MNIST-shaped classifier: Gemm(784 -> 10) then LogSoftmax.
std::string Classifier() {
  onnx::ModelProto model = NewModel();
  onnx::GraphProto& g = *model.mutable_graph();
  AddInput(g, "image", {-1, 784});
  AddInitializer(g, "head.weight", {10, 784}, std::vector<float>(7840, 0.001f));
  AddInitializer(g, "head.bias", {10}, std::vector<float>(10, 0.0f));
  SetInt(*AddNode(g, "Gemm", {"image", "head.weight", "head.bias"}, {"logits"}, "head"), "transB",
         1);
  AddNode(g, "LogSoftmax", {"logits"}, {"log_probs"}, "log_softmax");
  AddOutput(g, "log_probs");
  return model.SerializeAsString();
}

TEST(KilnImportCliTest, WritesModelAndWeightsThatKilnTrainLoads) {
  TempDir dir;
  dir.Write("classifier.onnx", Classifier());
  e2e::RunResult import =
      RunKiln({"import", dir.File("classifier.onnx"), "-o", dir.File("classifier.kiln")});
  ASSERT_EQ(import.exit_code, 0) << import.err;
  EXPECT_EQ(import.out, "kiln: wrote " + dir.File("classifier.kiln") + " and " +
                            dir.File("classifier.kckpt") + " (2 tensors)\n");
  const std::string source = e2e::ReadFile(dir.File("classifier.kiln"));
  EXPECT_NE(source.find("model classifier {\n  input image: f32[B, 784]\n"), std::string::npos);
  EXPECT_NE(source.find("  init_weights = \"" + dir.File("classifier.kckpt") + "\"\n"),
            std::string::npos)
      << source;

  e2e::RunResult compile = RunKiln({"compile", dir.File("classifier.kiln")});
  EXPECT_EQ(compile.exit_code, 0) << compile.err;
  if (!e2e::HaveFashionMnist()) GTEST_SKIP() << "Fashion-MNIST is not installed";
  // The edit the file asks for: a labels input and a real loss in place of the placeholder.
  const std::string placeholder = "  loss = mean(log_probs)\n";
  const size_t at = source.find(placeholder);
  ASSERT_NE(at, std::string::npos) << source;
  std::string edited = source;
  edited.replace(at, placeholder.size(),
                 "  input labels: i64[B]\n  loss = nll_loss(log_probs, labels)\n");
  dir.Write("classifier.kiln", edited);
  // The train section's init_weights names the weights file: no --init-weights needed.
  e2e::RunResult train = RunKiln({"train", dir.File("classifier.kiln"), "--epochs", "1",
                                  "--train-limit", "128", "--test-limit", "64"});
  ASSERT_EQ(train.exit_code, 0) << train.err << train.out;
  EXPECT_NE((train.out + train.err).find("loaded 2 tensors (7850 values)"), std::string::npos)
      << train.out << train.err;
}

TEST(KilnImportCliTest, NotAnOnnxFileIsOneLineError) {
  TempDir dir;
  dir.Write("broken.onnx", "\x08\x07\x3a\xff\xff\xff\xff\x0f garbage");
  e2e::RunResult import = RunKiln({"import", dir.File("broken.onnx"), "-o", dir.File("b.kiln")});
  EXPECT_EQ(import.exit_code, 1);
  EXPECT_EQ(import.err, "kiln: " + dir.File("broken.onnx") +
                            ": not an ONNX model (the protobuf does not parse)\n");
  EXPECT_FALSE(std::filesystem::exists(dir.File("b.kiln")));
}

}  // namespace
}  // namespace kiln::interop
