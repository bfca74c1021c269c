// End-to-end: the real `kiln` binary, run as a user runs it. It must learn Fashion-MNIST
// (when the data set is installed), and report user errors as one located message and a
// non-zero exit code, never a crash.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/e2e/kiln_process.h"

namespace kiln {
namespace {

namespace fs = std::filesystem;
using e2e::IdxHeader;
using e2e::Describe;
using e2e::JsonNumber;
using e2e::ReadFile;
using e2e::RunKiln;
using e2e::RunResult;
using e2e::TempDir;

constexpr char kFashionMnistDir[] = "/usr/share/datasets/fashion-mnist";

TEST(KilnCliTest, HelpExitsZeroAndNamesTheCommands) {
  RunResult r = RunKiln({"--help"});
  ASSERT_TRUE(r.exited) << Describe(r);
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_NE(r.out.find("train"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("compile"), std::string::npos) << r.out;
}

TEST(KilnCliTest, LearnsFashionMnistInOneEpoch) {
  if (!fs::exists(fs::path(kFashionMnistDir) / "train-images-idx3-ubyte.gz")) {
    GTEST_SKIP() << kFashionMnistDir << " is not installed (Debian's dataset-fashion-mnist)";
  }
  TempDir dir;
  fs::path metrics = dir.path() / "metrics.json";
  RunResult r = RunKiln({"train", "examples/fashion_mlp.kiln", "--epochs", "1", "--train-limit",
                         "6000", "--test-limit", "1000", "--metrics-out", metrics.string()});
  ASSERT_TRUE(r.exited && r.exit_code == 0) << Describe(r);
  std::string json = ReadFile(metrics);
  ASSERT_FALSE(json.empty()) << "no metrics file written\n" << Describe(r);
  double accuracy = JsonNumber(json, "test_accuracy");
  double train_loss = JsonNumber(json, "train_loss");
  EXPECT_GE(accuracy, 0.70) << json;
  EXPECT_LT(train_loss, std::log(10.0)) << "no better than chance: " << json;
  EXPECT_GT(JsonNumber(json, "seconds"), 0.0) << json;
}

// Bug 3: `idx(path=...)` passed the frontend but the runtime refused it. The frontend and the
// runtime now read one data-source table; fashion_mlp.kiln pointed at the same files via idx
// must train like fashion_mnist().
TEST(KilnCliTest, IdxSourceTrainsFashionMlp) {
  if (!fs::exists(fs::path(kFashionMnistDir) / "train-images-idx3-ubyte.gz")) {
    GTEST_SKIP() << kFashionMnistDir << " is not installed (Debian's dataset-fashion-mnist)";
  }
  std::string model = ReadFile("examples/fashion_mlp.kiln");
  const std::string source = "fashion_mnist(";
  const size_t at = model.find(source);
  ASSERT_NE(at, std::string::npos) << "examples/fashion_mlp.kiln no longer uses fashion_mnist()";
  model.replace(at, source.size(), std::string("idx(path=\"") + kFashionMnistDir + "\", ");
  TempDir dir;
  fs::path file = dir.Write("fashion_idx.kiln", model);
  fs::path metrics = dir.path() / "metrics.json";
  RunResult r = RunKiln({"train", file.string(), "--epochs", "1", "--train-limit", "3000",
                         "--test-limit", "500", "--metrics-out", metrics.string()});
  ASSERT_TRUE(r.exited && r.exit_code == 0) << Describe(r);
  EXPECT_GE(JsonNumber(ReadFile(metrics), "test_accuracy"), 0.6) << Describe(r);
}

// A user error: non-zero exit (not a signal), and stderr that starts with "<file>:<line>:<col>:
// error:" and shows the offending line with a caret under the column.
void ExpectLocatedError(const std::string& model_text, const std::string& expected_message,
                        int line, int column) {
  TempDir dir;
  fs::path model = dir.Write("bad.kiln", model_text);
  // `compile` needs no data set, so these run everywhere.
  RunResult r = RunKiln({"compile", model.string()});
  ASSERT_TRUE(r.exited) << "crashed: " << Describe(r);
  EXPECT_NE(r.exit_code, 0) << Describe(r);
  std::string location = model.string() + ":" + std::to_string(line) + ":" +
                         std::to_string(column) + ": error: ";
  EXPECT_NE(r.err.find(location), std::string::npos)
      << "expected '" << location << "'\n" << Describe(r);
  EXPECT_NE(r.err.find(expected_message), std::string::npos)
      << "expected '" << expected_message << "'\n" << Describe(r);
  // The caret sits under the reported column: column-1 spaces (after any common indent the
  // printer adds to the source line) and '^'. Find the source line and the caret line after it.
  std::vector<std::string> lines;
  std::stringstream err(r.err);
  for (std::string l; std::getline(err, l);) lines.push_back(l);
  std::string source_line;
  {
    std::stringstream text(model_text);
    for (int i = 0; i < line && std::getline(text, source_line); ++i) {
    }
  }
  bool found = false;
  for (size_t i = 0; i + 1 < lines.size() && !found; ++i) {
    size_t at = lines[i].find(source_line);
    if (source_line.empty() || at == std::string::npos) continue;
    const std::string& caret = lines[i + 1];
    size_t caret_at = caret.find('^');
    found = caret_at != std::string::npos &&
            caret.find_first_not_of(' ') == caret_at &&
            caret_at == at + static_cast<size_t>(column - 1);
  }
  EXPECT_TRUE(found) << "no source line with a caret under column " << column << "\n"
                     << Describe(r);
}

constexpr char kHeader[] =
    "model m {\n"
    "  input x: f32[B, 784]\n"
    "  input y: i64[B]\n";
constexpr char kTrain[] =
    "}\n"
    "train {\n"
    "  optimizer = adam(lr=3e-3)\n"
    "}\n";

TEST(KilnCliTest, SyntaxErrorIsLocated) {
  // Line 4: the call is not closed; the parser finds 'loss' on the next line... or the newline.
  std::string text = std::string(kHeader) +
                     "  h = relu(linear(x, 10)\n"
                     "  loss = cross_entropy(h, y)\n" + kTrain;
  TempDir dir;
  fs::path model = dir.Write("bad.kiln", text);
  RunResult r = RunKiln({"compile", model.string()});
  ASSERT_TRUE(r.exited) << "crashed: " << Describe(r);
  EXPECT_NE(r.exit_code, 0) << Describe(r);
  EXPECT_TRUE(std::regex_search(r.err, std::regex(std::regex_replace(
                                           model.string(), std::regex("[.]"), "[.]") +
                                       ":[45]:[0-9]+: error: expected")))
      << Describe(r);
  EXPECT_TRUE(std::regex_search(r.err, std::regex("\n *\\^"))) << "no caret line\n" << Describe(r);
}

TEST(KilnCliTest, UnknownOpIsLocatedWithASuggestion) {
  ExpectLocatedError(std::string(kHeader) +
                         "  h = relux(linear(x, 10))\n"
                         "  loss = cross_entropy(h, y)\n" + kTrain,
                     "unknown function 'relux'", 4, 7);
}

TEST(KilnCliTest, ShapeMismatchIsLocated) {
  ExpectLocatedError(std::string(kHeader) +
                         "  param w: f32[100, 10] = zeros\n"
                         "  h = matmul(x, w)\n"
                         "  loss = cross_entropy(h, y)\n" + kTrain,
                     "inner dimensions differ", 5, 7);
}

// A data error is one line on stderr and exit code 1 — no stack trace, no abort.
void ExpectOneLineError(const RunResult& r, const std::string& expected) {
  ASSERT_TRUE(r.exited) << "crashed: " << Describe(r);
  EXPECT_NE(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << Describe(r);
  EXPECT_NE(r.err.find(expected), std::string::npos) << "expected '" << expected << "'\n"
                                                     << Describe(r);
}

TEST(KilnCliTest, MissingDataDirectoryIsAOneLineError) {
  TempDir dir;
  std::string missing = (dir.path() / "no-such-dir").string();
  RunResult r = RunKiln({"train", "examples/fashion_mlp.kiln", "--data-dir", missing});
  ExpectOneLineError(r, missing);
}

TEST(KilnCliTest, TruncatedIdxFileIsAOneLineError) {
  TempDir dir;
  // 100 images are announced but only 50 bytes follow; the label files are complete.
  dir.Write("train-images-idx3-ubyte", IdxHeader(0x803, {100, 28, 28}) + std::string(50, '\0'));
  dir.Write("train-labels-idx1-ubyte", IdxHeader(0x801, {100}) + std::string(100, '\1'));
  dir.Write("t10k-images-idx3-ubyte",
            IdxHeader(0x803, {10, 28, 28}) + std::string(10 * 784, '\0'));
  dir.Write("t10k-labels-idx1-ubyte", IdxHeader(0x801, {10}) + std::string(10, '\1'));
  RunResult r = RunKiln({"train", "examples/fashion_mlp.kiln", "--data-dir", dir.path().string()});
  ExpectOneLineError(r, "train-images-idx3-ubyte");
  EXPECT_NE(r.err.find("truncated"), std::string::npos) << Describe(r);
}

// The GEMM's vectors are as wide as the registers of --cpu, whatever machine compiles.
TEST(KilnCliTest, EmitLlvmShowsTheTrainingStepAsVectorCode) {
  RunResult r =
      RunKiln({"compile", "examples/fashion_mlp.kiln", "--emit=llvm", "--cpu", "x86-64-v4"});
  ASSERT_TRUE(r.exited && r.exit_code == 0) << Describe(r);
  EXPECT_NE(r.out.find("define void @fashion_mlp_train_b64("), std::string::npos);
  EXPECT_NE(r.out.find("<16 x float> @llvm.fmuladd.v16f32"), std::string::npos);
  r = RunKiln({"compile", "examples/fashion_mlp.kiln", "--emit=llvm", "--cpu", "x86-64-v3"});
  ASSERT_TRUE(r.exited && r.exit_code == 0) << Describe(r);
  EXPECT_NE(r.out.find("<8 x float> @llvm.fmuladd.v8f32"), std::string::npos);
  EXPECT_EQ(r.out.find("v16f32"), std::string::npos);
}

TEST(KilnCliTest, CpuFlagChoosesTheAssemblysRegisters) {
  RunResult r =
      RunKiln({"compile", "examples/fashion_mlp.kiln", "--emit=asm", "--cpu", "x86-64-v4"});
  ASSERT_TRUE(r.exited && r.exit_code == 0) << Describe(r);
  EXPECT_NE(r.out.find("%zmm"), std::string::npos);
  r = RunKiln({"compile", "examples/fashion_mlp.kiln", "--emit=asm", "--cpu", "x86-64-v2"});
  ASSERT_TRUE(r.exited && r.exit_code == 0) << Describe(r);
  EXPECT_EQ(r.out.find("%ymm"), std::string::npos);
  EXPECT_EQ(r.out.find("%zmm"), std::string::npos);
}

TEST(KilnCliTest, UnknownCpuIsAOneLineError) {
  RunResult r =
      RunKiln({"compile", "examples/fashion_mlp.kiln", "--emit=obj", "--cpu", "pentium9000"});
  ASSERT_TRUE(r.exited) << Describe(r);
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_EQ(r.err.rfind("kiln: unknown CPU 'pentium9000' (use native, x86-64-v2", 0), 0u)
      << Describe(r);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << Describe(r);
}

bool HostHasAvx512() { return ReadFile("/proc/cpuinfo").find(" avx512f") != std::string::npos; }

// kiln train runs the code of --cpu: SSE4.2 code runs on any x86-64 machine; AVX-512 code on one
// without AVX-512 is refused in one line naming what is missing, not a SIGILL.
TEST(KilnCliTest, TrainRunsTheCodeOfCpuOrRefusesIt) {
  if (!fs::exists(fs::path(kFashionMnistDir) / "train-images-idx3-ubyte.gz")) {
    GTEST_SKIP() << kFashionMnistDir << " is not installed (Debian's dataset-fashion-mnist)";
  }
  RunResult r = RunKiln({"train", "examples/fashion_mlp.kiln", "--epochs", "1", "--train-limit",
                         "640", "--test-limit", "100", "--cpu", "x86-64-v2"});
  ASSERT_TRUE(r.exited && r.exit_code == 0) << Describe(r);
  if (HostHasAvx512()) GTEST_SKIP() << "this machine runs x86-64-v4 code";
  r = RunKiln({"train", "examples/fashion_mlp.kiln", "--epochs", "1", "--train-limit", "640",
               "--test-limit", "100", "--cpu", "x86-64-v4"});
  ASSERT_TRUE(r.exited) << Describe(r);
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_NE(r.err.find("cannot run on this machine, which lacks"), std::string::npos)
      << Describe(r);
  EXPECT_NE(r.err.find("avx512f"), std::string::npos) << Describe(r);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << Describe(r);
}

TEST(KilnCliTest, FusionDumpShowsEpilogueAndOneKernelPerAdamUpdate) {
  RunResult r = RunKiln({"compile", "examples/fashion_mlp.kiln", "--emit=fusion"});
  ASSERT_TRUE(r.exited && r.exit_code == 0) << Describe(r);
  // The first layer's GEMM computes bias + ReLU in its epilogue and stores only h1.
  EXPECT_TRUE(std::regex_search(
      r.out, std::regex(R"(kernel k0_matmul_add_relu \(matmul, 3 ops\)\n  ops: +%\d+ matmul, %\d+ add 'fc1', %\d+ relu 'h1')")))
      << r.out;
  // Each parameter's Adam update is one loop kernel storing the parameter and both moments.
  for (const char* param : {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "out.weight",
                            "out.bias"}) {
    std::regex kernel(std::string(R"(kernel \w+ \(loop, 13 ops\)\n  ops: [^\n]*\n  inputs: [^\n]*parameter ')") +
                      param + R"(',[^\n]*state ')" + param + R"(.exp_avg')");
    EXPECT_TRUE(std::regex_search(r.out, kernel)) << param << "\n" << r.out;
  }
}

// The CPU's GEMMs read the CNN's second convolution's patches from its padded input; the CUDA
// backend's (cuBLASLt) read stored matrices, and `--device cuda` fuses for it, GPU or not.
TEST(KilnCliTest, FusionDumpIsTheNamedBackendsOwn) {
  const std::string windowed = "is read by GEMMs at addresses in the producer's buffer";
  RunResult cpu = RunKiln({"compile", "examples/fashion_cnn.kiln", "--emit=fusion"});
  ASSERT_TRUE(cpu.exited && cpu.exit_code == 0) << Describe(cpu);
  EXPECT_NE(cpu.out.find(windowed), std::string::npos) << cpu.out;
  RunResult cuda =
      RunKiln({"compile", "examples/fashion_cnn.kiln", "--emit=fusion", "--device", "cuda"});
  ASSERT_TRUE(cuda.exited && cuda.exit_code == 0) << Describe(cuda);
  EXPECT_EQ(cuda.out.find(windowed), std::string::npos) << cuda.out;
  EXPECT_NE(cuda.out.find("kernel "), std::string::npos) << cuda.out;
}

// Every producer another kernel reads says why it was not fused into its consumers.
TEST(KilnCliTest, FusionDumpSaysWhyProducersWereNotFused) {
  RunResult r = RunKiln({"compile", "examples/fashion_mlp.kiln", "--emit=fusion"});
  ASSERT_TRUE(r.exited && r.exit_code == 0) << Describe(r);
  size_t section = r.out.find("\nnot fused:\n");
  ASSERT_NE(section, std::string::npos) << r.out;
  std::string not_fused = r.out.substr(section);
  // h1 is stored because the second layer's GEMM reads it from memory.
  EXPECT_TRUE(std::regex_search(
      not_fused,
      std::regex(R"(\n  %\d+ relu 'h1' -> %\d+ matmul[^\n]*: )"
                 R"(%\d+ matmul reads the producer from memory\n)")))
      << not_fused;
  // The weight gradient's GEMM does not take the Adam update as its epilogue.
  EXPECT_TRUE(std::regex_search(
      not_fused,
      std::regex(R"(\n  %\d+ matmul -> [^\n]*: the consumers' kernel writes %\d+ sub, )"
                 R"(the new value of 'fc1.weight'; )"
                 R"(optimizer updates stay out of GEMM epilogues\n)")))
      << not_fused;
}

// W2's model summary: 10-16-16-1 has 465 trainable parameters; freeze moves a layer's to frozen.
TEST(KilnCliTest, SummaryCountsParametersPerLayer) {
  TempDir dir;
  fs::path model = dir.Write("tabular.kiln", R"(model tabular {
  input x: f32[B, 10]
  input y: f32[B, 1]
  h1 = relu(linear(x, 16, name=fc1))
  h2 = relu(linear(h1, 16, name=fc2))
  p = linear(h2, 1, name=out)
  loss = reduce_mean((p - y) * (p - y))
}
train {
  optimizer = sgd(lr=0.1)
  freeze = [fc2]
}
)");
  RunResult r = RunKiln({"compile", model.string(), "--emit=summary"});
  ASSERT_TRUE(r.exited && r.exit_code == 0) << Describe(r);
  EXPECT_NE(r.out.find("fc1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("f32[64,16]"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("trainable parameters      193"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("frozen parameters         272"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("total                     465"), std::string::npos) << r.out;

  r = RunKiln({"compile", model.string(), "--emit=dot"});
  ASSERT_TRUE(r.exited && r.exit_code == 0) << Describe(r);
  EXPECT_EQ(r.out.rfind("digraph \"tabular\" {", 0), 0u) << r.out;
  EXPECT_NE(r.out.find("fc1.weight\\nf32[10,16]"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("output loss"), std::string::npos) << r.out;
}

// The batch dim is whatever the first input calls it: `N` works for every command, not only train.
TEST(KilnCliTest, SummaryWithABatchDimNotNamedB) {
  TempDir dir;
  fs::path model = dir.Write("n.kiln", R"(model n {
  input x: f32[N, 10]
  input y: f32[N, 1]
  loss = reduce_mean((linear(x, 1, name=out) - y) ** 2)
}
train {
  optimizer = sgd(lr=0.1)
}
)");
  RunResult r = RunKiln({"compile", model.string(), "--emit=summary"});
  ASSERT_TRUE(r.exited && r.exit_code == 0) << Describe(r);
  EXPECT_TRUE(std::regex_search(r.out, std::regex(R"(total +11\n)"))) << r.out;
  EXPECT_NE(r.out.find("f32[64,1]"), std::string::npos) << r.out;
}

TEST(KilnCliTest, EmitObjWritesAnElfObjectWithTheEntryPoints) {
  TempDir dir;
  fs::path object = dir.path() / "mlp.o";
  RunResult r = RunKiln({"compile", "examples/fashion_mlp.kiln", "--emit=obj", "-o", object.string()});
  ASSERT_TRUE(r.exited && r.exit_code == 0) << Describe(r);
  std::string bytes = ReadFile(object);
  ASSERT_GT(bytes.size(), 4u);
  EXPECT_EQ(bytes.substr(0, 4), "\x7f" "ELF");
  EXPECT_NE(bytes.find("fashion_mlp_train_b64"), std::string::npos);
  EXPECT_NE(bytes.find("fashion_mlp_eval_b64"), std::string::npos);
}

}  // namespace
}  // namespace kiln
