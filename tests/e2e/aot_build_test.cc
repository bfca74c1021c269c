// End-to-end: `kiln build` writes a program that trains exactly as `kiln train` does (metrics
// and checkpoint tensors bit-identical for the same model, seed, target and threads), resumes
// bit-identically after being killed, predicts what `eval` scores, refuses other models'
// checkpoints by name, and needs no shared object beyond the C and C++ runtime and zlib.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/checkpoint.h"
#include "runtime/idx_reader.h"
#include "tests/e2e/kiln_process.h"

namespace kiln {
namespace {

namespace fs = std::filesystem;
using e2e::Describe;
using e2e::ReadFile;
using e2e::RunBinary;
using e2e::RunKiln;
using e2e::RunResult;
using e2e::Succeeded;
using e2e::TempDir;

// The metrics JSON without its timings: what must match between two runs of one trajectory.
std::string WithoutTimings(const std::string& json) {
  static const std::regex timing("\"(seconds|eval_seconds|samples_per_second)\":[^,}]*");
  return std::regex_replace(json, timing, "");
}

// Checkpoint tensors equal byte for byte (the run state's timings may differ).
void ExpectSameTensors(const std::string& a_path, const std::string& b_path) {
  absl::StatusOr<runtime::Checkpoint> a = runtime::ReadCheckpoint(a_path);
  absl::StatusOr<runtime::Checkpoint> b = runtime::ReadCheckpoint(b_path);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(a->state.epoch, b->state.epoch);
  EXPECT_EQ(a->state.global_step, b->state.global_step);
  ASSERT_EQ(a->tensors.size(), b->tensors.size());
  for (size_t i = 0; i < a->tensors.size(); ++i) {
    EXPECT_EQ(a->tensors[i].name, b->tensors[i].name);
    EXPECT_TRUE(a->tensors[i].bytes == b->tensors[i].bytes) << a->tensors[i].name << " differs";
  }
}

class AotBuildTest : public ::testing::Test {
 protected:
  // `kiln build MODEL -o DIR/program EXTRA...`; the program's path.
  std::string Build(const std::string& model, std::vector<std::string> extra = {}) {
    const std::string program = dir_.File(fs::path(model).stem().string());
    std::vector<std::string> args = {"build", model, "-o", program};
    args.insert(args.end(), extra.begin(), extra.end());
    RunResult built = RunKiln(args);
    EXPECT_TRUE(Succeeded(built)) << Describe(built);
    return program;
  }

  // The program's `train` and `kiln train` with the same flags: equal metrics and tensors.
  void ExpectSameAsKilnTrain(const std::string& model, const std::vector<std::string>& data_flags,
                             const std::string& epochs) {
    const std::string program = Build(model, data_flags);
    std::vector<std::string> common = {"--epochs", epochs, "--threads", "2"};
    std::vector<std::string> aot = {"train", "--metrics-out", dir_.File("aot.json"),
                                    "--checkpoint", dir_.File("aot.ckpt")};
    aot.insert(aot.end(), common.begin(), common.end());
    RunResult a = RunBinary(program, aot);
    ASSERT_TRUE(Succeeded(a)) << Describe(a);
    std::vector<std::string> jit = {"train", model, "--metrics-out", dir_.File("jit.json"),
                                    "--checkpoint", dir_.File("jit.ckpt")};
    jit.insert(jit.end(), common.begin(), common.end());
    jit.insert(jit.end(), data_flags.begin(), data_flags.end());
    RunResult j = RunKiln(jit);
    ASSERT_TRUE(Succeeded(j)) << Describe(j);
    const std::string aot_json = ReadFile(dir_.File("aot.json"));
    ASSERT_FALSE(aot_json.empty());
    EXPECT_EQ(WithoutTimings(aot_json), WithoutTimings(ReadFile(dir_.File("jit.json"))));
    ExpectSameTensors(dir_.File("aot.ckpt"), dir_.File("jit.ckpt"));
  }

