// `kiln export` and `kiln run` as a user runs them: an imported model exported back to ONNX runs
// to the same numbers as its .kiln form; --test-dir exits 0 only on a match; broken files are
// one-line errors; ONNX's own node tests (libonnx-testdata, when installed) pass from the
// command line.
#include <cmath>
#include <filesystem>
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

// Gemm(4 -> 3) then LogSoftmax, weights 0.1 * (o + 1) so the classes differ.
std::string Classifier() {
  onnx::ModelProto model = NewModel();
  onnx::GraphProto& g = *model.mutable_graph();
  AddInput(g, "image", {-1, 4});
  std::vector<float> w;
  for (int o = 0; o < 3; ++o) w.insert(w.end(), 4, 0.1f * (o + 1));
  AddInitializer(g, "head.weight", {3, 4}, w);
  AddInitializer(g, "head.bias", {3}, std::vector<float>(3, 0.0f));
  SetInt(*AddNode(g, "Gemm", {"image", "head.weight", "head.bias"}, {"logits"}, "head"), "transB",
         1);
  AddNode(g, "LogSoftmax", {"logits"}, {"log_probs"}, "log_softmax");
  AddOutput(g, "log_probs");
  return model.SerializeAsString();
}

std::string Tensor(const std::string& name, std::vector<int64_t> dims, std::vector<float> values) {
  onnx::TensorProto t;
  t.set_name(name);
  t.set_data_type(onnx::TensorProto::FLOAT);
  for (int64_t d : dims) t.add_dims(d);
  for (float v : values) t.add_float_data(v);
  return t.SerializeAsString();
}

// log_softmax of x.sum * [0.1, 0.2, 0.3] for a row x of ones: x.sum = 4.
std::vector<float> ExpectedRow() {
  const double z[3] = {0.4, 0.8, 1.2};
  const double lse = std::log(std::exp(z[0]) + std::exp(z[1]) + std::exp(z[2]));
  return {static_cast<float>(z[0] - lse), static_cast<float>(z[1] - lse),
          static_cast<float>(z[2] - lse)};
}

TEST(KilnRunCliTest, ExportedModelRunsLikeItsKilnForm) {
  TempDir dir;
  dir.Write("classifier.onnx", Classifier());
  dir.Write("x.pb", Tensor("image", {2, 4}, std::vector<float>(8, 1.0f)));
  ASSERT_EQ(RunKiln({"import", dir.File("classifier.onnx"), "-o", dir.File("c.kiln")}).exit_code, 0);
  e2e::RunResult exported = RunKiln({"export", dir.File("c.kiln"), "--weights", dir.File("c.kckpt"),
                                     "-o", dir.File("back.onnx")});
  ASSERT_EQ(exported.exit_code, 0) << exported.err;
  EXPECT_NE(exported.out.find("batch N"), std::string::npos) << exported.out;

  e2e::RunResult from_kiln = RunKiln({"run", dir.File("c.kiln"), "--weights", dir.File("c.kckpt"),
                                      "--input", "image=" + dir.File("x.pb")});
  e2e::RunResult from_onnx = RunKiln({"run", dir.File("back.onnx"), "--input",
                                      "image=" + dir.File("x.pb"), "-o", dir.File("out")});
  ASSERT_EQ(from_kiln.exit_code, 0) << from_kiln.err;
  ASSERT_EQ(from_onnx.exit_code, 0) << from_onnx.err;
  EXPECT_NE(from_kiln.out.find("log_probs [2,3]: -1.55125 -1.15125 -0.751251"), std::string::npos) << from_kiln.out;
  ASSERT_TRUE(std::filesystem::exists(dir.File("out/log_probs.kt"))) << from_onnx.out;
  onnx::TensorProto written;
  ASSERT_TRUE(written.ParseFromString(e2e::ReadFile(dir.File("out/log_probs.pb"))));
  ASSERT_EQ(written.raw_data().size(), 6 * sizeof(float));
  const float* values = reinterpret_cast<const float*>(written.raw_data().data());
  for (int i = 0; i < 6; ++i) EXPECT_NEAR(values[i], ExpectedRow()[i % 3], 1e-5) << i;
}

