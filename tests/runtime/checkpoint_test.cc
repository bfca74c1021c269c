#include "runtime/checkpoint.h"

#include <unistd.h>
#include <zlib.h>

#include <bit>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <fstream>
#include <iostream>
#include <limits>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "runtime/thread_pool.h"
#include "runtime/trainer.h"
#include "tests/runtime/fake_kernel_library.h"
#include "tests/runtime/memory_limit.h"

namespace kiln::runtime {
namespace {

namespace fs = std::filesystem;
using testing::FakeKernelLibrary;

PersistentSpec Persistent(const std::string& name, ElementType type, std::vector<int64_t> shape,
                          InitSpec init = {}) {
  PersistentSpec spec;
  spec.name = name;
  spec.type = type;
  spec.shape = std::move(shape);
  spec.init = init;
  return spec;
}

// A model's persistent state with no entry points: two parameters and an optimizer counter.
ProgramSpec MakeProgram(std::vector<int64_t> weight_shape = {3, 4}) {
  ProgramSpec program;
  program.persistent = {
      Persistent("fc1.weight", ElementType::kF32, std::move(weight_shape),
                 {InitSpec::Kind::kUniform, -1.0, 1.0}),
      Persistent("fc1.bias", ElementType::kF32, {4}, {InitSpec::Kind::kNormal, 0.0, 1.0}),
      Persistent("adam.step", ElementType::kI64, {}, {InitSpec::Kind::kConstant, 7.0, 0.0}),
  };
  return program;
}

std::string ReadFile(const fs::path& path) {
  std::ifstream file(path, std::ios::binary);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

void WriteFile(const fs::path& path, const std::string& contents) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << contents;
}

// Every persistent tensor's bytes, by name, to compare executables bit for bit.
std::vector<std::string> TensorBytes(const Executable& exe) {
  std::vector<std::string> bytes;
  for (const Tensor& tensor : exe.persistent()) {
    bytes.push_back(std::string(static_cast<const char*>(tensor.data()), tensor.bytes()));
  }
  return bytes;
}

EpochMetrics Metrics(int64_t epoch, double train_loss, double test_loss) {
  EpochMetrics m;
  m.epoch = epoch;
  m.train_loss = train_loss;
  m.test_loss = test_loss;
  m.test_accuracy = std::numeric_limits<double>::quiet_NaN();
  m.seconds = 1.25 * epoch;
  m.eval_seconds = 0.5;
  m.samples_per_second = 12345.678;
  m.train_samples = 10;
  m.steps = 3;
  return m;
}

// Recomputes both checksums of a checkpoint's bytes (the preamble's and the whole file's), as a
// forger would, so only the range checks stand between the forged fields and a resume.
void Reseal(std::string& bytes) {
  const auto seal = [&bytes](size_t crc_at) {
    const uint32_t crc = crc32(0, reinterpret_cast<const Bytef*>(bytes.data()), crc_at);
    for (int i = 0; i < 4; ++i) bytes[crc_at + i] = static_cast<char>((crc >> (8 * i)) & 0xff);
  };
  seal(20);
  seal(bytes.size() - 4);
}

template <typename T>
void Poke(std::string& bytes, size_t at, T value) {
  std::memcpy(bytes.data() + at, &value, sizeof(T));
}

bool SameBits(double a, double b) { return std::bit_cast<uint64_t>(a) == std::bit_cast<uint64_t>(b); }

class CheckpointTest : public ::testing::Test {
 protected:
  CheckpointTest() {
    dir_ = fs::path(::testing::TempDir()) / absl::StrCat("kiln_checkpoint_test_", ::getpid());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    path_ = (dir_ / "run.ckpt").string();
    state_.model_name = "tiny_mlp";
    state_.seed = 42;
    state_.epoch = 2;
    state_.global_step = 6;
    state_.history = {Metrics(1, 2.5, 2.0), Metrics(2, 1.5, -0.0)};
  }
  ~CheckpointTest() override { fs::remove_all(dir_); }