  TempDir dir_;
};

TEST_F(AotBuildTest, BinaryClassifierTrainsAsKilnTrainDoes) {
  ExpectSameAsKilnTrain("examples/binary_classifier.kiln", {}, "3");
}

TEST_F(AotBuildTest, FashionMlpSliceTrainsAsKilnTrainDoes) {
  if (!e2e::HaveFashionMnist()) GTEST_SKIP() << "no Fashion-MNIST";
  ExpectSameAsKilnTrain("examples/fashion_mlp.kiln", {"--train-limit", "1000", "--test-limit", "300"},
                        "2");
}

TEST_F(AotBuildTest, CnnSliceTrainsAsKilnTrainDoes) {
  if (!e2e::HaveFashionMnist()) GTEST_SKIP() << "no Fashion-MNIST";
  ExpectSameAsKilnTrain("examples/fashion_cnn.kiln", {"--train-limit", "256", "--test-limit", "100"},
                        "1");
}

// SIGKILL while training (after at least one checkpoint), then --resume: the same metrics and
// tensors as a run that was never interrupted.
TEST_F(AotBuildTest, KilledAndResumedRunIsBitIdentical) {
  if (!e2e::HaveFashionMnist()) GTEST_SKIP() << "no Fashion-MNIST";
  const std::string program =
      Build("examples/fashion_mlp.kiln", {"--train-limit", "3000", "--test-limit", "200"});
  const std::vector<std::string> common = {"train", "--epochs", "4", "--threads", "2"};
  auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = common;
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  };
  RunResult straight = RunBinary(program, with({"--checkpoint", dir_.File("straight.ckpt"),
                                                "--metrics-out", dir_.File("straight.json")}));
  ASSERT_TRUE(Succeeded(straight)) << Describe(straight);