TEST(KilnRunCliTest, TestDirExitsZeroOnlyOnAMatch) {
  TempDir dir;
  dir.Write("classifier.onnx", Classifier());
  std::filesystem::create_directories(dir.File("good"));
  std::filesystem::create_directories(dir.File("bad"));
  std::vector<float> row = ExpectedRow();
  dir.Write("good/input_0.pb", Tensor("image", {1, 4}, std::vector<float>(4, 1.0f)));
  dir.Write("good/output_0.pb", Tensor("log_probs", {1, 3}, row));
  dir.Write("bad/input_0.pb", Tensor("image", {1, 4}, std::vector<float>(4, 1.0f)));
  row[1] += 0.01f;
  dir.Write("bad/output_0.pb", Tensor("log_probs", {1, 3}, row));
  e2e::RunResult good = RunKiln({"run", dir.File("classifier.onnx"), "--test-dir", dir.File("good")});
  EXPECT_EQ(good.exit_code, 0) << good.out << good.err;
  e2e::RunResult bad = RunKiln({"run", dir.File("classifier.onnx"), "--test-dir", dir.File("bad")});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.out.find("MISMATCH log_probs: element 1"), std::string::npos) << bad.out;
}

TEST(KilnRunCliTest, BrokenFilesAreOneLineErrors) {
  TempDir dir;
  const std::string model = Classifier();
  dir.Write("truncated.onnx", model.substr(0, model.size() / 2));
  dir.Write("garbage.onnx", std::string("\xff\xff\xff\xff not protobuf", 18));
  dir.Write("classifier.onnx", model);
  dir.Write("garbage.pb", std::string("\xff\xff\xff\xff", 4));
  // A TensorProto declaring 2^40 elements it does not hold.
  dir.Write("huge.pb", Tensor("image", {1 << 20, 1 << 20}, {1.0f}));
  const std::vector<std::vector<std::string>> runs = {
      {"run", dir.File("truncated.onnx"), "--input", "image=" + dir.File("garbage.pb")},
      {"run", dir.File("garbage.onnx"), "--input", "image=" + dir.File("garbage.pb")},
      {"run", dir.File("missing.onnx"), "--input", "image=x.pb"},
      {"run", dir.File("classifier.onnx"), "--input", "image=" + dir.File("garbage.pb")},
      {"run", dir.File("classifier.onnx"), "--input", "image=" + dir.File("huge.pb")},
      {"run", dir.File("classifier.onnx")},
      {"export", "examples/fashion_mlp.kiln", "--weights", dir.File("classifier.onnx"), "-o",
       dir.File("x.onnx")},
      {"export", "examples/missing.kiln", "--weights", dir.File("w"), "-o", dir.File("x.onnx")},
  };
  for (const std::vector<std::string>& args : runs) {
    e2e::RunResult run = RunKiln(args);
    EXPECT_TRUE(run.exited) << args[1];
    EXPECT_EQ(run.exit_code, 1) << args[1] << ": " << run.err;
    EXPECT_EQ(run.err.rfind("kiln: ", 0), 0u) << run.err;
    EXPECT_EQ(run.err.find('\n'), run.err.size() - 1) << run.err;
  }
}

TEST(KilnRunCliTest, RunsOnnxNodeTests) {
  const std::filesystem::path node = "/usr/share/libonnx-testdata/data/node";
  if (!std::filesystem::exists(node)) GTEST_SKIP() << "libonnx-testdata is not installed";
  for (const char* test : {"test_relu", "test_add_bcast", "test_softmax_axis_1",
                           "test_conv_with_strides_padding", "test_maxpool_2d_default"}) {
    e2e::RunResult run = RunKiln({"run", (node / test / "model.onnx").string(), "--test-dir",
                                  (node / test / "test_data_set_0").string()});
    EXPECT_EQ(run.exit_code, 0) << test << ": " << run.out << run.err;
  }
}

}  // namespace
}  // namespace kiln::interop
