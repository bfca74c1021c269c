#include "runtime/executable.h"

#include <utility>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "runtime/random.h"
#include "support/status.h"

namespace kiln::runtime {
namespace {

const char* RoleName(BufferRole role) {
  switch (role) {
    case BufferRole::kInput:
      return "input";
    case BufferRole::kPersistent:
      return "persistent";
    case BufferRole::kOutput:
      return "output";
    case BufferRole::kTemp:
      return "temp";
  }
  return "?";
}

// Bytes the buffer's shape needs; the compiler may reserve more (padding), never less.
absl::StatusOr<int64_t> CheckedBytes(const EntrySpec& entry, const BufferSpec& buffer) {
  absl::StatusOr<int64_t> size = CheckedByteSize(buffer.type, buffer.shape);
  if (!size.ok()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "entry '%s': buffer '%s': %s", entry.symbol, buffer.name, size.status().message()));
  }
  const int64_t needed = *size;
  if (buffer.bytes != 0 && buffer.bytes < needed) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "entry '%s': buffer '%s' is %s (%d bytes) but reserves only %d bytes", entry.symbol,
        buffer.name, TypeString(buffer.type, buffer.shape), needed, buffer.bytes));
  }
  return std::max(needed, buffer.bytes);
}

void FillTensor(Tensor& tensor, const InitSpec& init, Rng& rng) {
  const int64_t n = tensor.num_elements();
  if (tensor.type() == ElementType::kI64) {
    for (int64_t i = 0; i < n; ++i) tensor.i64()[i] = static_cast<int64_t>(init.a);
    return;
  }
  float* values = tensor.f32();
  switch (init.kind) {
    case InitSpec::Kind::kConstant:
      for (int64_t i = 0; i < n; ++i) values[i] = static_cast<float>(init.a);
      return;
    case InitSpec::Kind::kUniform:
      for (int64_t i = 0; i < n; ++i) {
        values[i] = static_cast<float>(init.a + (init.b - init.a) * rng.Uniform01());
      }
      return;
    case InitSpec::Kind::kNormal:
      for (int64_t i = 0; i < n; ++i)
        values[i] = static_cast<float>(init.a + init.b * rng.Normal());
      return;
  }
}

}  // namespace

absl::Status Entry::RunKernels(const KilnParallel* parallel,
                               const std::function<bool(int)>& after) {
  if (kernels_.empty()) {
    for (const KernelSpec& kernel : spec_.kernels) {
      // The library hands out every symbol as an entry function; kernels have the task ABI.
      KILN_ASSIGN_OR_RETURN(KilnEntryFn fn, library_.Resolve(kernel.symbol));
      kernels_.push_back(reinterpret_cast<KilnTaskFn>(reinterpret_cast<void*>(fn)));
    }
  }
  for (size_t k = 0; k < kernels_.size(); ++k) {
    const KernelSpec& kernel = spec_.kernels[k];
    if (kernel.parallel) {
      parallel->run(parallel->pool, kernels_[k], slots_.data(), kernel.num_tasks);
    } else {
      kernels_[k](slots_.data(), 0, kernel.num_tasks);
    }
    if (kernel.all_reduce && parallel->all_reduce_mean != nullptr) {
      const int buffer = kernel.outputs.front();
      parallel->all_reduce_mean(parallel->comm, static_cast<float*>(slots_[buffer]),
                                spec_.buffers[buffer].bytes / static_cast<int64_t>(sizeof(float)));
    }
    if (!after(static_cast<int>(k))) break;
  }
  return absl::OkStatus();
}

absl::StatusOr<BufferView> Entry::Find(const std::string& name, BufferRole role) const {
  auto it = index_.find(name);
  if (it == index_.end() || spec_.buffers[it->second].role != role) {
    return absl::NotFoundError(
        absl::StrFormat("entry '%s' has no %s buffer '%s'", spec_.symbol, RoleName(role), name));
  }
  return BufferView{&spec_.buffers[it->second], slots_[it->second]};
}

absl::StatusOr<BufferView> Entry::Input(const std::string& name) const {
  return Find(name, BufferRole::kInput);
}

absl::StatusOr<BufferView> Entry::Output(const std::string& name) const {
  return Find(name, BufferRole::kOutput);
}

absl::StatusOr<BufferView> Entry::Buffer(const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end()) {
    return absl::NotFoundError(
        absl::StrFormat("entry '%s' has no buffer '%s'", spec_.symbol, name));
  }
  return BufferView{&spec_.buffers[it->second], slots_[it->second]};
}

bool Entry::HasInput(const std::string& name) const {
  auto it = index_.find(name);
  return it != index_.end() && spec_.buffers[it->second].role == BufferRole::kInput;
}

absl::StatusOr<std::unique_ptr<Executable>> Executable::Create(ProgramSpec program,
                                                               KernelLibrary& library,
                                                               uint64_t seed,
                                                               MemoryRegion* region) {
  std::unique_ptr<Executable> exe(new Executable(std::move(program)));
  exe->region_ = region;
  KILN_RETURN_IF_ERROR(exe->AllocatePersistent());
  for (const EntrySpec& spec : exe->program_.entries) {
    KILN_ASSIGN_OR_RETURN(std::unique_ptr<Entry> entry, exe->BindEntry(spec, library));
    exe->entries_.push_back(std::move(entry));
  }
  exe->region_ = nullptr;
  exe->InitializePersistent(seed);
  return exe;
}