  std::unique_ptr<Executable> Make(ProgramSpec program = MakeProgram(), uint64_t seed = 1) {
    absl::StatusOr<std::unique_ptr<Executable>> exe =
        Executable::Create(std::move(program), library_, seed);
    EXPECT_TRUE(exe.ok()) << exe.status();
    return exe.ok() ? std::move(*exe) : nullptr;
  }

  // Saves `saved`'s tensors, then expects loading into a model built from `program` to fail
  // with `message` and to leave that model's tensors as they were.
  void ExpectRejected(ProgramSpec program, const std::string& message) {
    std::unique_ptr<Executable> saved = Make();
    ASSERT_TRUE(SaveCheckpoint(path_, state_, *saved).ok());
    std::unique_ptr<Executable> target = Make(std::move(program), /*seed=*/2);
    const std::vector<std::string> before = TensorBytes(*target);
    absl::StatusOr<CheckpointState> loaded = LoadCheckpoint(path_, *target);
    ASSERT_FALSE(loaded.ok());
    EXPECT_EQ(loaded.status().message(), path_ + ": " + message);
    EXPECT_EQ(TensorBytes(*target), before) << "a failed load changed the model's tensors";
  }

  FakeKernelLibrary library_;
  fs::path dir_;
  std::string path_;
  CheckpointState state_;
};

TEST_F(CheckpointTest, RoundTripIsBitExact) {
  std::unique_ptr<Executable> saved = Make(MakeProgram(), /*seed=*/1);
  // Values a text format or a float conversion would lose.
  float* weight = saved->FindPersistent("fc1.weight")->f32();
  weight[0] = -0.0f;
  weight[1] = std::numeric_limits<float>::denorm_min();
  // (NaN and infinity are refused on load: NonFiniteWeightsAreRejected.)
  weight[2] = std::numeric_limits<float>::max();
  weight[3] = std::bit_cast<float>(0x80800001u);  // One ulp below -min(): every bit counts.
  saved->FindPersistent("adam.step")->i64()[0] = (int64_t{1} << 40) + 3;
  ASSERT_TRUE(SaveCheckpoint(path_, state_, *saved).ok());

  std::unique_ptr<Executable> loaded = Make(MakeProgram(), /*seed=*/2);
  ASSERT_NE(TensorBytes(*loaded), TensorBytes(*saved)) << "the seeds should differ the tensors";
  absl::StatusOr<CheckpointState> state = LoadCheckpoint(path_, *loaded);
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_EQ(TensorBytes(*loaded), TensorBytes(*saved));

  EXPECT_EQ(state->model_name, "tiny_mlp");
  EXPECT_EQ(state->seed, 42u);
  EXPECT_EQ(state->epoch, 2);
  EXPECT_EQ(state->global_step, 6);
  ASSERT_EQ(state->history.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    const EpochMetrics& got = state->history[i];
    const EpochMetrics& want = state_.history[i];
    EXPECT_EQ(got.epoch, want.epoch);
    EXPECT_TRUE(SameBits(got.train_loss, want.train_loss));
    EXPECT_TRUE(SameBits(got.test_loss, want.test_loss));
    EXPECT_TRUE(SameBits(got.test_accuracy, want.test_accuracy));
    EXPECT_TRUE(SameBits(got.seconds, want.seconds));
    EXPECT_TRUE(SameBits(got.eval_seconds, want.eval_seconds));
    EXPECT_TRUE(SameBits(got.samples_per_second, want.samples_per_second));
    EXPECT_EQ(got.train_samples, want.train_samples);
    EXPECT_EQ(got.steps, want.steps);
  }
  // The file is exactly what EncodeCheckpoint gives, and starts with the magic.
  const std::string bytes = ReadFile(path_);
  EXPECT_EQ(bytes, EncodeCheckpoint(state_, *saved));
  EXPECT_EQ(bytes.substr(0, 8), "KILNCKPT");
}

TEST_F(CheckpointTest, SavingOverwritesAndLeavesNoTemporaryFile) {
  std::unique_ptr<Executable> exe = Make();
  ASSERT_TRUE(SaveCheckpoint(path_, state_, *exe).ok());
  exe->FindPersistent("adam.step")->i64()[0] = 99;
  state_.epoch = 3;
  state_.global_step = 9;
  state_.history.push_back(Metrics(3, 1.0, 0.5));
  ASSERT_TRUE(SaveCheckpoint(path_, state_, *exe).ok());

  std::set<std::string> files;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir_)) {
    files.insert(entry.path().filename().string());
  }
  EXPECT_EQ(files, std::set<std::string>{"run.ckpt"});
  std::unique_ptr<Executable> loaded = Make(MakeProgram(), /*seed=*/5);
  absl::StatusOr<CheckpointState> state = LoadCheckpoint(path_, *loaded);
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_EQ(state->epoch, 3);
  EXPECT_EQ(loaded->FindPersistent("adam.step")->i64()[0], 99);
  // Readable by others, like any file the user asked for (mkstemp would make it 0600).
  EXPECT_EQ(fs::status(path_).permissions() & fs::perms::others_read, fs::perms::others_read);
}