  const std::string checkpoint = dir_.File("killed.ckpt");
  const pid_t pid = fork();
  if (pid == 0) {
    if (!freopen("/dev/null", "w", stdout)) _exit(127);
    std::vector<std::string> args = with({"--checkpoint", checkpoint});
    args.insert(args.begin(), program);
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (!fs::exists(checkpoint) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(fs::exists(checkpoint)) << "no checkpoint was written before the deadline";

  RunResult resumed = RunBinary(program, with({"--checkpoint", checkpoint, "--resume",
                                               "--metrics-out", dir_.File("resumed.json")}));
  ASSERT_TRUE(Succeeded(resumed)) << Describe(resumed);
  EXPECT_EQ(WithoutTimings(ReadFile(dir_.File("resumed.json"))),
            WithoutTimings(ReadFile(dir_.File("straight.json"))));
  ExpectSameTensors(checkpoint, dir_.File("straight.ckpt"));
}

// predict's classes score what eval reports; a checkpoint of another model is refused by name.
TEST_F(AotBuildTest, PredictMatchesEvalAndOtherModelsAreRefused) {
  if (!e2e::HaveFashionMnist()) GTEST_SKIP() << "no Fashion-MNIST";
  const std::string program =
      Build("examples/fashion_mlp.kiln", {"--train-limit", "2000", "--test-limit", "1000"});
  const std::string weights = dir_.File("w.ckpt");
  RunResult trained = RunBinary(program, {"train", "--epochs", "1", "--checkpoint", weights});
  ASSERT_TRUE(Succeeded(trained)) << Describe(trained);
  RunResult eval = RunBinary(program, {"eval", "--weights", weights});
  ASSERT_TRUE(Succeeded(eval)) << Describe(eval);
  std::smatch match;
  ASSERT_TRUE(std::regex_search(eval.out, match, std::regex("test_acc ([0-9.]+)"))) << eval.out;
  const double eval_accuracy = std::stod(match[1]);

  const std::string images =
      std::string(e2e::kFashionMnistDir) + "/t10k-images-idx3-ubyte.gz";
  RunResult predicted = RunBinary(program, {"predict", "--weights", weights, "--input", images,
                                            "--output", dir_.File("p.csv")});
  ASSERT_TRUE(Succeeded(predicted)) << Describe(predicted);
  absl::StatusOr<runtime::IdxArray> labels = runtime::ReadIdxLabels(
      std::string(e2e::kFashionMnistDir) + "/t10k-labels-idx1-ubyte.gz");
  ASSERT_TRUE(labels.ok()) << labels.status();
  std::istringstream csv(ReadFile(dir_.File("p.csv")));
  std::string line;
  std::getline(csv, line);
  EXPECT_EQ(line.substr(0, 12), "class,p0,p1,");
  int64_t rows = 0, correct = 0;
  while (std::getline(csv, line)) {
    const int predicted_class = std::stoi(line.substr(0, line.find(',')));
    if (rows < 1000 && predicted_class == labels->data[rows]) ++correct;
    ++rows;
  }
  EXPECT_EQ(rows, 10000);
  EXPECT_NEAR(static_cast<double>(correct) / 1000, eval_accuracy, 1e-4)
      << "the first 1000 predictions score differently from eval over the same 1000 images";

  const std::string other = Build("examples/binary_classifier.kiln");
  RunResult refused = RunBinary(other, {"eval", "--weights", weights});
  EXPECT_EQ(refused.exit_code, 1) << Describe(refused);
  EXPECT_NE(refused.err.find("a checkpoint of model 'fashion_mlp'"), std::string::npos)
      << refused.err;
  EXPECT_EQ(std::count(refused.err.begin(), refused.err.end(), '\n'), 1) << refused.err;

  RunResult batch = RunBinary(program, {"train", "--batch-size", "32"});
  EXPECT_EQ(batch.exit_code, 1);
  EXPECT_NE(batch.err.find("built for batch size 64"), std::string::npos) << batch.err;
}

// Only the C and C++ runtime and zlib: no LLVM, Protobuf, Abseil or CUDA shared objects.
TEST_F(AotBuildTest, ProgramNeedsOnlyLibcLibstdcxxAndZlib) {
  const std::string program = Build("examples/binary_classifier.kiln");
  RunResult readelf = RunBinary("/usr/bin/readelf", {"-d", program});
  ASSERT_TRUE(Succeeded(readelf)) << Describe(readelf);
  const std::set<std::string> allowed = {"libc.so.6", "libm.so.6", "libstdc++.so.6",
                                         "libgcc_s.so.1", "libz.so.1"};
  std::regex needed("\\(NEEDED\\)\\s+Shared library: \\[([^\\]]+)\\]");
  int count = 0;
  for (std::sregex_iterator it(readelf.out.begin(), readelf.out.end(), needed), end; it != end;
       ++it) {
    EXPECT_TRUE(allowed.count((*it)[1].str())) << "unexpected NEEDED " << (*it)[1].str();
    ++count;
  }
  EXPECT_GE(count, 2) << readelf.out;
  RunResult info = RunBinary(program, {"info"});
  ASSERT_TRUE(Succeeded(info)) << Describe(info);
  EXPECT_NE(info.out.find("binary_classifier"), std::string::npos) << info.out;
}

// examples/aot/train_binary.c: a C program trains W2's classifier through the library's C API
// on data it makes itself, saves, reloads into caller-owned memory and predicts the same.
TEST_F(AotBuildTest, CExampleTrainsThroughTheLibrary) {
  const std::string lib = dir_.File("lib");
  RunResult built = RunKiln({"build", "examples/binary_classifier.kiln", "--lib", "-o", lib});
  ASSERT_TRUE(Succeeded(built)) << Describe(built);
  ASSERT_TRUE(fs::exists(lib + "/libbinary_classifier.a"));
  ASSERT_TRUE(fs::exists(lib + "/binary_classifier.h"));
  const std::string program = dir_.File("train_binary");
  RunResult compiled =
      RunBinary("/usr/bin/cc", {"-std=c11", "-O2", "-Wall", "-Werror", "-I", lib,
                                "examples/aot/train_binary.c", lib + "/libbinary_classifier.a",
                                "-lstdc++", "-lm", "-lz", "-o", program});
  ASSERT_TRUE(Succeeded(compiled)) << Describe(compiled);
  RunResult run = RunBinary(program, {dir_.File("model.ckpt")});
  ASSERT_TRUE(Succeeded(run)) << Describe(run);
  std::smatch match;
  ASSERT_TRUE(std::regex_search(run.out, match, std::regex("test_acc ([0-9.]+)"))) << run.out;
  EXPECT_GE(std::stod(match[1]), 0.9) << run.out;
  EXPECT_NE(run.out.find("predicts the same"), std::string::npos) << run.out;
  // The checkpoint is kiln's: a built program of the same model evaluates it.
  RunResult info = RunKiln({"train", "examples/binary_classifier.kiln", "--epochs", "1",
                            "--init-weights", dir_.File("model.ckpt")});
  EXPECT_TRUE(Succeeded(info)) << Describe(info);
}

}  // namespace
}  // namespace kiln
