// End-to-end: hostile or unlucky input (issue 8) gets a one-line error and exit status 1 from the
// real `kiln` binary, never a signal, an uncaught exception, a hang or a silently wrong answer.
// Resource limits (`ulimit -v`, `ulimit -f`) make the failures the fixes prevent quick and
// deterministic: an allocation of what a header claims, an endless read of /dev/zero, SIGXFSZ.
#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/e2e/kiln_process.h"
#include "tests/sanitizers.h"

namespace kiln {
namespace {

namespace fs = std::filesystem;
using e2e::IdxHeader;
using e2e::Describe;
using e2e::RunKiln;
using e2e::RunResult;
using e2e::TempDir;

// 4 GiB of address space: plenty for kiln and its JIT, far too little for what the hostile
// headers below claim, so an attempt to allocate it fails at once instead of paging.
// No cap under AddressSanitizer (tests/sanitizers.h).
const char* const kMemoryLimit = testing::kAddressSanitizer ? "" : "-v 4194304";

// A small classifier on generated data: 771 parameters, so its checkpoint (with Adam's state)
// is about 9 KiB.
constexpr char kModel[] =
    "model tiny {\n  input x: f32[B, 8]\n  input y: i64[B]\n"
    "  loss = cross_entropy(linear(relu(linear(x, 64, name=fc1)), 3, name=out), y)\n}\n"
    "train {\n  data = make_classification(n_samples=200, n_features=8, n_informative=4, "
    "n_classes=3, seed=1)\n  optimizer = adam(lr=1e-2)\n  batch_size = 32\n  epochs = 2\n}\n";

// Exited (no signal) with status 1 and exactly one line on stderr containing `expected`.
void ExpectOneLineError(const RunResult& r, const std::string& expected) {
  ASSERT_TRUE(r.exited) << "killed by a signal: " << Describe(r);
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << Describe(r);
  EXPECT_NE(r.err.find(expected), std::string::npos) << "expected '" << expected << "'\n"
                                                     << Describe(r);
}

std::vector<std::string> FilesIn(const fs::path& dir) {
  std::vector<std::string> names;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

// Defect 3: a 200 KB images file whose header claims 20,000,000 images (15.7 GB) used to be
// allocated in full before a byte was read: std::bad_alloc under any memory limit.
TEST(HostileInputTest, IdxHeaderClaimingMoreThanTheFileIsTruncationNotAnAllocation) {
  TempDir dir;
  dir.Write("train-images-idx3-ubyte",
            IdxHeader(0x803, {20000000, 28, 28}) + std::string(200000, '\0'));
  dir.Write("train-labels-idx1-ubyte", IdxHeader(0x801, {100}) + std::string(100, '\1'));
  dir.Write("t10k-images-idx3-ubyte", IdxHeader(0x803, {10, 28, 28}) + std::string(7840, '\0'));
  dir.Write("t10k-labels-idx1-ubyte", IdxHeader(0x801, {10}) + std::string(10, '\1'));
  RunResult r = RunKiln({"train", "examples/fashion_mlp.kiln", "--data-dir", dir.path().string()},
                        kMemoryLimit);
  ExpectOneLineError(r,
                     "train-images-idx3-ubyte: truncated: expected 15680000000 bytes of "
                     "pixels, got 200000");
}

// Defect 3: /dev/zero as weights or checkpoint used to be read until memory ran out.
TEST(HostileInputTest, DeviceAsWeightsOrCheckpointIsRefused) {
  TempDir dir;
  const std::string model = dir.Write("tiny.kiln", kModel).string();
  RunResult weights = RunKiln({"train", model, "--init-weights", "/dev/zero"}, kMemoryLimit);
  ExpectOneLineError(weights, "kiln: /dev/zero: not a regular file (a character device)");
  RunResult resume =
      RunKiln({"train", model, "--checkpoint", "/dev/zero", "--resume"}, kMemoryLimit);
  ExpectOneLineError(resume, "kiln: /dev/zero: not a regular file (a character device)");
  RunResult directory =
      RunKiln({"train", model, "--checkpoint", dir.path().string(), "--resume"}, kMemoryLimit);
  ExpectOneLineError(directory, "not a regular file (a directory)");
}

// Defect 6: past `ulimit -f` the kernel sends SIGXFSZ, which used to kill kiln mid-write and
// leave the temporary checkpoint behind. Now the write fails with EFBIG: one line, exit 1, and
// the temporary file removed.
TEST(HostileInputTest, FileSizeLimitIsAOneLineErrorAndLeavesNoTemporaryFile) {
  TempDir model_dir, out_dir;
  const std::string model = model_dir.Write("tiny.kiln", kModel).string();
  const std::string checkpoint = out_dir.File("run.ckpt");
  RunResult r = RunKiln({"train", model, "--checkpoint", checkpoint, "--metrics-out",
                         out_dir.File("metrics.json"), "--threads", "1"},
                        "-f 4");
  ExpectOneLineError(r, "kiln: " + checkpoint + ": cannot write: File too large");
  EXPECT_EQ(FilesIn(out_dir.path()), std::vector<std::string>{}) << Describe(r);
}

// Defect 7: test labels all equal to 10 for a 10-class model gave "final test accuracy 0.0000,
// test loss 0.0000" and exit 0. Labels are checked against the model's classes (the width of
// its scores) when loaded.
TEST(HostileInputTest, LabelOutOfRangeForTheModelsClassesIsAOneLineError) {
  TempDir dir;
  dir.Write("train-images-idx3-ubyte", IdxHeader(0x803, {100, 28, 28}) + std::string(78400, '\0'));
  dir.Write("train-labels-idx1-ubyte", IdxHeader(0x801, {100}) + std::string(100, '\1'));
  dir.Write("t10k-images-idx3-ubyte", IdxHeader(0x803, {10, 28, 28}) + std::string(7840, '\0'));
  dir.Write("t10k-labels-idx1-ubyte", IdxHeader(0x801, {10}) + std::string(10, '\x0a'));
  RunResult r = RunKiln(
      {"train", "examples/fashion_mlp.kiln", "--data-dir", dir.path().string(), "--epochs", "1"});
  ExpectOneLineError(r,
                     "t10k-labels-idx1-ubyte: label 10 of sample 0 is out of range for 10 "
                     "classes");

  // A CSV label of 99999999999 in a 2-class model.
  const std::string csv = dir.Write("data.csv", "a,b,label\n1,2,0\n3,4,99999999999\n").string();
  const std::string model =
      dir.Write("two.kiln",
                "model two {\n  input x: f32[B, 2]\n  input y: i64[B]\n"
                "  loss = cross_entropy(linear(x, 2, name=out), y)\n}\n"
                "train {\n  data = csv(path=\"" +
                    csv + "\")\n  optimizer = sgd(lr=0.1)\n  batch_size = 2\n}\n")
          .string();
  RunResult tabular = RunKiln({"train", model});
  ExpectOneLineError(tabular, csv +
                                  " column 'label': label 99999999999 of sample 1 is out of "
                                  "range for 2 classes");
}

// Recomputes a checkpoint's two CRC-32s (of the 20-byte preamble, and of everything before the
// last 4 bytes) with zlib, as a forger would.
void Reseal(std::string& bytes) {
  for (size_t crc_at : {size_t{20}, bytes.size() - 4}) {
    const uint32_t crc = crc32(0, reinterpret_cast<const Bytef*>(bytes.data()), crc_at);
    for (int i = 0; i < 4; ++i) bytes[crc_at + i] = static_cast<char>((crc >> (8 * i)) & 0xff);
  }
}

// One epoch of `model` that writes `checkpoint`: the run the checkpoint tests forge or resume.
void TrainOneEpoch(const std::string& model, const std::string& checkpoint) {
  RunResult first = RunKiln({"train", model, "--epochs", "1", "--checkpoint", checkpoint});
  ASSERT_TRUE(e2e::Succeeded(first)) << Describe(first);
}

// Defect 9: a checkpoint forged to say epoch -3 (checksums recomputed) was accepted: "resuming
// after epoch -3 of 3", then epochs -2..3 trained. Every field read is range-checked.
TEST(HostileInputTest, ForgedCheckpointEpochIsRefused) {
  TempDir dir;
  const std::string model = dir.Write("tiny.kiln", kModel).string();
  const std::string checkpoint = dir.File("run.ckpt");
  ASSERT_NO_FATAL_FAILURE(TrainOneEpoch(model, checkpoint));
  std::string bytes = e2e::ReadFile(checkpoint);
  // The preamble (24 bytes), the model name (u32 length + "tiny"), the seed, then the epoch and
  // the global step.
  const size_t epoch_at = 24 + 4 + 4 + 8;
  ASSERT_EQ(bytes.substr(28, 4), "tiny");
  // After one epoch the global step is the steps per epoch; forge both fields consistently, as
  // the old steps-per-epoch check would otherwise notice.
  int64_t steps = 0;
  std::memcpy(&steps, bytes.data() + epoch_at + 8, sizeof(steps));
  const int64_t epoch = -3, global_step = epoch * steps;
  std::memcpy(bytes.data() + epoch_at, &epoch, sizeof(epoch));
  std::memcpy(bytes.data() + epoch_at + 8, &global_step, sizeof(global_step));
  Reseal(bytes);
  dir.Write("run.ckpt", bytes);
  RunResult r = RunKiln({"train", model, "--epochs", "3", "--checkpoint", checkpoint, "--resume"});
  ExpectOneLineError(r, "kiln: " + checkpoint + ": malformed checkpoint (epoch -3 is negative)");
  EXPECT_EQ(r.out.find("resuming"), std::string::npos) << Describe(r);
}

// Defect 9: --resume silently accepted a changed --lr, --train-limit (same steps per epoch) or
// --data-dir. The settings that shape a run are recorded in its checkpoint and a resume that
// changes one is refused, naming it; --epochs may grow.
TEST(HostileInputTest, ResumeWithChangedSettingsIsRefused) {
  TempDir dir;
  const std::string model = dir.Write("tiny.kiln", kModel).string();
  const std::string checkpoint = dir.File("run.ckpt");
  ASSERT_NO_FATAL_FAILURE(TrainOneEpoch(model, checkpoint));
  const std::string saved = e2e::ReadFile(checkpoint);
  const auto resume = [&](std::vector<std::string> flags) {
    std::vector<std::string> args = {"train", model, "--checkpoint", checkpoint, "--resume"};
    args.insert(args.end(), flags.begin(), flags.end());
    return RunKiln(args);
  };
  const std::string keep =
      "; a resume must keep the settings that shape training (it may change "
      "--epochs, --threads and the output files)";
  ExpectOneLineError(resume({"--lr", "0.02"}),
                     checkpoint + ": saved by a run with lr 0.01, this run has lr 0.02" + keep);
  // 170 of the 180 training samples: still 6 steps of 32 per epoch, so only the recorded
  // setting tells the runs apart.
  ExpectOneLineError(resume({"--train-limit", "170"}),
                     checkpoint +
                         ": saved by a run with train limit all, this run has train "
                         "limit 170" +
                         keep);
  ExpectOneLineError(resume({"--data-dir", dir.path().string()}),
                     checkpoint +
                         ": saved by a run with data dir (the source's default), this "
                         "run has data dir " +
                         dir.path().string() + keep);
  EXPECT_EQ(e2e::ReadFile(checkpoint), saved) << "a refused resume changed the checkpoint";

  RunResult more = resume({"--epochs", "2", "--threads", "1"});
  ASSERT_TRUE(e2e::Succeeded(more)) << Describe(more);
  EXPECT_NE(more.out.find("resuming from " + checkpoint + " after epoch 1 of 2"), std::string::npos)
      << Describe(more);
}

// A little-endian u32 of `bytes` at `at`.
uint32_t U32At(const std::string& bytes, size_t at) {
  uint32_t value = 0;
  std::memcpy(&value, bytes.data() + at, sizeof(value));
  return value;
}

// A checkpoint of format version 1 (before settings were recorded) still resumes, with a note
// that changed settings cannot be detected.
TEST(HostileInputTest, VersionOneCheckpointResumesWithANote) {
  TempDir dir;
  const std::string model = dir.Write("tiny.kiln", kModel).string();
  const std::string checkpoint = dir.File("run.ckpt");
  ASSERT_NO_FATAL_FAILURE(TrainOneEpoch(model, checkpoint));
  // Version 2 keeps the settings right after the global step: u32 count, then name and value
  // strings (u32 length + bytes). Version 1 is the same file without them.
  std::string bytes = e2e::ReadFile(checkpoint);
  const size_t settings_at = 24 + 4 + 4 + 8 + 8 + 8;
  size_t end = settings_at + 4;
  for (uint32_t i = 0; i < 2 * U32At(bytes, settings_at); ++i) end += 4 + U32At(bytes, end);
  bytes.erase(settings_at, end - settings_at);
  const uint32_t version = 1;
  const uint64_t size = bytes.size();
  std::memcpy(bytes.data() + 8, &version, sizeof(version));
  std::memcpy(bytes.data() + 12, &size, sizeof(size));
  Reseal(bytes);
  dir.Write("run.ckpt", bytes);

  RunResult r = RunKiln({"train", model, "--epochs", "2", "--checkpoint", checkpoint, "--resume"});
  ASSERT_TRUE(e2e::Succeeded(r)) << Describe(r);
  EXPECT_NE(r.out.find(checkpoint + " was written by an older kiln; settings not recorded"),
            std::string::npos)
      << Describe(r);
  EXPECT_NE(r.out.find("resuming from " + checkpoint + " after epoch 1 of 2"), std::string::npos)
      << Describe(r);
}

// Occurrences of `needle` in `text`.
int Count(const std::string& text, const std::string& needle) {
  int n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) {
    ++n;
  }
  return n;
}

// Defect 5: a run killed between the final checkpoint's rename and the metrics file's left the
// metrics with 3 of 4 epochs; `--resume` said "nothing to train", exited 0 and never rewrote
// them. Now the resumed run rewrites the metrics file from the checkpoint's history.
TEST(HostileInputTest, ResumeWithNothingToTrainRewritesStaleMetrics) {
  TempDir dir;
  const std::string model = dir.Write("tiny.kiln", kModel).string();
  const std::string checkpoint = dir.File("run.ckpt"), metrics = dir.File("metrics.json");
  const std::vector<std::string> run = {"train",         model,  "--epochs",     "4",
                                        "--threads",     "1",    "--checkpoint", checkpoint,
                                        "--metrics-out", metrics};
  RunResult first = RunKiln(run);
  ASSERT_TRUE(e2e::Succeeded(first)) << Describe(first);
  const std::string complete = e2e::ReadFile(metrics);
  ASSERT_EQ(Count(complete, "\"epoch\":"), 4) << complete;
  // The interrupted run's metrics file: its first three epochs.
  const std::string stale = complete.substr(0, complete.find(",{\"epoch\":4")) + "]}\n";
  dir.Write("metrics.json", stale);

  std::vector<std::string> resume = run;
  resume.push_back("--resume");
  RunResult again = RunKiln(resume);
  ASSERT_TRUE(e2e::Succeeded(again)) << Describe(again);
  EXPECT_NE(again.out.find("already holds 4 of 4 epochs; nothing to train"), std::string::npos)
      << Describe(again);
  EXPECT_EQ(e2e::ReadFile(metrics), complete);
}

}  // namespace
}  // namespace kiln