TEST_F(CheckpointTest, SavingIntoAMissingDirectoryFailsCleanly) {
  std::unique_ptr<Executable> exe = Make();
  const std::string path = (dir_ / "no_such_dir" / "run.ckpt").string();
  absl::Status status = SaveCheckpoint(path, state_, *exe);
  ASSERT_FALSE(status.ok());
  EXPECT_TRUE(absl::StrContains(status.message(), "no_such_dir")) << status;
  EXPECT_TRUE(fs::is_empty(dir_));
}

TEST_F(CheckpointTest, EveryFlippedByteIsDetected) {
  std::unique_ptr<Executable> exe = Make();
  ASSERT_TRUE(SaveCheckpoint(path_, state_, *exe).ok());
  const std::string good = ReadFile(path_);
  for (size_t i = 0; i < good.size(); ++i) {
    std::string bad = good;
    bad[i] = static_cast<char>(bad[i] ^ 0x10);
    WriteFile(path_, bad);
    absl::StatusOr<Checkpoint> read = ReadCheckpoint(path_);
    ASSERT_FALSE(read.ok()) << "byte " << i << " flipped went unnoticed";
    const std::string message(read.status().message());
    EXPECT_TRUE(absl::StartsWith(message, path_ + ": ")) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    if (i < 8) {
      EXPECT_EQ(message, path_ + ": not a kiln checkpoint") << "byte " << i;
    } else if (i < 24) {
      EXPECT_EQ(message, path_ + ": checksum mismatch in the header (file is corrupt)")
          << "byte " << i;
    } else {
      EXPECT_EQ(message, path_ + ": checksum mismatch (file is corrupt)") << "byte " << i;
    }
  }
}

TEST_F(CheckpointTest, EveryTruncationIsDetected) {
  std::unique_ptr<Executable> exe = Make();
  ASSERT_TRUE(SaveCheckpoint(path_, state_, *exe).ok());
  const std::string good = ReadFile(path_);
  for (size_t size = 0; size < good.size(); ++size) {
    WriteFile(path_, good.substr(0, size));
    std::unique_ptr<Executable> target = Make(MakeProgram(), /*seed=*/3);
    const std::vector<std::string> before = TensorBytes(*target);
    absl::StatusOr<CheckpointState> loaded = LoadCheckpoint(path_, *target);
    ASSERT_FALSE(loaded.ok()) << "truncated to " << size << " bytes but loaded";
    EXPECT_TRUE(absl::StartsWith(loaded.status().message(), path_ + ": truncated ("))
        << loaded.status();
    EXPECT_EQ(TensorBytes(*target), before);
  }
  WriteFile(path_, good.substr(0, 100));
  EXPECT_EQ(ReadCheckpoint(path_).status().message(),
            absl::StrCat(path_, ": truncated (100 of ", good.size(), " bytes)"));
}

