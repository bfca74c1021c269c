#include "runtime/checkpoint.h"

#include <zlib.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "runtime/byte_codec.h"
#include "runtime/tensor.h"
#include "support/file_io.h"
#include "support/status.h"

namespace kiln::runtime {
namespace {

// Tensor data is copied as the host holds it; the format is little-endian.
static_assert(std::endian::native == std::endian::little, "checkpoints assume a little-endian host");
static_assert(sizeof(kCheckpointMagic) - 1 == 8, "the magic is 8 bytes");

// Magic, version, file size, then the preamble's checksum.
constexpr size_t kPreambleBytes = 8 + 4 + 8;
constexpr size_t kHeaderBytes = kPreambleBytes + 4;
constexpr size_t kCrcBytes = 4;

uint32_t Crc32(const char* data, size_t size) {
  uLong crc = crc32(0L, Z_NULL, 0);
  // zlib takes uInt lengths; feed large tensors in pieces.
  while (size > 0) {
    const uInt chunk = static_cast<uInt>(std::min<size_t>(size, 1u << 30));
    crc = crc32(crc, reinterpret_cast<const Bytef*>(data), chunk);
    data += chunk;
    size -= chunk;
  }
  return static_cast<uint32_t>(crc);
}

std::string ShapeString(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ","), "]");
}

uint8_t TypeCode(ElementType type) { return type == ElementType::kF32 ? 0 : 1; }

uint32_t ReadU32At(const std::string& data, size_t pos) {
  Decoder decoder(data, pos, pos + 4);
  return decoder.U32();
}

void EncodeMetrics(const EpochMetrics& m, Encoder& out) {
  out.I64(m.epoch);
  out.F64(m.train_loss);
  out.F64(m.test_loss);
  out.F64(m.test_accuracy);
  out.F64(m.seconds);
  out.F64(m.eval_seconds);
  out.F64(m.samples_per_second);
  out.I64(m.train_samples);
  out.I64(m.steps);
}

EpochMetrics DecodeMetrics(Decoder& in) {
  EpochMetrics m;
  m.epoch = in.I64();
  m.train_loss = in.F64();
  m.test_loss = in.F64();
  m.test_accuracy = in.F64();
  m.seconds = in.F64();
  m.eval_seconds = in.F64();
  m.samples_per_second = in.F64();
  m.train_samples = in.I64();
  m.steps = in.I64();
  return m;
}

absl::Status Malformed(const std::string& path, const std::string& what) {
  return absl::DataLossError(absl::StrFormat("%s: malformed checkpoint (%s)", path, what));
}

// The smallest encoded tensor: an empty name, the type, rank 0 and the byte count.
constexpr size_t kMinTensorBytes = 4 + 1 + 4 + 8;
// One encoded EpochMetrics.
constexpr size_t kMetricsBytes = 9 * 8;

// Weights that are NaN or infinite would poison every step after a resume; a run whose loss went
// non-finite stops before checkpointing, so such a file is damaged or forged.
absl::Status CheckFinite(const std::string& path, const CheckpointTensor& tensor) {
  if (tensor.type != ElementType::kF32) return absl::OkStatus();
  const size_t n = tensor.bytes.size() / sizeof(float);
  for (size_t i = 0; i < n; ++i) {
    float value;
    std::memcpy(&value, tensor.bytes.data() + i * sizeof(float), sizeof(float));
    if (std::isfinite(value)) continue;
    return absl::DataLossError(absl::StrFormat(
        "%s: checkpoint holds a non-finite value in tensor '%s'", path, tensor.name));
  }
  return absl::OkStatus();
}

absl::StatusOr<CheckpointTensor> DecodeTensor(const std::string& path, Decoder& in) {
  CheckpointTensor tensor;
  tensor.name = in.Str();
  const uint8_t type = in.U8();
  if (type > 1) return Malformed(path, absl::StrFormat("tensor '%s' has type code %d", tensor.name, type));
  tensor.type = type == 0 ? ElementType::kF32 : ElementType::kI64;
  const uint32_t rank = in.U32();
  if (rank > in.remaining() / 8) return Malformed(path, "a tensor's rank exceeds the file");
  for (uint32_t i = 0; i < rank; ++i) tensor.shape.push_back(in.I64());
  const uint64_t bytes = in.U64();
  if (!in.ok() || bytes > in.remaining()) return Malformed(path, "a tensor runs past the end");
  // Negative dimensions and products past 64 bits are refused before they are compared.
  absl::StatusOr<int64_t> expected = CheckedByteSize(tensor.type, tensor.shape);
  if (!expected.ok()) {
    return Malformed(path, absl::StrFormat("tensor '%s': %s", tensor.name,
                                           expected.status().message()));
  }
  if (bytes != static_cast<uint64_t>(*expected)) {
    return Malformed(path, absl::StrFormat("tensor '%s' holds %d bytes but %s needs %d",
                                           tensor.name, bytes,
                                           TypeString(tensor.type, tensor.shape), *expected));
  }
  tensor.bytes = in.Bytes(bytes);
  KILN_RETURN_IF_ERROR(CheckFinite(path, tensor));
  return tensor;
}

