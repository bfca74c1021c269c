// Checkpoints: a training run's persistent tensors (parameters and optimizer state) and where it
// stood (epochs done, global step, metrics so far) in one checksummed file, written atomically,
// so an interrupted run resumes with the same result as an uninterrupted one.
//
//   CheckpointState state{.model_name = "fashion_mlp", .seed = 0, .epoch = 3,
//                         .global_step = 2814, .history = history};
//   KILN_RETURN_IF_ERROR(SaveCheckpoint("run.ckpt", state, *exe));
//   ...
//   KILN_ASSIGN_OR_RETURN(CheckpointState resumed, LoadCheckpoint("run.ckpt", *exe));
//
// File layout (integers and floats little-endian):
//   "KILNCKPT"  u32 version  u64 file_size  u32 crc32(bytes 0..19)        -- the preamble
//   str model_name  u64 seed  i64 epoch  i64 global_step
//   u32 n  n x {str name, str value}                                   -- the run's settings
//   u32 n  n x {i64 epoch, f64 train_loss, test_loss, test_accuracy, seconds, eval_seconds,
//               samples_per_second, i64 train_samples, i64 steps}
//   u32 n  n x {str name, u8 type (0 f32, 1 i64), u32 rank, rank x i64 dim, u64 bytes, data}
//   u32 crc32(everything before it)
// where str is u32 length + bytes. The preamble's own checksum lets a reader tell a truncated
// file (shorter than file_size) from a corrupt one (a damaged file_size). Version 1 files (and
// scripts/export_pytorch_weights.py's) lack the settings; they read with none recorded.
#ifndef KILN_RUNTIME_CHECKPOINT_H_
#define KILN_RUNTIME_CHECKPOINT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/executable.h"
#include "runtime/program.h"
#include "runtime/train_recipe.h"
#include "runtime/trainer.h"

namespace kiln::runtime {

inline constexpr char kCheckpointMagic[] = "KILNCKPT";  // 8 bytes, no terminator in the file.
inline constexpr uint32_t kCheckpointVersion = 2;  // Reads 1 (no settings) and 2.

// Where a run stood when the checkpoint was written.
struct CheckpointState {
  std::string model_name;
  uint64_t seed = 0;
  int64_t epoch = 0;        // Epochs completed; a resumed run starts at epoch + 1.
  int64_t global_step = 0;  // Training steps completed (the next step's key index).
  // What shaped the run (TrainOptions::settings); empty in version 1 files.
  std::vector<RunSetting> settings;
  std::vector<EpochMetrics> history;  // Metrics of epochs 1..epoch.
};

// One persistent tensor as stored in a checkpoint.
struct CheckpointTensor {
  std::string name;
  ElementType type = ElementType::kF32;
  std::vector<int64_t> shape;
  std::string bytes;
};

// A checkpoint file read and checked (magic, version, size, checksum) but not yet applied.
struct Checkpoint {
  std::string path;  // For messages.
  uint32_t version = kCheckpointVersion;  // 1: written before settings were recorded.
  CheckpointState state;
  std::vector<CheckpointTensor> tensors;
};

// Writes `state` and every persistent tensor of `executable` to `path`: a temporary file in the
// same directory, fsync, rename over `path`, fsync of the directory. A crash at any point leaves
// either the old file or the new one.
absl::Status SaveCheckpoint(const std::string& path, const CheckpointState& state,
                            const Executable& executable);

// The file's bytes as SaveCheckpoint writes them (exposed for tests and tools).
std::string EncodeCheckpoint(const CheckpointState& state, const Executable& executable);
// The same file for tensors held outside an executable (kiln import's weights).
std::string EncodeCheckpoint(const CheckpointState& state,
                             const std::vector<CheckpointTensor>& tensors);

// Reads and verifies `path`. Errors are one line naming the file: "run.ckpt: truncated (1200 of
// 5400 bytes)", "run.ckpt: checksum mismatch (file is corrupt)", "run.ckpt: not a kiln
// checkpoint". A missing file is NotFound.
absl::StatusOr<Checkpoint> ReadCheckpoint(const std::string& path);

// Checks that `checkpoint` holds exactly the persistent tensors of `executable`, with the same
// types and shapes ("run.ckpt: tensor 'fc1.weight' has shape [784,128], the model expects
// [784,256]"), then copies them in. On error nothing has been written.
absl::Status RestoreCheckpoint(const Checkpoint& checkpoint, Executable& executable);

// ReadCheckpoint then RestoreCheckpoint; returns the saved state.
absl::StatusOr<CheckpointState> LoadCheckpoint(const std::string& path, Executable& executable);

// Reads checkpoint `path` (kiln train's or a built program's) and loads its tensors into
// `executable`, after checking that it was saved from this model: the model name and, where the
// checkpoint records it, the graph hash ("w.ckpt: a checkpoint of model 'cnn' (fnv1a:...), not
// 'fashion_mlp' (fnv1a:...)").
absl::Status LoadWeights(const std::string& path, const TrainRecipe& recipe,
                         Executable& executable);

}  // namespace kiln::runtime

#endif  // KILN_RUNTIME_CHECKPOINT_H_
