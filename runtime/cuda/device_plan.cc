#include "runtime/cuda/device_plan.h"

#include <algorithm>

#include "absl/strings/str_format.h"
#include "runtime/tensor.h"
#include "support/status.h"

namespace kiln::runtime {
namespace {

// CUDA's per-launch limits (compute capability >= 3.0).
constexpr std::array<int64_t, 3> kMaxBlock = {1024, 1024, 64};
constexpr std::array<int64_t, 3> kMaxGrid = {2147483647, 65535, 65535};
constexpr int64_t kMaxThreadsPerBlock = 1024;

int64_t BufferBytes(const BufferSpec& buffer) {
  return std::max(buffer.bytes, NumElements(buffer.shape) * ElementSize(buffer.type));
}

absl::Status CheckGeometry(const EntrySpec& entry, const DeviceKernel& kernel) {
  int64_t threads = 1;
  for (int d = 0; d < 3; ++d) {
    if (kernel.grid[d] < 1 || kernel.grid[d] > kMaxGrid[d] || kernel.block[d] < 1 ||
        kernel.block[d] > kMaxBlock[d]) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "entry '%s': kernel '%s' has launch geometry grid (%d, %d, %d) block (%d, %d, %d) "
          "outside CUDA's limits",
          entry.symbol, kernel.symbol, kernel.grid[0], kernel.grid[1], kernel.grid[2],
          kernel.block[0], kernel.block[1], kernel.block[2]));
    }
    threads *= kernel.block[d];
  }
  if (threads > kMaxThreadsPerBlock) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "entry '%s': kernel '%s' has %d threads per block (at most %d)", entry.symbol,
        kernel.symbol, threads, kMaxThreadsPerBlock));
  }
  return absl::OkStatus();
}

absl::Status CheckSlot(const EntrySpec& entry, const DeviceKernel& kernel, int slot) {
  if (slot >= 0 && slot < static_cast<int>(entry.buffers.size())) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrFormat(
      "entry '%s': kernel '%s' binds slot %d but the entry has %d buffers", entry.symbol,
      kernel.symbol, slot, entry.buffers.size()));
}

absl::Status CheckGemm(const EntrySpec& entry, const DeviceKernel& kernel, const DeviceGemm& gemm) {
  for (int slot : {gemm.a_slot, gemm.b_slot, gemm.c_slot}) {
    KILN_RETURN_IF_ERROR(CheckSlot(entry, kernel, slot));
  }
  const bool has_bias = gemm.epilogue == LtEpilogue::kBias || gemm.epilogue == LtEpilogue::kBiasRelu;
  if (has_bias) KILN_RETURN_IF_ERROR(CheckSlot(entry, kernel, gemm.bias_slot));
  auto elements = [&](int slot) { return NumElements(entry.buffers[slot].shape); };
  const bool sizes_match = elements(gemm.a_slot) == gemm.m * gemm.k &&
                           elements(gemm.b_slot) == gemm.k * gemm.n &&
                           elements(gemm.c_slot) == gemm.m * gemm.n &&
                           (!has_bias || elements(gemm.bias_slot) == gemm.n);
  if (sizes_match) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrFormat(
      "entry '%s': kernel '%s': the cuBLASLt plan (M=%d N=%d K=%d) does not match its buffers",
      entry.symbol, kernel.symbol, gemm.m, gemm.n, gemm.k));
}

// The buffer an all_reduce averages in place: one the entry computes (in the arena), of f32.
absl::Status CheckAllReduce(const EntrySpec& entry, const DeviceKernel& kernel) {
  KILN_RETURN_IF_ERROR(CheckSlot(entry, kernel, kernel.all_reduce_slot));
  const BufferSpec& buffer = entry.buffers[kernel.all_reduce_slot];
  const bool computed = buffer.role == BufferRole::kOutput || buffer.role == BufferRole::kTemp;
  if (computed && buffer.type == ElementType::kF32) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrFormat(
      "entry '%s': kernel '%s' all-reduces '%s' (%s), which is not an f32 buffer the entry "
      "computes",
      entry.symbol, kernel.symbol, buffer.name, TypeString(buffer.type, buffer.shape)));
}

