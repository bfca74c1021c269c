#include "runtime/model_bundle.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "runtime/byte_codec.h"
#include "runtime/crc32c.h"

namespace kiln::runtime {
namespace {

constexpr char kMagic[] = "KILNBNDL";
constexpr size_t kMagicBytes = sizeof(kMagic) - 1;

// Each Put has a Get below with the same fields in the same order.
void PutShape(Encoder& out, const std::vector<int64_t>& shape) {
  out.U32(static_cast<uint32_t>(shape.size()));
  for (int64_t d : shape) out.I64(d);
}
std::vector<int64_t> GetShape(Decoder& in) {
  std::vector<int64_t> shape(std::min<uint32_t>(in.U32(), in.remaining() / 8));
  for (int64_t& d : shape) d = in.I64();
  return shape;
}

void PutStrings(Encoder& out, const std::vector<std::string>& strings) {
  out.U32(static_cast<uint32_t>(strings.size()));
  for (const std::string& s : strings) out.Str(s);
}
std::vector<std::string> GetStrings(Decoder& in) {
  std::vector<std::string> strings(std::min<uint32_t>(in.U32(), in.remaining() / 4));
  for (std::string& s : strings) s = in.Str();
  return strings;
}

void PutDoubles(Encoder& out, const std::vector<double>& values) {
  out.U32(static_cast<uint32_t>(values.size()));
  for (double v : values) out.F64(v);
}
std::vector<double> GetDoubles(Decoder& in) {
  std::vector<double> values(std::min<uint32_t>(in.U32(), in.remaining() / 8));
  for (double& v : values) v = in.F64();
  return values;
}

// Reads a count of records each at least `min_bytes` long; a damaged count cannot make the
// reader allocate more than the bytes left could hold.
uint32_t GetCount(Decoder& in, size_t min_bytes) {
  return std::min<uint32_t>(in.U32(), in.remaining() / min_bytes);
}

void PutBuffer(Encoder& out, const BufferSpec& b) {
  out.Str(b.name);
  out.U8(static_cast<uint8_t>(b.role));
  out.U8(static_cast<uint8_t>(b.type));
  PutShape(out, b.shape);
  out.I64(b.arena_offset);
  out.I64(b.bytes);
}
BufferSpec GetBuffer(Decoder& in) {
  BufferSpec b;
  b.name = in.Str();
  b.role = static_cast<BufferRole>(std::min<uint8_t>(in.U8(), 3));
  b.type = static_cast<ElementType>(std::min<uint8_t>(in.U8(), 1));
  b.shape = GetShape(in);
  b.arena_offset = in.I64();
  b.bytes = in.I64();
  return b;
}

void PutKernel(Encoder& out, const KernelSpec& k) {
  out.Str(k.symbol);
  out.I64(k.num_tasks);
  out.U8(k.parallel);
  out.F64(k.flops);
  out.I64(k.bytes);
  out.U32(static_cast<uint32_t>(k.outputs.size()));
  for (int o : k.outputs) out.I64(o);
  out.Str(k.origin);
}
KernelSpec GetKernel(Decoder& in) {
  KernelSpec k;
  k.symbol = in.Str();
  k.num_tasks = in.I64();
  k.parallel = in.U8() != 0;
  k.flops = in.F64();
  k.bytes = in.I64();
  k.outputs.resize(GetCount(in, 8));
  for (int& o : k.outputs) o = static_cast<int>(in.I64());
  k.origin = in.Str();
  return k;
}

void PutEntry(Encoder& out, const EntrySpec& e) {
  out.Str(e.symbol);
  out.U8(e.training);
  out.I64(e.batch_size);
  out.U32(static_cast<uint32_t>(e.buffers.size()));
  for (const BufferSpec& b : e.buffers) PutBuffer(out, b);
  out.I64(e.arena_bytes);
  out.U32(static_cast<uint32_t>(e.kernels.size()));
  for (const KernelSpec& k : e.kernels) PutKernel(out, k);
}
EntrySpec GetEntry(Decoder& in) {
  EntrySpec e;
  e.symbol = in.Str();
  e.training = in.U8() != 0;
  e.batch_size = in.I64();
  e.buffers.resize(GetCount(in, 30));
  for (BufferSpec& b : e.buffers) b = GetBuffer(in);
  e.arena_bytes = in.I64();
  e.kernels.resize(GetCount(in, 40));
  for (KernelSpec& k : e.kernels) k = GetKernel(in);
  return e;
}

void PutPersistent(Encoder& out, const PersistentSpec& p) {
  out.Str(p.name);
  out.U8(static_cast<uint8_t>(p.type));
  PutShape(out, p.shape);
  out.U8(static_cast<uint8_t>(p.init.kind));
  out.F64(p.init.a);
  out.F64(p.init.b);
  out.U8(p.trainable);
}
PersistentSpec GetPersistent(Decoder& in) {
  PersistentSpec p;
  p.name = in.Str();
  p.type = static_cast<ElementType>(std::min<uint8_t>(in.U8(), 1));
  p.shape = GetShape(in);
  p.init.kind = static_cast<InitSpec::Kind>(std::min<uint8_t>(in.U8(), 2));
  p.init.a = in.F64();
  p.init.b = in.F64();
  p.trainable = in.U8() != 0;
  return p;
}

void PutProgram(Encoder& out, const ProgramSpec& program) {
  out.U32(static_cast<uint32_t>(program.entries.size()));
  for (const EntrySpec& e : program.entries) PutEntry(out, e);
  out.U32(static_cast<uint32_t>(program.persistent.size()));
  for (const PersistentSpec& p : program.persistent) PutPersistent(out, p);
  out.Str(program.features_input);
  out.Str(program.labels_input);
}
ProgramSpec GetProgram(Decoder& in) {
  ProgramSpec program;
  program.entries.resize(GetCount(in, 40));
  for (EntrySpec& e : program.entries) e = GetEntry(in);
  program.persistent.resize(GetCount(in, 30));
  for (PersistentSpec& p : program.persistent) p = GetPersistent(in);
  program.features_input = in.Str();
  program.labels_input = in.Str();
  return program;
}

void PutData(Encoder& out, const DataSpec& d) {
  out.Str(d.source);
  out.Str(d.path);
  out.Str(d.labels_path);
  PutStrings(out, d.features);
  out.Str(d.label);
  out.U8(d.regression);
  out.U32(static_cast<uint32_t>(d.params.size()));
  for (const auto& [name, value] : d.params) {
    out.Str(name);
    out.F64(value);
  }
  out.F64(d.test_fraction);
  out.U8(d.standardize);
  out.U8(d.one_hot);
  out.U64(d.seed);
  out.F64(d.scale);
  PutDoubles(out, d.mean);
  PutDoubles(out, d.stddev);
  out.I64(d.train_limit);
  out.I64(d.test_limit);
  out.U8(d.shuffle);
  out.I64(d.num_classes);
}
DataSpec GetData(Decoder& in) {
  DataSpec d;
  d.source = in.Str();
  d.path = in.Str();
  d.labels_path = in.Str();
  d.features = GetStrings(in);
  d.label = in.Str();
  d.regression = in.U8() != 0;
  for (uint32_t i = 0, n = GetCount(in, 12); i < n; ++i) {
    std::string name = in.Str();
    d.params[name] = in.F64();
  }
  d.test_fraction = in.F64();
  d.standardize = in.U8() != 0;
  d.one_hot = in.U8() != 0;
  d.seed = in.U64();
  d.scale = in.F64();
  d.mean = GetDoubles(in);
  d.stddev = GetDoubles(in);
  d.train_limit = in.I64();
  d.test_limit = in.I64();
  d.shuffle = in.U8() != 0;
  d.num_classes = in.I64();
  return d;
}

void PutRecipe(Encoder& out, const TrainRecipe& r) {
  out.Str(r.model_name);
  out.Str(r.model_fingerprint);
  out.Str(r.optimizer);
  out.Str(r.optimizer_setting);
  out.Str(r.clipping_setting);
  out.Str(r.freeze_setting);
  out.I64(r.batch_size);
  out.I64(r.eval_batch_size);
  PutData(out, r.data);
  out.I64(r.epochs);
  out.F64(r.learning_rate);
  out.U8(static_cast<uint8_t>(r.schedule.kind));
  out.I64(r.schedule.step_size);
  out.F64(r.schedule.gamma);
  out.I64(r.schedule.t_max);
  out.F64(r.schedule.eta_min);
  out.U64(r.seed);
  out.I64(r.early_stopping_patience);
  out.U8(r.per_class_accuracy);
  out.Str(r.init_weights);
  PutStrings(out, r.init_load);
  PutStrings(out, r.init_keep);
  out.I64(r.data_parallel_ranks);
}
TrainRecipe GetRecipe(Decoder& in) {
  TrainRecipe r;
  r.model_name = in.Str();
  r.model_fingerprint = in.Str();
  r.optimizer = in.Str();
  r.optimizer_setting = in.Str();
  r.clipping_setting = in.Str();
  r.freeze_setting = in.Str();
  r.batch_size = in.I64();
  r.eval_batch_size = in.I64();
  r.data = GetData(in);
  r.epochs = in.I64();
  r.learning_rate = in.F64();
  r.schedule.kind = static_cast<LrSchedule::Kind>(std::min<uint8_t>(in.U8(), 3));
  r.schedule.step_size = in.I64();
  r.schedule.gamma = in.F64();
  r.schedule.t_max = in.I64();
  r.schedule.eta_min = in.F64();
  r.seed = in.U64();
  r.early_stopping_patience = in.I64();
  r.per_class_accuracy = in.U8() != 0;
  r.init_weights = in.Str();
  r.init_load = GetStrings(in);
  r.init_keep = GetStrings(in);
  r.data_parallel_ranks = in.I64();
  return r;
}

}  // namespace

std::string EncodeBundle(const ModelBundle& bundle) {
  Encoder out;
  out.Bytes(kMagic, kMagicBytes);
  out.U32(kBundleVersion);
  out.Str(bundle.kiln_version);
  out.Str(bundle.target_cpu);
  out.Str(bundle.target_features);
  PutProgram(out, bundle.program);
  PutRecipe(out, bundle.recipe);
  out.U32(Crc32c(out.out()));
  return std::move(out.out());
}

absl::StatusOr<ModelBundle> DecodeBundle(std::string_view bytes) {
  constexpr char kWhat[] = "model description: ";
  if (bytes.size() < kMagicBytes + 8 || std::memcmp(bytes.data(), kMagic, kMagicBytes) != 0) {
    return absl::DataLossError(absl::StrCat(kWhat, "not a kiln bundle"));
  }
  Decoder header(bytes, kMagicBytes, kMagicBytes + 4);
  const uint32_t version = header.U32();
  if (version != kBundleVersion) {
    return absl::DataLossError(absl::StrCat(kWhat, "version ", version, ", this runtime reads ",
                                            kBundleVersion));
  }
  const size_t body_end = bytes.size() - 4;
  Decoder crc(bytes, body_end, bytes.size());
  if (crc.U32() != Crc32c(bytes.substr(0, body_end))) {
    return absl::DataLossError(
        absl::StrCat(kWhat, "checksum mismatch (the program file is damaged)"));
  }
  Decoder in(bytes, kMagicBytes + 4, body_end);
  ModelBundle bundle;
  bundle.kiln_version = in.Str();
  bundle.target_cpu = in.Str();
  bundle.target_features = in.Str();
  bundle.program = GetProgram(in);
  bundle.recipe = GetRecipe(in);
  if (!in.ok() || !in.at_end()) {
    return absl::DataLossError(absl::StrCat(kWhat, "malformed (its fields end early or late)"));
  }
  return bundle;
}

}  // namespace kiln::runtime