TEST_F(CheckpointTest, TrailingBytesAreCorruption) {
  std::unique_ptr<Executable> exe = Make();
  ASSERT_TRUE(SaveCheckpoint(path_, state_, *exe).ok());
  const std::string good = ReadFile(path_);
  WriteFile(path_, good + "x");
  EXPECT_EQ(ReadCheckpoint(path_).status().message(),
            absl::StrCat(path_, ": ", good.size() + 1, " bytes but the header says ", good.size(),
                         " (file is corrupt)"));
}

TEST_F(CheckpointTest, OtherFilesAreNotCheckpoints) {
  WriteFile(path_, "{\"epochs\":[{\"epoch\":1,\"train_loss\":0.5}]}\n");
  EXPECT_EQ(ReadCheckpoint(path_).status().message(), path_ + ": not a kiln checkpoint");
  WriteFile(path_, "KILN");  // A prefix of the magic: a truncated checkpoint.
  EXPECT_EQ(ReadCheckpoint(path_).status().message(),
            path_ + ": truncated (4 bytes, shorter than the header)");
}

TEST_F(CheckpointTest, MissingFileIsNotFound) {
  std::unique_ptr<Executable> exe = Make();
  absl::StatusOr<CheckpointState> loaded = LoadCheckpoint(path_, *exe);
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(absl::StartsWith(loaded.status().message(), path_ + ": cannot open"))
      << loaded.status();
}

// /dev/zero would be read until memory ran out (here: the 2 GiB address space of the child);
// a checkpoint must be a regular file, and its preamble is checked before the rest is read.
TEST_F(CheckpointTest, DevicesAreRefusedNotReadForever) {
  EXPECT_EXIT(
      {
        testing::LimitAddressSpace();
        std::cerr << ReadCheckpoint("/dev/zero").status().message();
        std::exit(0);
      },
      ::testing::ExitedWithCode(0), "/dev/zero: not a regular file \\(a character device\\)");
}

TEST_F(CheckpointTest, NewerFormatVersionIsRejected) {
  std::unique_ptr<Executable> exe = Make();
  std::string bytes = EncodeCheckpoint(state_, *exe);
  bytes[8] = 3;  // The version, little-endian; then re-seal the preamble and the whole file.
  Reseal(bytes);
  WriteFile(path_, bytes);
  EXPECT_EQ(ReadCheckpoint(path_).status().message(),
            path_ + ": checkpoint format version 3, this kiln reads versions 1 to 2");
}

TEST_F(CheckpointTest, SettingsRoundTrip) {
  std::unique_ptr<Executable> exe = Make();
  state_.settings = {{"lr", "0.003"}, {"data dir", "/data/fashion mnist"}};
  ASSERT_TRUE(SaveCheckpoint(path_, state_, *exe).ok());
  absl::StatusOr<Checkpoint> read = ReadCheckpoint(path_);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->version, 2u);
  ASSERT_EQ(read->state.settings.size(), 2u);
  EXPECT_EQ(read->state.settings[1].name, "data dir");
  EXPECT_EQ(read->state.settings[1].value, "/data/fashion mnist");
}

// Version 1 (before settings were recorded, and what scripts/export_pytorch_weights.py writes)
// still reads, with no settings.
TEST_F(CheckpointTest, VersionOneReadsWithoutSettings) {
  std::unique_ptr<Executable> exe = Make();
  std::string bytes = EncodeCheckpoint(state_, *exe);
  const size_t settings_count = 24 + 4 + state_.model_name.size() + 8 + 8 + 8;
  bytes.erase(settings_count, 4);
  Poke<uint32_t>(bytes, 8, 1);
  Poke<uint64_t>(bytes, 12, bytes.size());
  Reseal(bytes);
  WriteFile(path_, bytes);
  absl::StatusOr<Checkpoint> read = ReadCheckpoint(path_);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->version, 1u);
  EXPECT_TRUE(read->state.settings.empty());
  EXPECT_EQ(read->state.epoch, 2);
  EXPECT_EQ(read->tensors.size(), 3u);
}

