// A compiled program on a CUDA device: the device-side twin of runtime::Executable. It takes the
// CUBINs and kernel tables as plain data (DeviceProgram; codegen/cuda makes them), the host
// Executable as the source of truth for persistent tensors (initialized on the host exactly as
// the CPU runtime does, then copied over), and runs entry points as CUDA graphs.
//
//   KILN_ASSIGN_OR_RETURN(auto gpu, CudaContext::Create(0));
//   KILN_ASSIGN_OR_RETURN(auto exe, CudaExecutable::Create(*gpu, host, std::move(device), {}));
//   KILN_ASSIGN_OR_RETURN(int step, exe->FindEntry(/*training=*/true, 64));
//   KILN_ASSIGN_OR_RETURN(void* x, exe->StagedInput(step, /*parity=*/0, "x"));  // page-locked
//   ... fill x ...
//   KILN_RETURN_IF_ERROR(exe->Launch(step, 0));   // returns at once
//   ... fill parity 1's inputs for the next step while the device works ...
//   KILN_RETURN_IF_ERROR(exe->Wait(step, 0));
//   KILN_ASSIGN_OR_RETURN(const void* loss, exe->Output(step, 0, "loss"));
//
// Streams: `copy` carries each step's single host→device copy of its input block (from
// page-locked memory, so it overlaps kernels); `compute` waits for that copy (event), runs the
// step's kernels (a captured CUDA graph, one per entry and input parity; see GraphBook) and
// copies the step's outputs back into page-locked memory. Matmul kernels with a cuBLASLt plan
// go to cuBLASLt when libcublasLt.so.13 loads (else the generated GEMM runs).
//
// Tested on an H200 by kiln_cuda_gpu_test (label gpu); the host-side parts it relies on
// (PlanDevice, SlotAddresses, KernelParams, GraphBook, LtLayoutFor) are unit-tested without one.
#ifndef KILN_RUNTIME_CUDA_CUDA_EXECUTABLE_H_
#define KILN_RUNTIME_CUDA_CUDA_EXECUTABLE_H_

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/cuda/cublaslt.h"
#include "runtime/cuda/cuda_driver.h"
#include "runtime/cuda/device_communicator.h"
#include "runtime/cuda/device_plan.h"
#include "runtime/executable.h"

namespace kiln::runtime {

struct CudaExecutableOptions {
  bool use_graphs = true;    // Capture each (entry, parity) once and replay it.
  bool use_cublaslt = true;  // When the library loads.
  int64_t cublaslt_workspace_bytes = int64_t{32} << 20;
};

class CudaExecutable {
 public:
  static constexpr int kParities = 2;

  // `host` must outlive the result; its persistent tensors are uploaded here.
  static absl::StatusOr<std::unique_ptr<CudaExecutable>> Create(CudaContext& context,
                                                                Executable& host,
                                                                DeviceProgram program,
                                                                CudaExecutableOptions options);
  ~CudaExecutable();
  CudaExecutable(const CudaExecutable&) = delete;
  CudaExecutable& operator=(const CudaExecutable&) = delete;

  const ProgramSpec& program() const { return host_.program(); }
  const DevicePlan& plan() const { return plan_; }
  // Index of the entry for a training step or an evaluation at this batch size.
  absl::StatusOr<int> FindEntry(bool training, int64_t batch_size) const;

  // The page-locked host copy of input `name` for steps launched with `parity`. Write it only
  // when no step of that (entry, parity) is in flight (after Wait).
  absl::StatusOr<void*> StagedInput(int entry, int parity, const std::string& name);
  // Enqueues one step and returns: input copy, kernels, output readback.
  absl::Status Launch(int entry, int parity);
  // Blocks until the step launched with (entry, parity) has finished.
  absl::Status Wait(int entry, int parity);
  // An output of the last finished step of (entry, parity), in page-locked host memory.
  absl::StatusOr<const void*> Output(int entry, int parity, const std::string& name) const;

  // Persistent tensors host → device (after a restore) and device → host (checkpoints, the end
  // of training). Both wait for the device first.
  absl::Status UploadPersistent();
  absl::Status DownloadPersistent();
  // Any buffer of the entry (its last step's value; inputs of parity 0) copied to the host.
  absl::StatusOr<std::vector<char>> ReadBuffer(int entry, const std::string& name);

  // Each kernel of the entry launched alone `repeats` times on the inputs of `parity`, timed with
  // device events: the median in microseconds, in execution order (for `kiln profile`). The
  // kernels rewrite the entry's buffers: profile before training, or after a checkpoint.
  absl::StatusOr<std::vector<double>> KernelMicroseconds(int entry, int parity, int repeats);

  // Data parallelism: after each all_reduce op's kernel, `collectives` (not owned; it must
  // outlive this) averages that kernel's buffer over the ranks, in stream order (and inside the
  // step's CUDA graph). Unbound, or null, an all_reduce is the one-process identity. Bind before
  // the first Launch: graphs captured before would lack the collectives.
  absl::Status BindCollectives(DeviceCommunicator* collectives);

  bool cublaslt_active() const { return lt_ != nullptr; }
  int graphs_captured() const { return graphs_.captured(); }

 private:
  struct Parity {
    CudaDevicePtr inputs = 0;       // Device input block.
    void* staged_inputs = nullptr;  // Page-locked, same layout.
    void* staged_outputs = nullptr; // Page-locked output block.
    CudaEvent copied, computed;
    CudaGraphExec graph;
    std::vector<uint64_t> addresses;            // Per slot.
    std::vector<std::vector<uint64_t>> params;  // Per kernel: parameter values.
    std::vector<std::vector<void*>> args;       // Per kernel: pointers into params.
  };
  struct EntryState {
    std::unique_ptr<CudaModule> module;
    std::vector<CudaFunction> functions;                     // Per kernel.
    std::vector<std::unique_ptr<CublasLt::Matmul>> matmuls;  // Per kernel; null: generated.
    std::array<Parity, kParities> parity;
  };

  CudaExecutable(CudaContext& context, Executable& host, CudaExecutableOptions options)
      : context_(context), host_(host), options_(options), graphs_(options.use_graphs) {}
  absl::Status Allocate();
  absl::Status LoadEntry(int e);
  absl::Status EnqueueKernel(int entry, int parity, size_t k);
  absl::Status EnqueueKernels(int entry, int parity);
  absl::Status RunKernels(int entry, int parity);
  absl::StatusOr<int> Slot(int entry, const std::string& name) const;
  absl::Status CheckIndex(int entry, int parity) const;

  CudaContext& context_;
  Executable& host_;
  CudaExecutableOptions options_;
  DeviceProgram program_;
  DevicePlan plan_;
  GraphBook graphs_;
  std::unique_ptr<CublasLt> lt_;
  DeviceCommunicator* collectives_ = nullptr;
  CudaStream compute_, copy_;
  CudaDevicePtr arena_ = 0, persistent_ = 0, workspace_ = 0;
  std::vector<EntryState> entries_;
};

}  // namespace kiln::runtime

#endif  // KILN_RUNTIME_CUDA_CUDA_EXECUTABLE_H_
