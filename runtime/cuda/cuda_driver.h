// The CUDA driver API, loaded with dlopen("libcuda.so.1") at first use: kiln binaries start (and
// run on the CPU) on machines without a GPU or a driver, and nothing here links NVRTC or LLVM.
//
//   if (absl::Status s = ProbeCudaDevice(); !s.ok()) std::cerr << s.message() << "\n";
//   // "no CUDA device found (libcuda.so.1 not loadable: libcuda.so.1: cannot open ...)"
//   KILN_ASSIGN_OR_RETURN(std::unique_ptr<CudaContext> gpu, CudaContext::Create(0));
//   KILN_ASSIGN_OR_RETURN(CudaModule module, gpu->LoadModule(cubin));
//   KILN_ASSIGN_OR_RETURN(CudaFunction fn, module.Function("mlp_train_b64_k0_matmul"));
//   KILN_RETURN_IF_ERROR(gpu->Launch(fn, {2, 1, 1}, {256, 1, 1}, 0, {&arena, &weights}));
//
// Status: ProbeCudaDevice is tested (on machines without a GPU). CudaContext, CudaModule and
// the launch/memory calls are written against the documented driver API but have NOT been run
// on a GPU yet (see docs/cuda.md).
#ifndef KILN_RUNTIME_CUDA_CUDA_DRIVER_H_
#define KILN_RUNTIME_CUDA_CUDA_DRIVER_H_

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace kiln::runtime {

using CudaDevicePtr = uint64_t;  // CUdeviceptr.

// cuda.h enum values passed to the driver (kiln_cuda_driver_test checks them against cuda.h).
inline constexpr unsigned kCudaStreamNonBlocking = 0x1;          // CU_STREAM_NON_BLOCKING
inline constexpr unsigned kCudaEventDisableTiming = 0x2;         // CU_EVENT_DISABLE_TIMING
inline constexpr int kCudaStreamCaptureModeThreadLocal = 1;      // CU_STREAM_CAPTURE_MODE_THREAD_LOCAL

// OK if libcuda loads, cuInit succeeds and at least one device exists; otherwise a one-line
// "no CUDA device found (...)" saying which step failed.
absl::Status ProbeCudaDevice();
// The number of CUDA devices, or the probe's error.
absl::StatusOr<int> CudaDeviceCount();

class CudaModule;

struct CudaFunction {
  void* handle = nullptr;  // CUfunction.
};
struct CudaStream {
  void* handle = nullptr;  // CUstream; null is the legacy default stream.
};
struct CudaEvent {
  void* handle = nullptr;  // CUevent.
};
struct CudaGraphExec {
  void* handle = nullptr;  // CUgraphExec.
};

// The primary context of one device, made current on the calling thread.
class CudaContext {
 public:
  static absl::StatusOr<std::unique_ptr<CudaContext>> Create(int device);
  ~CudaContext();
  CudaContext(const CudaContext&) = delete;
  CudaContext& operator=(const CudaContext&) = delete;

  std::string device_name() const { return name_; }

  absl::StatusOr<CudaDevicePtr> Allocate(int64_t bytes);
  absl::Status Free(CudaDevicePtr ptr);
  absl::Status CopyToDevice(CudaDevicePtr dst, const void* src, int64_t bytes);
  absl::Status CopyToHost(void* dst, CudaDevicePtr src, int64_t bytes);
  // A CUBIN or a PTX image (from NVRTC).
  absl::StatusOr<CudaModule> LoadModule(const std::string& image);
  // args[i] points at the i-th kernel parameter (for kiln kernels: a CudaDevicePtr).
  absl::Status Launch(CudaFunction function, std::array<int64_t, 3> grid,
                      std::array<int64_t, 3> block, int64_t shared_bytes,
                      const std::vector<void*>& args);
  absl::Status Launch(CudaFunction function, std::array<int64_t, 3> grid,
                      std::array<int64_t, 3> block, int64_t shared_bytes,
                      const std::vector<void*>& args, CudaStream stream);
  absl::Status Synchronize();

  // Streams (non-blocking), events (no timing), asynchronous copies, page-locked host memory
  // (cuMemHostAlloc: what lets an HtoD copy overlap kernels) and stream capture into a CUDA
  // graph.
  absl::StatusOr<CudaStream> CreateStream();
  absl::Status DestroyStream(CudaStream stream);
  absl::Status SynchronizeStream(CudaStream stream);
  // Events without timing are cheaper; timing events feed ElapsedMilliseconds (profiling).
  absl::StatusOr<CudaEvent> CreateEvent(bool timing = false);
  absl::StatusOr<double> ElapsedMilliseconds(CudaEvent start, CudaEvent end);
  absl::Status DestroyEvent(CudaEvent event);
  absl::Status RecordEvent(CudaEvent event, CudaStream stream);
  absl::Status WaitEvent(CudaStream stream, CudaEvent event);  // stream waits for event.
  absl::Status SynchronizeEvent(CudaEvent event);             // host waits for event.
  absl::Status CopyToDeviceAsync(CudaDevicePtr dst, const void* src, int64_t bytes,
                                 CudaStream stream);
  absl::Status CopyToHostAsync(void* dst, CudaDevicePtr src, int64_t bytes, CudaStream stream);
  absl::StatusOr<void*> AllocatePinned(int64_t bytes);
  absl::Status FreePinned(void* ptr);
  // Work enqueued on `stream` between BeginCapture and EndCapture is recorded, not run;
  // EndCapture instantiates it. Thread-local capture mode.
  absl::Status BeginCapture(CudaStream stream);
  absl::StatusOr<CudaGraphExec> EndCapture(CudaStream stream);
  absl::Status LaunchGraph(CudaGraphExec graph, CudaStream stream);
  absl::Status DestroyGraph(CudaGraphExec graph);

 private:
  CudaContext(int device, void* context, std::string name)
      : device_(device), context_(context), name_(std::move(name)) {}
  absl::Status MakeCurrent();

  int device_;
  void* context_;  // CUcontext.
  std::string name_;
};

class CudaModule {
 public:
  CudaModule(CudaModule&& other) noexcept : module_(other.module_) { other.module_ = nullptr; }
  ~CudaModule();
  absl::StatusOr<CudaFunction> Function(const std::string& name) const;

 private:
  friend class CudaContext;
  explicit CudaModule(void* module) : module_(module) {}
  void* module_;  // CUmodule.
};

// A device arena plus per-slot device addresses: arena buffers at arena + offset, the others
// (inputs, parameters) bound by the caller. Mirrors the CPU runtime's slot table.
class CudaSlotTable {
 public:
  // offsets[i] >= 0: slot i lives in the arena at that offset; -1: bound with Bind().
  static absl::StatusOr<CudaSlotTable> Create(CudaContext& context, int64_t arena_bytes,
                                              const std::vector<int64_t>& offsets);
  void Bind(int slot, CudaDevicePtr ptr) { slots_[slot] = ptr; }
  CudaDevicePtr slot(int i) const { return slots_[i]; }
  // Kernel arguments for parameters bound to `param_slots`; valid while the table lives.
  std::vector<void*> Arguments(const std::vector<int>& param_slots);
  CudaDevicePtr arena() const { return arena_; }

 private:
  CudaDevicePtr arena_ = 0;
  std::vector<CudaDevicePtr> slots_;
};

}  // namespace kiln::runtime

#endif  // KILN_RUNTIME_CUDA_CUDA_DRIVER_H_