// With recomputed checksums a forged checkpoint passes every integrity check; the fields are
// range-checked so a resume cannot start after epoch -3 or overflow epoch * steps.
TEST_F(CheckpointTest, ForgedProgressIsRejected) {
  std::unique_ptr<Executable> exe = Make();
  const auto error = [&](const CheckpointState& state) {
    WriteFile(path_, EncodeCheckpoint(state, *exe));
    return std::string(ReadCheckpoint(path_).status().message());
  };
  const std::string malformed = path_ + ": malformed checkpoint ";
  CheckpointState forged = state_;
  forged.epoch = -3;
  EXPECT_EQ(error(forged), malformed + "(epoch -3 is negative)");
  forged.epoch = int64_t{1} << 62;
  EXPECT_EQ(error(forged),
            malformed + "(it says 4611686018427387904 epochs are done but holds metrics of 2)");
  forged = state_;
  forged.global_step = 7;
  EXPECT_EQ(error(forged), malformed + "(global step 7 is not 2 epochs of 3 steps)");
  forged = state_;
  forged.history[1].epoch = 5;
  EXPECT_EQ(error(forged), malformed + "(the metrics of epoch 2 are inconsistent)");
  forged = state_;
  forged.history[0].steps = forged.history[1].steps = int64_t{1} << 62;
  forged.global_step = int64_t{1} << 62;
  EXPECT_EQ(error(forged),
            malformed + "(global step 4611686018427387904 is not 2 epochs of 4611686018427387904 "
                        "steps)");
}

TEST_F(CheckpointTest, NonFiniteWeightsAreRejected) {
  for (float bad : {std::numeric_limits<float>::quiet_NaN(),
                    -std::numeric_limits<float>::infinity()}) {
    std::unique_ptr<Executable> exe = Make();
    exe->FindPersistent("fc1.weight")->f32()[5] = bad;
    ASSERT_TRUE(SaveCheckpoint(path_, state_, *exe).ok());
    EXPECT_EQ(ReadCheckpoint(path_).status().message(),
              path_ + ": checkpoint holds a non-finite value in tensor 'fc1.weight'");
  }
}

// Tensor headers: type codes, negative dimensions, sizes past 64 bits, counts past the file.
TEST_F(CheckpointTest, ForgedTensorHeadersAreRejected) {
  std::unique_ptr<Executable> exe = Make();
  const std::string good = EncodeCheckpoint(state_, *exe);
  const size_t name = good.find("fc1.weight");  // The first tensor: name, u8 type, u32 rank, dims.
  ASSERT_NE(name, std::string::npos);
  const size_t type = name + 10, dims = type + 1 + 4, count = name - 4 - 4;
  const auto error = [&](const std::function<void(std::string&)>& forge) {
    std::string bytes = good;
    forge(bytes);
    Reseal(bytes);
    WriteFile(path_, bytes);
    return std::string(ReadCheckpoint(path_).status().message());
  };
  const std::string malformed = path_ + ": malformed checkpoint ";
  EXPECT_EQ(error([&](std::string& b) { Poke<uint8_t>(b, type, 7); }),
            malformed + "(tensor 'fc1.weight' has type code 7)");
  EXPECT_EQ(error([&](std::string& b) { Poke<int64_t>(b, dims, -1); }),
            malformed + "(tensor 'fc1.weight': f32[-1,4] has a negative dimension)");
  EXPECT_EQ(error([&](std::string& b) {
              Poke<int64_t>(b, dims, int64_t{1} << 40);
              Poke<int64_t>(b, dims + 8, int64_t{1} << 40);
            }),
            malformed + "(tensor 'fc1.weight': f32[1099511627776,1099511627776] has more bytes "
                        "than 64 bits can count)");
  EXPECT_EQ(error([&](std::string& b) { Poke<uint32_t>(b, count, 0xffffffff); }),
            malformed + "(the tensor count exceeds the file)");
}

TEST_F(CheckpointTest, ShapeMismatchNamesTheTensor) {
  ExpectRejected(MakeProgram({3, 5}),
                 "tensor 'fc1.weight' has shape [3,4], the model expects [3,5]");
}