// Where the run stood must be one a run can reach: epochs 1..epoch each recorded once, in order,
// every epoch of the same number of steps, and global_step the steps of `epoch` epochs. This is
// what bounds `epoch` (each recorded epoch costs bytes of the file), so resuming can neither
// start at a negative epoch nor overflow epoch * steps.
absl::Status CheckProgress(const std::string& path, const CheckpointState& state) {
  if (state.epoch < 0) {
    return Malformed(path, absl::StrFormat("epoch %d is negative", state.epoch));
  }
  if (state.history.size() != static_cast<uint64_t>(state.epoch)) {
    return Malformed(path, absl::StrFormat("it says %d epochs are done but holds metrics of %d",
                                           state.epoch, state.history.size()));
  }
  const int64_t steps = state.history.empty() ? 0 : state.history[0].steps;
  for (size_t i = 0; i < state.history.size(); ++i) {
    const EpochMetrics& m = state.history[i];
    if (m.epoch != static_cast<int64_t>(i) + 1 || m.steps != steps || m.steps < 0 ||
        m.train_samples < 0) {
      return Malformed(path, absl::StrFormat("the metrics of epoch %d are inconsistent", i + 1));
    }
  }
  int64_t global_step = 0;
  if (__builtin_mul_overflow(state.epoch, steps, &global_step) ||
      global_step != state.global_step) {
    return Malformed(path, absl::StrFormat("global step %d is not %d epochs of %d steps",
                                           state.global_step, state.epoch, steps));
  }
  return absl::OkStatus();
}

// Version 2 on: the run's settings, each two strings of at least their 4-byte lengths.
absl::Status DecodeSettings(const std::string& path, uint32_t version, Decoder& in,
                            CheckpointState& state) {
  if (version < 2) return absl::OkStatus();
  const uint32_t count = in.U32();
  if (count > in.remaining() / 8) return Malformed(path, "the settings exceed the file");
  for (uint32_t i = 0; i < count && in.ok(); ++i) {
    RunSetting setting;
    setting.name = in.Str();
    setting.value = in.Str();
    state.settings.push_back(std::move(setting));
  }
  if (!in.ok()) return Malformed(path, "a field runs past the end");
  return absl::OkStatus();
}

// The body between the preamble and the final checksum.
absl::Status DecodeBody(const std::string& data, Checkpoint& checkpoint) {
  const std::string& path = checkpoint.path;
  Decoder in(data, kHeaderBytes, data.size() - kCrcBytes);
  CheckpointState& state = checkpoint.state;
  state.model_name = in.Str();
  state.seed = in.U64();
  state.epoch = in.I64();
  state.global_step = in.I64();
  KILN_RETURN_IF_ERROR(DecodeSettings(path, checkpoint.version, in, state));
  const uint32_t epochs = in.U32();
  if (epochs > in.remaining() / kMetricsBytes) {
    return Malformed(path, "the metrics history exceeds the file");
  }
  for (uint32_t i = 0; i < epochs; ++i) state.history.push_back(DecodeMetrics(in));
  if (!in.ok()) return Malformed(path, "a field runs past the end");
  KILN_RETURN_IF_ERROR(CheckProgress(path, state));
  const uint32_t tensors = in.U32();
  if (tensors > in.remaining() / kMinTensorBytes) {
    return Malformed(path, "the tensor count exceeds the file");
  }
  for (uint32_t i = 0; i < tensors && in.ok(); ++i) {
    KILN_ASSIGN_OR_RETURN(CheckpointTensor tensor, DecodeTensor(path, in));
    checkpoint.tensors.push_back(std::move(tensor));
  }
  if (!in.ok()) return Malformed(path, "a field runs past the end");
  if (!in.at_end()) return Malformed(path, "unexpected bytes after the last tensor");
  return absl::OkStatus();
}

