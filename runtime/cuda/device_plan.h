// Host-side planning for running compiled steps on a CUDA device: where every buffer of every
// entry lives in device memory, the kernel arguments each launch gets, and which launches go to
// cuBLASLt. Pure data and arithmetic: no driver calls, so all of it is unit-tested on machines
// without a GPU (tests/codegen/cuda/cuda_device_plan_test.cc).
//
// Device memory of one program (all entry points):
//   arena       ONE allocation of max(entry.arena_bytes): every kOutput/kTemp buffer at its
//               planner offset. Entries run one after another on one stream, so they share it.
//   persistent  ONE allocation: every ProgramSpec::persistent tensor packed at 256-byte aligned
//               offsets, shared by all entries (a parameter has one address everywhere).
//   inputs      per entry, TWO blocks ("parities"): the entry's kInput buffers packed at 256-byte
//               aligned offsets. Step s reads block s % 2 while the next batch is copied into the
//               other one; a page-locked host block of the same layout is the copy source, so a
//               step's whole input is one cuMemcpyHtoDAsync.
//
//   KILN_ASSIGN_OR_RETURN(DevicePlan plan, PlanDevice(program_spec, device_program));
//   std::vector<uint64_t> addresses = SlotAddresses(plan.entries[e], bases_for_parity);
//   std::vector<uint64_t> params = KernelParams(plan.entries[e].launches[k], addresses);
#ifndef KILN_RUNTIME_CUDA_DEVICE_PLAN_H_
#define KILN_RUNTIME_CUDA_DEVICE_PLAN_H_

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/program.h"

namespace kiln::runtime {

inline constexpr int64_t kDeviceBlockAlignment = 256;  // cuMemAlloc's alignment.

// cuBLASLt epilogues kiln uses (codegen/cuda GemmEpilogue without kGeneric).
enum class LtEpilogue { kNone, kBias, kRelu, kBiasRelu };

// A matmul kernel cuBLASLt can compute: row-major C[M,N] = op(A)[M,K] · op(B)[K,N] (+ bias[N])
// (then relu). Slots index the entry's buffers.
struct DeviceGemm {
  int64_t m = 0, n = 0, k = 0;
  bool transpose_a = false, transpose_b = false;
  int a_slot = -1, b_slot = -1, c_slot = -1, bias_slot = -1;
  LtEpilogue epilogue = LtEpilogue::kNone;
};

// One generated kernel as the runtime sees it: plain data from codegen/cuda (CudaKernel).
struct DeviceKernel {
  std::string symbol;
  std::vector<int> param_slots;  // Buffer indices, in parameter order.
  std::array<int64_t, 3> grid = {1, 1, 1};
  std::array<int64_t, 3> block = {1, 1, 1};
  int64_t shared_bytes = 0;
  // Set when cuBLASLt may replace the kernel (the generated kernel stays the fallback).
  std::optional<DeviceGemm> gemm;
  // A collective's kernel (all_reduce): after it, this slot (a flat f32 arena buffer) is averaged
  // over the ranks of a data-parallel job (CudaExecutable::BindCollectives). -1: none.
  int all_reduce_slot = -1;
};

// One entry point's device code: its CUBIN (or PTX) and kernels in execution order. Buffers are
// described by the matching runtime::EntrySpec (same index = same slot).
struct DeviceEntry {
  std::string image;
  std::vector<DeviceKernel> kernels;
};

// entries[i] belongs to ProgramSpec::entries[i].
struct DeviceProgram {
  std::vector<DeviceEntry> entries;
};

enum class SlotPlace { kArena, kPersistent, kInput };

struct SlotBinding {
  SlotPlace place = SlotPlace::kArena;
  int64_t offset = 0;  // In the arena, the persistent block or the entry's input block.
  int64_t bytes = 0;
};

struct LaunchPlan {
  int kernel = 0;            // Index into DeviceEntry::kernels.
  bool use_cublaslt = false; // Else the generated kernel.
};

struct EntryPlan {
  std::vector<SlotBinding> slots;  // Indexed like EntrySpec::buffers.
  int64_t input_bytes = 0;         // Size of one input block.
  // Output buffers read back after every step (loss, correct): slot indices, and where each one
  // lands in the page-locked output block of output_bytes.
  std::vector<std::pair<int, int64_t>> outputs;
  int64_t output_bytes = 0;
  std::vector<LaunchPlan> launches;
};

struct DevicePlan {
  int64_t arena_bytes = 0;
  std::vector<int64_t> persistent_offsets;  // Indexed like ProgramSpec::persistent.
  int64_t persistent_bytes = 0;
  std::vector<EntryPlan> entries;           // Indexed like ProgramSpec::entries.
};

int64_t AlignUp(int64_t value, int64_t alignment);

// Checks the device program against the spec (same number of entries, param slots in range,
// launch geometry within CUDA's limits, arena buffers inside the arena, persistent buffers
// matching their tensors) and lays out device memory. `cublaslt` says whether cuBLASLt is
// available: launches with a DeviceGemm then use it.
absl::StatusOr<DevicePlan> PlanDevice(const ProgramSpec& spec, const DeviceProgram& program,
                                      bool cublaslt);

// Device base addresses of the three kinds of memory an entry binds.
struct DeviceBases {
  uint64_t arena = 0;
  uint64_t persistent = 0;
  uint64_t inputs = 0;  // The entry's input block of one parity.
};

// The device address of every slot of the entry.
std::vector<uint64_t> SlotAddresses(const EntryPlan& entry, const DeviceBases& bases);

// The kernel's parameter values (device pointers) in parameter order; cuLaunchKernel's args[i]
// point at element i.
std::vector<uint64_t> KernelParams(const DeviceKernel& kernel,
                                   const std::vector<uint64_t>& slot_addresses);

// Which CUDA graph a step launches. One graph per (entry, input parity), since a graph bakes in
// the input block's addresses. The first step of a key captures (and then launches) it, later
// steps replay it; a key whose capture failed runs its kernels eagerly from then on.
enum class GraphAction { kCapture, kReplay, kEager };

class GraphBook {
 public:
  explicit GraphBook(bool enabled) : enabled_(enabled) {}
  // What to do for the next step of (entry, parity).
  GraphAction Next(int entry, int parity) const;
  void Captured(int entry, int parity) { state_[{entry, parity}] = GraphAction::kReplay; }
  void CaptureFailed(int entry, int parity) { state_[{entry, parity}] = GraphAction::kEager; }
  int captured() const;

 private:
  bool enabled_;
  std::map<std::pair<int, int>, GraphAction> state_;
};

}  // namespace kiln::runtime

#endif  // KILN_RUNTIME_CUDA_DEVICE_PLAN_H_