// The mismatch is on the last tensor, so a loader that copied as it checked would already have
// overwritten the first two.
TEST_F(CheckpointTest, TypeMismatchNamesTheTensorAndLoadsNothing) {
  ProgramSpec program = MakeProgram();
  program.persistent[2].type = ElementType::kF32;
  ExpectRejected(program, "tensor 'adam.step' is i64, the model expects f32");
}

TEST_F(CheckpointTest, TensorTheModelLacksIsRejected) {
  ProgramSpec program = MakeProgram();
  program.persistent.erase(program.persistent.begin() + 2);
  ExpectRejected(program,
                 "tensor 'adam.step' is not in the model (a checkpoint of a different model?)");
}

TEST_F(CheckpointTest, TensorMissingFromTheCheckpointIsRejected) {
  ProgramSpec program = MakeProgram();
  program.persistent.push_back(Persistent("fc2.weight", ElementType::kF32, {4, 2}));
  ExpectRejected(program, "tensor 'fc2.weight' of the model is missing from the checkpoint");
}

TEST_F(CheckpointTest, RenamedTensorIsRejected) {
  ProgramSpec program = MakeProgram();
  program.persistent[1].name = "fc1.b";
  ExpectRejected(program,
                 "tensor 'fc1.bias' is not in the model (a checkpoint of a different model?)");
}

// A training step whose result depends on the order of the samples, the step keys and the
// state it starts from: w = w / 2 + x[0] + (key mod 256) / 256 per row, steps += 1, loss = w.
template <int64_t kBatch>
void OrderSensitiveStep(void** slots, const KilnParallel* /*parallel*/) {
  const float* x = static_cast<const float*>(slots[0]);
  const int64_t key = *static_cast<const int64_t*>(slots[2]);
  float& w = *static_cast<float*>(slots[3]);
  for (int64_t r = 0; r < kBatch; ++r) {
    w = w * 0.5f + x[r] + static_cast<float>(static_cast<uint64_t>(key) % 256) / 256.0f;
  }
  ++*static_cast<int64_t*>(slots[4]);
  *static_cast<float*>(slots[5]) = w;
}

BufferSpec Buffer(const std::string& name, BufferRole role, ElementType type,
                  std::vector<int64_t> shape) {
  BufferSpec buffer{name, role, type, std::move(shape), 0, 0};
  buffer.bytes = NumElements(buffer.shape) * ElementSize(type);
  return buffer;
}

EntrySpec TrainEntry(int64_t batch) {
  EntrySpec entry;
  entry.symbol = absl::StrCat("train_", batch);
  entry.training = true;
  entry.batch_size = batch;
  entry.buffers = {Buffer("x", BufferRole::kInput, ElementType::kF32, {batch, 1}),
                   Buffer("y", BufferRole::kInput, ElementType::kI64, {batch}),
                   Buffer(kRngInput, BufferRole::kInput, ElementType::kI64, {}),
                   Buffer("w", BufferRole::kPersistent, ElementType::kF32, {}),
                   Buffer("steps", BufferRole::kPersistent, ElementType::kI64, {}),
                   Buffer(kLossOutput, BufferRole::kOutput, ElementType::kF32, {})};
  entry.arena_bytes = 64;
  return entry;
}

class TrainerCheckpointTest : public CheckpointTest {
 protected:
  TrainerCheckpointTest() {
    library_.Add("train_4", &OrderSensitiveStep<4>);
    library_.Add("train_2", &OrderSensitiveStep<2>);
    for (int64_t i = 0; i < 10; ++i) {
      train_.features.push_back(static_cast<float>(i));
      train_.labels.push_back(0);
    }
    train_.num_samples = 10;
    train_.feature_dim = 1;
    train_.sample_shape = {1};
    options_.batch_size = 4;  // Batches of 4, 4, 2: three steps per epoch.
    options_.seed = 11;
    options_.model_name = "order";
  }