// Checks the preamble (`header`: the file's first kHeaderBytes, or all of it when shorter)
// against the file's real size, before anything the size fields declare is allocated or read.
absl::Status VerifyPreamble(const std::string& path, const std::string& header, int64_t size) {
  const std::string magic(kCheckpointMagic, 8);
  if (header.size() < kHeaderBytes) {
    if (magic.compare(0, std::min(header.size(), magic.size()), header, 0, 8) != 0) {
      return absl::DataLossError(absl::StrFormat("%s: not a kiln checkpoint", path));
    }
    return absl::DataLossError(
        absl::StrFormat("%s: truncated (%d bytes, shorter than the header)", path, size));
  }
  if (header.compare(0, 8, magic) != 0) {
    return absl::DataLossError(absl::StrFormat("%s: not a kiln checkpoint", path));
  }
  if (Crc32(header.data(), kPreambleBytes) != ReadU32At(header, kPreambleBytes)) {
    return absl::DataLossError(
        absl::StrFormat("%s: checksum mismatch in the header (file is corrupt)", path));
  }
  Decoder preamble(header, 8, kPreambleBytes);
  const uint32_t version = preamble.U32();
  const uint64_t file_size = preamble.U64();
  if (version < 1 || version > kCheckpointVersion) {
    return absl::FailedPreconditionError(
        absl::StrFormat("%s: checkpoint format version %d, this kiln reads versions 1 to %d",
                        path, version, kCheckpointVersion));
  }
  if (static_cast<uint64_t>(size) < file_size) {
    return absl::DataLossError(
        absl::StrFormat("%s: truncated (%d of %d bytes)", path, size, file_size));
  }
  if (static_cast<uint64_t>(size) > file_size || file_size < kHeaderBytes + kCrcBytes) {
    return absl::DataLossError(absl::StrFormat(
        "%s: %d bytes but the header says %d (file is corrupt)", path, size, file_size));
  }
  return absl::OkStatus();
}

// Reads the preamble, checks it against the file's size, then reads the rest and checks the
// whole file's checksum; after this the body can be trusted. Reading the preamble first means a
// file that is not a checkpoint, or whose header lies about its size, costs 24 bytes of reading.
absl::StatusOr<std::string> ReadVerifiedFile(const std::string& path) {
  KILN_ASSIGN_OR_RETURN(ReadableFile file, ReadableFile::Open(path));
  std::string data(kHeaderBytes, '\0');
  KILN_ASSIGN_OR_RETURN(int64_t got, file.Read(data.data(), kHeaderBytes));
  data.resize(got);
  KILN_RETURN_IF_ERROR(VerifyPreamble(path, data, file.size()));
  data.resize(file.size());
  KILN_ASSIGN_OR_RETURN(got, file.Read(data.data() + kHeaderBytes, file.size() - kHeaderBytes));
  if (got != file.size() - static_cast<int64_t>(kHeaderBytes)) {
    return absl::DataLossError(absl::StrFormat("%s: truncated while being read (%d of %d bytes)",
                                               path, kHeaderBytes + got, file.size()));
  }
  const size_t body_end = data.size() - kCrcBytes;
  if (Crc32(data.data(), body_end) != ReadU32At(data, body_end)) {
    return absl::DataLossError(absl::StrFormat("%s: checksum mismatch (file is corrupt)", path));
  }
  return data;
}

// Every persistent tensor of the model is in the checkpoint once, with its type and shape, and
// the checkpoint holds nothing else.
absl::Status CheckTensors(const Checkpoint& checkpoint, Executable& executable) {
  const std::string& path = checkpoint.path;
  std::set<std::string> seen;
  for (const CheckpointTensor& saved : checkpoint.tensors) {
    if (!seen.insert(saved.name).second) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s: tensor '%s' appears twice", path, saved.name));
    }
    const Tensor* tensor = executable.FindPersistent(saved.name);
    if (tensor == nullptr) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: tensor '%s' is not in the model (a checkpoint of a different model?)", path,
          saved.name));
    }
    if (saved.type != tensor->type()) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s: tensor '%s' is %s, the model expects %s", path, saved.name,
                          ElementTypeName(saved.type), ElementTypeName(tensor->type())));
    }
    if (saved.shape != tensor->shape()) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: tensor '%s' has shape %s, the model expects %s", path, saved.name,
          ShapeString(saved.shape), ShapeString(tensor->shape())));
    }
  }
  for (const Tensor& tensor : executable.persistent()) {
    if (seen.count(tensor.name()) == 0) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: tensor '%s' of the model is missing from the checkpoint", path, tensor.name()));
    }
  }
  return absl::OkStatus();
}

// The preamble and the run's state, up to the tensor count.
void EncodeHead(const CheckpointState& state, size_t num_tensors, Encoder& out) {
  out.Bytes(kCheckpointMagic, 8);
  out.U32(kCheckpointVersion);
  out.U64(0);  // The file size, patched below.
  out.U32(0);  // The preamble checksum, patched below.
  out.Str(state.model_name);
  out.U64(state.seed);
  out.I64(state.epoch);
  out.I64(state.global_step);
  out.U32(static_cast<uint32_t>(state.settings.size()));
  for (const RunSetting& setting : state.settings) {
    out.Str(setting.name);
    out.Str(setting.value);
  }
  out.U32(static_cast<uint32_t>(state.history.size()));
  for (const EpochMetrics& metrics : state.history) EncodeMetrics(metrics, out);
  out.U32(static_cast<uint32_t>(num_tensors));
}