absl::StatusOr<EntryPlan> PlanEntry(const ProgramSpec& spec, const DevicePlan& plan,
                                    const EntrySpec& entry, const DeviceEntry& device,
                                    bool cublaslt) {
  EntryPlan result;
  for (const BufferSpec& buffer : entry.buffers) {
    SlotBinding slot;
    slot.bytes = BufferBytes(buffer);
    switch (buffer.role) {
      case BufferRole::kInput:
        slot.place = SlotPlace::kInput;
        slot.offset = result.input_bytes;
        result.input_bytes = AlignUp(result.input_bytes + slot.bytes, kDeviceBlockAlignment);
        break;
      case BufferRole::kPersistent: {
        auto it = std::find_if(spec.persistent.begin(), spec.persistent.end(),
                               [&](const PersistentSpec& p) { return p.name == buffer.name; });
        if (it == spec.persistent.end() || it->shape != buffer.shape || it->type != buffer.type) {
          return absl::InvalidArgumentError(absl::StrFormat(
              "entry '%s': buffer '%s' matches no persistent tensor of the same type",
              entry.symbol, buffer.name));
        }
        slot.place = SlotPlace::kPersistent;
        slot.offset = plan.persistent_offsets[it - spec.persistent.begin()];
        break;
      }
      case BufferRole::kOutput:
      case BufferRole::kTemp:
        if (buffer.arena_offset < 0 || buffer.arena_offset + slot.bytes > entry.arena_bytes) {
          return absl::InvalidArgumentError(absl::StrFormat(
              "entry '%s': buffer '%s' (%d bytes at %d) does not fit the %d-byte arena",
              entry.symbol, buffer.name, slot.bytes, buffer.arena_offset, entry.arena_bytes));
        }
        slot.place = SlotPlace::kArena;
        slot.offset = buffer.arena_offset;
        if (buffer.role == BufferRole::kOutput) {
          result.outputs.emplace_back(static_cast<int>(result.slots.size()), result.output_bytes);
          result.output_bytes = AlignUp(result.output_bytes + slot.bytes, kDeviceBlockAlignment);
        }
        break;
    }
    result.slots.push_back(slot);
  }
  for (int k = 0; k < static_cast<int>(device.kernels.size()); ++k) {
    const DeviceKernel& kernel = device.kernels[k];
    KILN_RETURN_IF_ERROR(CheckGeometry(entry, kernel));
    for (int slot : kernel.param_slots) KILN_RETURN_IF_ERROR(CheckSlot(entry, kernel, slot));
    if (kernel.gemm) KILN_RETURN_IF_ERROR(CheckGemm(entry, kernel, *kernel.gemm));
    if (kernel.all_reduce_slot >= 0) KILN_RETURN_IF_ERROR(CheckAllReduce(entry, kernel));
    result.launches.push_back({.kernel = k, .use_cublaslt = cublaslt && kernel.gemm.has_value()});
  }
  return result;
}

}  // namespace

int64_t AlignUp(int64_t value, int64_t alignment) {
  return (value + alignment - 1) / alignment * alignment;
}

absl::StatusOr<DevicePlan> PlanDevice(const ProgramSpec& spec, const DeviceProgram& program,
                                      bool cublaslt) {
  if (spec.entries.size() != program.entries.size()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "the device program has %d entries, the program spec %d", program.entries.size(),
        spec.entries.size()));
  }
  DevicePlan plan;
  for (const PersistentSpec& tensor : spec.persistent) {
    plan.persistent_offsets.push_back(plan.persistent_bytes);
    const int64_t bytes = NumElements(tensor.shape) * ElementSize(tensor.type);
    plan.persistent_bytes = AlignUp(plan.persistent_bytes + bytes, kDeviceBlockAlignment);
  }
  for (size_t e = 0; e < spec.entries.size(); ++e) {
    plan.arena_bytes = std::max(plan.arena_bytes, spec.entries[e].arena_bytes);
    KILN_ASSIGN_OR_RETURN(EntryPlan entry,
                          PlanEntry(spec, plan, spec.entries[e], program.entries[e], cublaslt));
    plan.entries.push_back(std::move(entry));
  }
  return plan;
}

std::vector<uint64_t> SlotAddresses(const EntryPlan& entry, const DeviceBases& bases) {
  std::vector<uint64_t> addresses;
  addresses.reserve(entry.slots.size());
  for (const SlotBinding& slot : entry.slots) {
    const uint64_t base = slot.place == SlotPlace::kArena        ? bases.arena
                          : slot.place == SlotPlace::kPersistent ? bases.persistent
                                                                 : bases.inputs;
    addresses.push_back(base + static_cast<uint64_t>(slot.offset));
  }
  return addresses;
}

std::vector<uint64_t> KernelParams(const DeviceKernel& kernel,
                                   const std::vector<uint64_t>& slot_addresses) {
  std::vector<uint64_t> params;
  params.reserve(kernel.param_slots.size());
  for (int slot : kernel.param_slots) params.push_back(slot_addresses[slot]);
  return params;
}

GraphAction GraphBook::Next(int entry, int parity) const {
  if (!enabled_) return GraphAction::kEager;
  auto it = state_.find({entry, parity});
  return it == state_.end() ? GraphAction::kCapture : it->second;
}

int GraphBook::captured() const {
  return static_cast<int>(std::count_if(state_.begin(), state_.end(), [](const auto& entry) {
    return entry.second == GraphAction::kReplay;
  }));
}

}  // namespace kiln::runtime
