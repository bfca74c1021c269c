// End-to-end: `kiln train --init-weights FILE` with the real binary. A model trained and saved by
// one run starts another model with a replaced head: the shared parameters and batch-norm
// running statistics are loaded by name (and, frozen, stay exactly as loaded), the new head keeps
// its initializer, and missing names, shape mismatches and corrupt files are one-line errors.
#include <filesystem>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/checkpoint.h"
#include "tests/e2e/kiln_process.h"

namespace kiln {
namespace {

using e2e::Describe;
using e2e::ReadFile;
using e2e::RunKiln;
using e2e::RunResult;
using e2e::TempDir;

constexpr char kData[] =
    "  data = make_classification(n_samples=400, n_features=8, n_informative=4, n_classes=3, "
    "seed=1)\n";

// The pretrained model: a hidden layer with batch norm and a 3-way output layer `out`.
std::string Pretrained(int hidden) {
  return "model pre {\n  input x: f32[B, 8]\n  input y: i64[B]\n"
         "  h = relu(batch_norm1d(linear(x, " + std::to_string(hidden) + ", name=fc1), name=bn))\n"
         "  loss = cross_entropy(linear(h, 3, name=out), y)\n}\n"
         "train {\n" + kData + "  optimizer = adam(lr=1e-2)\n  batch_size = 32\n}\n";
}

// The transfer model: the same trunk, frozen, and a new head `head` (init_exclude).
std::string Transfer(bool exclude_head) {
  return std::string("model transfer {\n  input x: f32[B, 8]\n  input y: i64[B]\n"
                     "  h = relu(batch_norm1d(linear(x, 16, name=fc1), name=bn))\n"
                     "  loss = cross_entropy(linear(h, 3, name=head), y)\n}\n"
                     "train {\n") +
         kData + "  optimizer = adam(lr=1e-2)\n  batch_size = 32\n  freeze = [fc1, bn]\n" +
         (exclude_head ? "  init_exclude = [head]\n" : "") + "}\n";
}

const runtime::CheckpointTensor* FindTensor(const runtime::Checkpoint& c, const std::string& name) {
  for (const runtime::CheckpointTensor& t : c.tensors) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

class InitWeightsTest : public testing::Test {
 protected:
  void SetUp() override {
    RunResult pre = RunKiln({"train", dir_.Write("pre.kiln", Pretrained(16)).string(),
                             "--checkpoint", weights_, "--threads", "1"});
    ASSERT_EQ(pre.exit_code, 0) << Describe(pre);
  }
  TempDir dir_;
  const std::string weights_ = dir_.File("pre.ckpt");
};

TEST_F(InitWeightsTest, LoadsTheTrunkByNameAndKeepsTheNewHead) {
  const std::string after = dir_.File("transfer.ckpt");
  RunResult r = RunKiln({"train", dir_.Write("t.kiln", Transfer(true)).string(), "--init-weights",
                         weights_, "--checkpoint", after, "--threads", "1"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_NE(r.out.find("kiln: loaded 6 tensors (" + std::to_string(8 * 16 + 16 + 4 * 16) +
                       " values) from " + weights_ +
                       "; kept the initializers of 2 (head.weight, head.bias); ignored "),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("out.weight, out.bias"), std::string::npos) << r.out;

  // Frozen, the loaded parameters are exactly the pretrained ones after training; the running
  // statistics (not frozen by freeze, as in PyTorch) moved on from the loaded values.
  absl::StatusOr<runtime::Checkpoint> pre = runtime::ReadCheckpoint(weights_);
  absl::StatusOr<runtime::Checkpoint> post = runtime::ReadCheckpoint(after);
  ASSERT_TRUE(pre.ok() && post.ok());
  for (const char* name : {"fc1.weight", "fc1.bias", "bn.weight", "bn.bias"}) {
    ASSERT_NE(FindTensor(*post, name), nullptr) << name;
    EXPECT_EQ(FindTensor(*pre, name)->bytes, FindTensor(*post, name)->bytes) << name;
  }
}

// The batch dim named `N` instead of `B`: the names are matched on the model lowered at the
// train section's batch size, whatever the dim is called.
TEST_F(InitWeightsTest, BatchDimNotNamedB) {
  std::string model = Transfer(true);
  for (const char* from : {"f32[B, 8]", "i64[B]"}) {
    std::string to = from;
    to.replace(to.find('B'), 1, "N");
    model.replace(model.find(from), std::string(from).size(), to);
  }
  RunResult r = RunKiln({"train", dir_.Write("n.kiln", model).string(), "--init-weights",
                         weights_, "--threads", "1"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_NE(r.out.find("kiln: loaded 6 tensors"), std::string::npos) << r.out;
}

TEST_F(InitWeightsTest, MissingNameShapeMismatchAndCorruptFileAreOneLineErrors) {
  RunResult missing = RunKiln({"train", dir_.Write("t.kiln", Transfer(false)).string(),
                               "--init-weights", weights_});
  EXPECT_EQ(missing.exit_code, 1) << Describe(missing);
  EXPECT_EQ(missing.err, "kiln: " + weights_ +
                             ": no tensor 'head.weight' (the model's f32[16,3]); exclude it with "
                             "init_exclude to keep its initializer\n");

  RunResult shape = RunKiln({"train", dir_.Write("wide.kiln", Pretrained(32)).string(),
                             "--init-weights", weights_});
  EXPECT_EQ(shape.exit_code, 1) << Describe(shape);
  EXPECT_EQ(shape.err, "kiln: " + weights_ +
                           ": tensor 'fc1.weight' has shape [8,16], the model expects [8,32]\n");

  std::string bytes = ReadFile(weights_);
  bytes[bytes.size() / 2] ^= 0x40;
  const std::string corrupt = dir_.Write("corrupt.ckpt", bytes).string();
  RunResult bad = RunKiln({"train", dir_.File("t.kiln"), "--init-weights", corrupt});
  EXPECT_EQ(bad.exit_code, 1) << Describe(bad);
  EXPECT_EQ(bad.err, "kiln: " + corrupt + ": checksum mismatch (file is corrupt)\n");

  RunResult exclude = RunKiln({"train", dir_.Write("alone.kiln", Transfer(true)).string()});
  EXPECT_EQ(exclude.exit_code, 0) << "init_exclude without init_weights does nothing";
}

}  // namespace
}  // namespace kiln