int64_t Executable::MemoryBytes(const ProgramSpec& program) {
  int64_t bytes = 0;
  for (const PersistentSpec& spec : program.persistent) {
    bytes += MemoryRegion::Footprint(NumElements(spec.shape) * ElementSize(spec.type));
  }
  for (const EntrySpec& entry : program.entries) {
    bytes += MemoryRegion::Footprint(entry.arena_bytes);
    for (const BufferSpec& buffer : entry.buffers) {
      if (buffer.role == BufferRole::kInput) {
        bytes += MemoryRegion::Footprint(
            std::max(NumElements(buffer.shape) * ElementSize(buffer.type), buffer.bytes));
      }
    }
  }
  return bytes;
}

absl::Status Executable::AllocatePersistent() {
  persistent_.reserve(program_.persistent.size());
  for (const PersistentSpec& spec : program_.persistent) {
    if (!persistent_index_.emplace(spec.name, persistent_.size()).second) {
      return absl::InvalidArgumentError(
          absl::StrFormat("persistent tensor '%s' is declared twice", spec.name));
    }
    if (spec.type == ElementType::kI64 && spec.init.kind != InitSpec::Kind::kConstant) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "persistent tensor '%s' is i64 and can only be initialized to a constant", spec.name));
    }
    KILN_ASSIGN_OR_RETURN(Tensor tensor, Tensor::Create(spec.name, spec.type, spec.shape, region_));
    persistent_.push_back(std::move(tensor));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Entry>> Executable::BindEntry(const EntrySpec& spec,
                                                             KernelLibrary& library) {
  KILN_ASSIGN_OR_RETURN(KilnEntryFn fn, library.Resolve(spec.symbol));
  if (fn == nullptr) {
    return absl::NotFoundError(absl::StrFormat("entry '%s': symbol resolved to null", spec.symbol));
  }
  std::unique_ptr<Entry> entry(new Entry(spec, fn, library));
  absl::StatusOr<AlignedBuffer> arena = AlignedBuffer::Allocate(spec.arena_bytes, region_);
  if (!arena.ok()) {
    return absl::ResourceExhaustedError(
        absl::StrFormat("entry '%s': arena: %s", spec.symbol, arena.status().message()));
  }
  entry->arena_ = *std::move(arena);
  entry->slots_.resize(spec.buffers.size());
  for (int i = 0; i < static_cast<int>(spec.buffers.size()); ++i) {
    if (!entry->index_.emplace(spec.buffers[i].name, i).second) {
      return absl::InvalidArgumentError(absl::StrFormat("entry '%s': buffer '%s' is declared twice",
                                                        spec.symbol, spec.buffers[i].name));
    }
    KILN_RETURN_IF_ERROR(BindBuffer(*entry, i));
  }
  return entry;
}

absl::Status Executable::BindBuffer(Entry& entry, int index) {
  const EntrySpec& spec = entry.spec_;
  const BufferSpec& buffer = spec.buffers[index];
  KILN_ASSIGN_OR_RETURN(int64_t bytes, CheckedBytes(spec, buffer));
  switch (buffer.role) {
    case BufferRole::kInput: {
      absl::StatusOr<AlignedBuffer> input = AlignedBuffer::Allocate(bytes, region_);
      if (!input.ok()) {
        return absl::ResourceExhaustedError(absl::StrFormat(
            "entry '%s': input '%s': %s", spec.symbol, buffer.name, input.status().message()));
      }
      entry.inputs_.push_back(*std::move(input));
      entry.slots_[index] = entry.inputs_.back().data();
      return absl::OkStatus();
    }
    case BufferRole::kPersistent: {
      Tensor* tensor = FindPersistent(buffer.name);
      if (tensor == nullptr) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "entry '%s': buffer '%s' names no persistent tensor", spec.symbol, buffer.name));
      }
      if (tensor->type() != buffer.type || tensor->shape() != buffer.shape) {
        return absl::InvalidArgumentError(
            absl::StrFormat("entry '%s': buffer '%s' is %s but persistent '%s' is %s", spec.symbol,
                            buffer.name, TypeString(buffer.type, buffer.shape), tensor->name(),
                            TypeString(tensor->type(), tensor->shape())));
      }
      entry.slots_[index] = tensor->data();
      return absl::OkStatus();
    }
    case BufferRole::kOutput:
    case BufferRole::kTemp:
      if (buffer.arena_offset < 0 || buffer.arena_offset % kBufferAlignment != 0 ||
          bytes > spec.arena_bytes - buffer.arena_offset) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "entry '%s': %s buffer '%s' (%d bytes at offset %d) does not fit the %d-byte arena "
            "at a %d-byte aligned offset",
            spec.symbol, RoleName(buffer.role), buffer.name, bytes, buffer.arena_offset,
            spec.arena_bytes, kBufferAlignment));
      }
      entry.slots_[index] = static_cast<char*>(entry.arena_.data()) + buffer.arena_offset;
      return absl::OkStatus();
  }
  return absl::InternalError("unknown buffer role");
}

absl::StatusOr<Entry*> Executable::FindEntry(bool training, int64_t batch_size) const {
  std::vector<int64_t> available;
  for (const std::unique_ptr<Entry>& entry : entries_) {
    if (entry->training() != training) continue;
    if (entry->batch_size() == batch_size) return entry.get();
    available.push_back(entry->batch_size());
  }
  return absl::NotFoundError(
      absl::StrFormat("no %s entry for batch size %d (compiled batch sizes: %s)",
                      training ? "training" : "evaluation", batch_size,
                      available.empty() ? "none" : absl::StrJoin(available, ", ")));
}

Tensor* Executable::FindPersistent(const std::string& name) {
  auto it = persistent_index_.find(name);
  return it == persistent_index_.end() ? nullptr : &persistent_[it->second];
}

void Executable::InitializePersistent(uint64_t seed) {
  Rng rng(DeriveSeed(seed, kInitStream, 0));
  for (size_t i = 0; i < persistent_.size(); ++i) {
    FillTensor(persistent_[i], program_.persistent[i].init, rng);
  }
}

}  // namespace kiln::runtime