  std::unique_ptr<Executable> MakeTrainable(uint64_t seed) {
    ProgramSpec program;
    program.entries = {TrainEntry(4), TrainEntry(2)};
    program.persistent = {
        Persistent("w", ElementType::kF32, {}, {InitSpec::Kind::kNormal, 0.0, 1.0}),
        Persistent("steps", ElementType::kI64, {})};
    program.features_input = "x";
    program.labels_input = "y";
    return Make(std::move(program), seed);
  }

  absl::StatusOr<std::vector<EpochMetrics>> Fit(Executable& exe, TrainOptions options) {
    Trainer trainer(exe, pool_, std::move(options));
    return trainer.Fit(train_, Dataset());
  }

  ThreadPool pool_{1};
  Dataset train_;
  TrainOptions options_;
};

TEST_F(TrainerCheckpointTest, FitSavesAfterEveryEpoch) {
  std::unique_ptr<Executable> exe = MakeTrainable(/*seed=*/4);
  options_.epochs = 2;
  options_.checkpoint_path = path_;
  // on_epoch runs after the checkpoint is written: it must already hold this epoch.
  std::vector<CheckpointState> seen;
  options_.on_epoch = [&](const EpochMetrics& metrics) {
    absl::StatusOr<Checkpoint> checkpoint = ReadCheckpoint(path_);
    ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
    EXPECT_EQ(checkpoint->state.epoch, metrics.epoch);
    seen.push_back(checkpoint->state);
  };
  ASSERT_TRUE(Fit(*exe, options_).ok());
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].global_step, 3);
  EXPECT_EQ(seen[1].global_step, 6);
  EXPECT_EQ(seen[1].model_name, "order");
  EXPECT_EQ(seen[1].seed, 11u);
  ASSERT_EQ(seen[1].history.size(), 2u);
  EXPECT_EQ(seen[1].history[1].epoch, 2);
}

// Three epochs straight vs. one epoch, a fresh process (other initial values) that loads the
// checkpoint, then epochs 2 and 3: the same tensors, bit for bit, and the same history.
TEST_F(TrainerCheckpointTest, ResumedRunEndsWhereTheUninterruptedOneDoes) {
  options_.epochs = 3;
  std::unique_ptr<Executable> straight = MakeTrainable(/*seed=*/4);
  absl::StatusOr<std::vector<EpochMetrics>> full = Fit(*straight, options_);
  ASSERT_TRUE(full.ok()) << full.status();

  TrainOptions first = options_;
  first.epochs = 1;
  first.checkpoint_path = path_;
  std::unique_ptr<Executable> interrupted = MakeTrainable(/*seed=*/4);
  ASSERT_TRUE(Fit(*interrupted, first).ok());

  std::unique_ptr<Executable> resumed = MakeTrainable(/*seed=*/77);
  absl::StatusOr<CheckpointState> state = LoadCheckpoint(path_, *resumed);
  ASSERT_TRUE(state.ok()) << state.status();
  TrainOptions rest = options_;
  rest.first_epoch = state->epoch + 1;
  rest.history = state->history;
  rest.checkpoint_path = path_;
  absl::StatusOr<std::vector<EpochMetrics>> tail = Fit(*resumed, rest);
  ASSERT_TRUE(tail.ok()) << tail.status();

  EXPECT_EQ(TensorBytes(*resumed), TensorBytes(*straight));
  EXPECT_EQ(resumed->FindPersistent("steps")->i64()[0], 9);
  ASSERT_EQ(tail->size(), 3u);
  for (size_t e = 0; e < 3; ++e) {
    EXPECT_EQ((*tail)[e].epoch, (*full)[e].epoch);
    EXPECT_TRUE(SameBits((*tail)[e].train_loss, (*full)[e].train_loss)) << "epoch " << e + 1;
  }
  absl::StatusOr<Checkpoint> last = ReadCheckpoint(path_);
  ASSERT_TRUE(last.ok()) << last.status();
  EXPECT_EQ(last->state.epoch, 3);
  EXPECT_EQ(last->state.global_step, 9);
  EXPECT_EQ(last->state.history.size(), 3u);
}

}  // namespace
}  // namespace kiln::runtime