void EncodeTensor(const std::string& name, ElementType type, const std::vector<int64_t>& shape,
                  const char* data, size_t bytes, Encoder& out) {
  out.Str(name);
  out.U8(TypeCode(type));
  out.U32(static_cast<uint32_t>(shape.size()));
  for (int64_t dim : shape) out.I64(dim);
  out.U64(static_cast<uint64_t>(bytes));
  out.Bytes(data, bytes);
}

// Patches the file size and preamble checksum in, then appends the file's checksum.
std::string EncodeTail(Encoder& out) {
  std::string& data = out.out();
  const uint64_t file_size = data.size() + kCrcBytes;
  for (int i = 0; i < 8; ++i) data[12 + i] = static_cast<char>((file_size >> (8 * i)) & 0xff);
  const uint32_t preamble_crc = Crc32(data.data(), kPreambleBytes);
  for (int i = 0; i < 4; ++i) {
    data[kPreambleBytes + i] = static_cast<char>((preamble_crc >> (8 * i)) & 0xff);
  }
  out.U32(Crc32(data.data(), data.size()));
  return std::move(data);
}

}  // namespace

std::string EncodeCheckpoint(const CheckpointState& state, const Executable& executable) {
  Encoder out;
  EncodeHead(state, executable.persistent().size(), out);
  for (const Tensor& tensor : executable.persistent()) {
    EncodeTensor(tensor.name(), tensor.type(), tensor.shape(),
                 static_cast<const char*>(tensor.data()), tensor.bytes(), out);
  }
  return EncodeTail(out);
}

std::string EncodeCheckpoint(const CheckpointState& state,
                             const std::vector<CheckpointTensor>& tensors) {
  Encoder out;
  EncodeHead(state, tensors.size(), out);
  for (const CheckpointTensor& tensor : tensors) {
    EncodeTensor(tensor.name, tensor.type, tensor.shape, tensor.bytes.data(), tensor.bytes.size(),
                 out);
  }
  return EncodeTail(out);
}

absl::Status SaveCheckpoint(const std::string& path, const CheckpointState& state,
                            const Executable& executable) {
  return WriteFileAtomically(path, EncodeCheckpoint(state, executable));
}

absl::StatusOr<Checkpoint> ReadCheckpoint(const std::string& path) {
  KILN_ASSIGN_OR_RETURN(std::string data, ReadVerifiedFile(path));
  Checkpoint checkpoint;
  checkpoint.path = path;
  checkpoint.version = ReadU32At(data, 8);  // Checked by ReadVerifiedFile.
  KILN_RETURN_IF_ERROR(DecodeBody(data, checkpoint));
  return checkpoint;
}

absl::Status RestoreCheckpoint(const Checkpoint& checkpoint, Executable& executable) {
  KILN_RETURN_IF_ERROR(CheckTensors(checkpoint, executable));
  for (const CheckpointTensor& saved : checkpoint.tensors) {
    Tensor* tensor = executable.FindPersistent(saved.name);
    std::memcpy(tensor->data(), saved.bytes.data(), saved.bytes.size());
  }
  return absl::OkStatus();
}

absl::StatusOr<CheckpointState> LoadCheckpoint(const std::string& path, Executable& executable) {
  KILN_ASSIGN_OR_RETURN(Checkpoint checkpoint, ReadCheckpoint(path));
  KILN_RETURN_IF_ERROR(RestoreCheckpoint(checkpoint, executable));
  return std::move(checkpoint.state);
}

absl::Status LoadWeights(const std::string& path, const TrainRecipe& recipe,
                         Executable& executable) {
  KILN_ASSIGN_OR_RETURN(Checkpoint checkpoint, ReadCheckpoint(path));
  std::string fingerprint;
  for (const RunSetting& setting : checkpoint.state.settings) {
    if (setting.name == "model") fingerprint = setting.value;
  }
  const bool other_graph = !fingerprint.empty() && fingerprint != recipe.model_fingerprint;
  if (checkpoint.state.model_name != recipe.model_name || other_graph) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: a checkpoint of model '%s' (%s), not of model '%s' (%s)", path,
        checkpoint.state.model_name, fingerprint.empty() ? "graph hash not recorded" : fingerprint,
        recipe.model_name, recipe.model_fingerprint));
  }
  return RestoreCheckpoint(checkpoint, executable);
}

}  // namespace kiln::runtime
