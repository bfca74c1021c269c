#include "runtime/cuda/cuda_driver.h"

#include <dlfcn.h>

#include <mutex>

#include "absl/strings/str_cat.h"
#include "support/status.h"

namespace kiln::runtime {
namespace {

// The few driver types we need, as cuda.h defines them (stable ABI), so this library needs no
// CUDA headers either.
using CUresult = int;
using CUdevice = int;
using CUcontext = void*;
using CUmodule = void*;
using CUfunction = void*;
using CUstream = void*;
using CUdeviceptr = unsigned long long;
using CUevent = void*;
using CUgraph = void*;
using CUgraphExec = void*;

// cuda.h enum values this file passes (checked against cuda.h by kiln_cuda_driver_test).
constexpr unsigned kStreamNonBlocking = kCudaStreamNonBlocking;
constexpr unsigned kEventDisableTiming = kCudaEventDisableTiming;

struct Driver {
  void* library = nullptr;
  absl::Status status;  // Why the driver is unusable, or OK.
  int device_count = 0;
  CUresult (*cuInit)(unsigned) = nullptr;
  CUresult (*cuDeviceGetCount)(int*) = nullptr;
  CUresult (*cuDeviceGet)(CUdevice*, int) = nullptr;
  CUresult (*cuDeviceGetName)(char*, int, CUdevice) = nullptr;
  CUresult (*cuDevicePrimaryCtxRetain)(CUcontext*, CUdevice) = nullptr;
  CUresult (*cuDevicePrimaryCtxRelease)(CUdevice) = nullptr;
  CUresult (*cuCtxSetCurrent)(CUcontext) = nullptr;
  CUresult (*cuCtxSynchronize)() = nullptr;
  CUresult (*cuMemAlloc)(CUdeviceptr*, size_t) = nullptr;
  CUresult (*cuMemFree)(CUdeviceptr) = nullptr;
  CUresult (*cuMemcpyHtoD)(CUdeviceptr, const void*, size_t) = nullptr;
  CUresult (*cuMemcpyDtoH)(void*, CUdeviceptr, size_t) = nullptr;
  CUresult (*cuModuleLoadData)(CUmodule*, const void*) = nullptr;
  CUresult (*cuModuleUnload)(CUmodule) = nullptr;
  CUresult (*cuModuleGetFunction)(CUfunction*, CUmodule, const char*) = nullptr;
  CUresult (*cuLaunchKernel)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned,
                             unsigned, unsigned, CUstream, void**, void**) = nullptr;
  CUresult (*cuStreamCreate)(CUstream*, unsigned) = nullptr;
  CUresult (*cuStreamDestroy)(CUstream) = nullptr;
  CUresult (*cuStreamSynchronize)(CUstream) = nullptr;
  CUresult (*cuStreamWaitEvent)(CUstream, CUevent, unsigned) = nullptr;
  CUresult (*cuEventCreate)(CUevent*, unsigned) = nullptr;
  CUresult (*cuEventDestroy)(CUevent) = nullptr;
  CUresult (*cuEventRecord)(CUevent, CUstream) = nullptr;
  CUresult (*cuEventSynchronize)(CUevent) = nullptr;
  CUresult (*cuEventElapsedTime)(float*, CUevent, CUevent) = nullptr;
  CUresult (*cuMemcpyHtoDAsync)(CUdeviceptr, const void*, size_t, CUstream) = nullptr;
  CUresult (*cuMemcpyDtoHAsync)(void*, CUdeviceptr, size_t, CUstream) = nullptr;
  CUresult (*cuMemHostAlloc)(void**, size_t, unsigned) = nullptr;
  CUresult (*cuMemFreeHost)(void*) = nullptr;
  CUresult (*cuStreamBeginCapture)(CUstream, int) = nullptr;
  CUresult (*cuStreamEndCapture)(CUstream, CUgraph*) = nullptr;
  CUresult (*cuGraphInstantiateWithFlags)(CUgraphExec*, CUgraph, unsigned long long) = nullptr;
  CUresult (*cuGraphLaunch)(CUgraphExec, CUstream) = nullptr;
  CUresult (*cuGraphExecDestroy)(CUgraphExec) = nullptr;
  CUresult (*cuGraphDestroy)(CUgraph) = nullptr;
  CUresult (*cuGetErrorName)(CUresult, const char**) = nullptr;
  CUresult (*cuGetErrorString)(CUresult, const char**) = nullptr;
};

template <typename Fn>
bool Resolve(void* library, const char* symbol, Fn& fn) {
  fn = reinterpret_cast<Fn>(dlsym(library, symbol));
  return fn != nullptr;
}

std::string Describe(const Driver& d, CUresult result) {
  const char* name = nullptr;
  const char* text = nullptr;
  if (d.cuGetErrorName != nullptr) d.cuGetErrorName(result, &name);
  if (d.cuGetErrorString != nullptr) d.cuGetErrorString(result, &text);
  return absl::StrCat(name != nullptr ? name : "CUDA error", " (", result, ")",
                      text != nullptr ? absl::StrCat(": ", text) : "");
}

absl::Status NoDevice(const std::string& why) {
  return absl::UnavailableError(absl::StrCat("no CUDA device found (", why, ")"));
}

absl::Status Load(Driver& d) {
  d.library = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (d.library == nullptr) {
    const char* error = dlerror();
    return NoDevice(absl::StrCat("libcuda.so.1 not loadable: ", error != nullptr ? error : "?"));
  }
  bool ok = Resolve(d.library, "cuInit", d.cuInit) &&
            Resolve(d.library, "cuDeviceGetCount", d.cuDeviceGetCount) &&
            Resolve(d.library, "cuDeviceGet", d.cuDeviceGet) &&
            Resolve(d.library, "cuDeviceGetName", d.cuDeviceGetName) &&
            Resolve(d.library, "cuDevicePrimaryCtxRetain", d.cuDevicePrimaryCtxRetain) &&
            Resolve(d.library, "cuDevicePrimaryCtxRelease_v2", d.cuDevicePrimaryCtxRelease) &&
            Resolve(d.library, "cuCtxSetCurrent", d.cuCtxSetCurrent) &&
            Resolve(d.library, "cuCtxSynchronize", d.cuCtxSynchronize) &&
            Resolve(d.library, "cuMemAlloc_v2", d.cuMemAlloc) &&
            Resolve(d.library, "cuMemFree_v2", d.cuMemFree) &&
            Resolve(d.library, "cuMemcpyHtoD_v2", d.cuMemcpyHtoD) &&
            Resolve(d.library, "cuMemcpyDtoH_v2", d.cuMemcpyDtoH) &&
            Resolve(d.library, "cuModuleLoadData", d.cuModuleLoadData) &&
            Resolve(d.library, "cuModuleUnload", d.cuModuleUnload) &&
            Resolve(d.library, "cuModuleGetFunction", d.cuModuleGetFunction) &&
            Resolve(d.library, "cuLaunchKernel", d.cuLaunchKernel) &&
            Resolve(d.library, "cuStreamCreate", d.cuStreamCreate) &&
            Resolve(d.library, "cuStreamDestroy_v2", d.cuStreamDestroy) &&
            Resolve(d.library, "cuStreamSynchronize", d.cuStreamSynchronize) &&
            Resolve(d.library, "cuStreamWaitEvent", d.cuStreamWaitEvent) &&
            Resolve(d.library, "cuEventCreate", d.cuEventCreate) &&
            Resolve(d.library, "cuEventDestroy_v2", d.cuEventDestroy) &&
            Resolve(d.library, "cuEventRecord", d.cuEventRecord) &&
            Resolve(d.library, "cuEventSynchronize", d.cuEventSynchronize) &&
            Resolve(d.library, "cuEventElapsedTime", d.cuEventElapsedTime) &&
            Resolve(d.library, "cuMemcpyHtoDAsync_v2", d.cuMemcpyHtoDAsync) &&
            Resolve(d.library, "cuMemcpyDtoHAsync_v2", d.cuMemcpyDtoHAsync) &&
            Resolve(d.library, "cuMemHostAlloc", d.cuMemHostAlloc) &&
            Resolve(d.library, "cuMemFreeHost", d.cuMemFreeHost) &&
            Resolve(d.library, "cuStreamBeginCapture_v2", d.cuStreamBeginCapture) &&
            Resolve(d.library, "cuStreamEndCapture", d.cuStreamEndCapture) &&
            Resolve(d.library, "cuGraphInstantiateWithFlags", d.cuGraphInstantiateWithFlags) &&
            Resolve(d.library, "cuGraphLaunch", d.cuGraphLaunch) &&
            Resolve(d.library, "cuGraphExecDestroy", d.cuGraphExecDestroy) &&
            Resolve(d.library, "cuGraphDestroy", d.cuGraphDestroy) &&
            Resolve(d.library, "cuGetErrorName", d.cuGetErrorName) &&
            Resolve(d.library, "cuGetErrorString", d.cuGetErrorString);
  if (!ok) return NoDevice(absl::StrCat("libcuda.so.1 lacks a symbol: ", dlerror()));
  if (CUresult r = d.cuInit(0); r != 0) return NoDevice(absl::StrCat("cuInit failed: ", Describe(d, r)));
  if (CUresult r = d.cuDeviceGetCount(&d.device_count); r != 0) {
    return NoDevice(absl::StrCat("cuDeviceGetCount failed: ", Describe(d, r)));
  }
  if (d.device_count == 0) return NoDevice("the driver reports 0 devices");
  return absl::OkStatus();
}

// Loaded once per process; the library stays loaded (unloading a driver is never worth it).
const Driver& GetDriver() {
  static Driver* driver = [] {
    auto* d = new Driver;
    d->status = Load(*d);
    return d;
  }();
  return *driver;
}

absl::Status Check(CUresult result, const char* what) {
  if (result == 0) return absl::OkStatus();
  return absl::InternalError(absl::StrCat(what, " failed: ", Describe(GetDriver(), result)));
}

}  // namespace

absl::Status ProbeCudaDevice() { return GetDriver().status; }

absl::StatusOr<int> CudaDeviceCount() {
  KILN_RETURN_IF_ERROR(ProbeCudaDevice());
  return GetDriver().device_count;
}

absl::StatusOr<std::unique_ptr<CudaContext>> CudaContext::Create(int device) {
  KILN_ASSIGN_OR_RETURN(int count, CudaDeviceCount());
  if (device < 0 || device >= count) {
    return absl::InvalidArgumentError(
        absl::StrCat("CUDA device ", device, " does not exist (", count, " found)"));
  }
  const Driver& d = GetDriver();
  CUdevice handle = 0;
  KILN_RETURN_IF_ERROR(Check(d.cuDeviceGet(&handle, device), "cuDeviceGet"));
  char name[256] = {};
  KILN_RETURN_IF_ERROR(Check(d.cuDeviceGetName(name, sizeof(name) - 1, handle), "cuDeviceGetName"));
  CUcontext context = nullptr;
  KILN_RETURN_IF_ERROR(Check(d.cuDevicePrimaryCtxRetain(&context, handle), "cuDevicePrimaryCtxRetain"));
  std::unique_ptr<CudaContext> result(new CudaContext(handle, context, name));
  KILN_RETURN_IF_ERROR(result->MakeCurrent());
  return result;
}

CudaContext::~CudaContext() { GetDriver().cuDevicePrimaryCtxRelease(device_); }

absl::Status CudaContext::MakeCurrent() {
  return Check(GetDriver().cuCtxSetCurrent(context_), "cuCtxSetCurrent");
}

absl::StatusOr<CudaDevicePtr> CudaContext::Allocate(int64_t bytes) {
  KILN_RETURN_IF_ERROR(MakeCurrent());
  CUdeviceptr ptr = 0;
  // cuMemAlloc rejects 0 bytes; an empty arena still gets a valid (tiny) allocation.
  KILN_RETURN_IF_ERROR(Check(GetDriver().cuMemAlloc(&ptr, bytes > 0 ? bytes : 256), "cuMemAlloc"));
  return ptr;
}

absl::Status CudaContext::Free(CudaDevicePtr ptr) {
  KILN_RETURN_IF_ERROR(MakeCurrent());
  return Check(GetDriver().cuMemFree(ptr), "cuMemFree");
}

absl::Status CudaContext::CopyToDevice(CudaDevicePtr dst, const void* src, int64_t bytes) {
  KILN_RETURN_IF_ERROR(MakeCurrent());
  return Check(GetDriver().cuMemcpyHtoD(dst, src, bytes), "cuMemcpyHtoD");
}

absl::Status CudaContext::CopyToHost(void* dst, CudaDevicePtr src, int64_t bytes) {
  KILN_RETURN_IF_ERROR(MakeCurrent());
  return Check(GetDriver().cuMemcpyDtoH(dst, src, bytes), "cuMemcpyDtoH");
}

absl::StatusOr<CudaModule> CudaContext::LoadModule(const std::string& image) {
  KILN_RETURN_IF_ERROR(MakeCurrent());
  CUmodule module = nullptr;
  // c_str(): a PTX image must be NUL-terminated; a CUBIN is self-describing.
  KILN_RETURN_IF_ERROR(Check(GetDriver().cuModuleLoadData(&module, image.c_str()), "cuModuleLoadData"));
  return CudaModule(module);
}

absl::Status CudaContext::Launch(CudaFunction function, std::array<int64_t, 3> grid,
                                 std::array<int64_t, 3> block, int64_t shared_bytes,
                                 const std::vector<void*>& args) {
  return Launch(function, grid, block, shared_bytes, args, CudaStream{});
}

absl::Status CudaContext::Launch(CudaFunction function, std::array<int64_t, 3> grid,
                                 std::array<int64_t, 3> block, int64_t shared_bytes,
                                 const std::vector<void*>& args, CudaStream stream) {
  KILN_RETURN_IF_ERROR(MakeCurrent());
  std::vector<void*> params = args;
  return Check(GetDriver().cuLaunchKernel(
                   function.handle, static_cast<unsigned>(grid[0]), static_cast<unsigned>(grid[1]),
                   static_cast<unsigned>(grid[2]), static_cast<unsigned>(block[0]),
                   static_cast<unsigned>(block[1]), static_cast<unsigned>(block[2]),
                   static_cast<unsigned>(shared_bytes), stream.handle, params.data(), nullptr),
               "cuLaunchKernel");
}

absl::Status CudaContext::Synchronize() {
  KILN_RETURN_IF_ERROR(MakeCurrent());
  return Check(GetDriver().cuCtxSynchronize(), "cuCtxSynchronize");
}

absl::StatusOr<CudaStream> CudaContext::CreateStream() {
  KILN_RETURN_IF_ERROR(MakeCurrent());
  CUstream stream = nullptr;
  KILN_RETURN_IF_ERROR(Check(GetDriver().cuStreamCreate(&stream, kStreamNonBlocking), "cuStreamCreate"));
  return CudaStream{stream};
}

absl::Status CudaContext::DestroyStream(CudaStream stream) {
  KILN_RETURN_IF_ERROR(MakeCurrent());
  return Check(GetDriver().cuStreamDestroy(stream.handle), "cuStreamDestroy");
}

absl::Status CudaContext::SynchronizeStream(CudaStream stream) {
  KILN_RETURN_IF_ERROR(MakeCurrent());
  return Check(GetDriver().cuStreamSynchronize(stream.handle), "cuStreamSynchronize");
}

absl::StatusOr<CudaEvent> CudaContext::CreateEvent(bool timing) {
  KILN_RETURN_IF_ERROR(MakeCurrent());
  CUevent event = nullptr;
  KILN_RETURN_IF_ERROR(
      Check(GetDriver().cuEventCreate(&event, timing ? 0u : kEventDisableTiming), "cuEventCreate"));
  return CudaEvent{event};
}

absl::StatusOr<double> CudaContext::ElapsedMilliseconds(CudaEvent start, CudaEvent end) {
  KILN_RETURN_IF_ERROR(MakeCurrent());
  float ms = 0.0f;
  KILN_RETURN_IF_ERROR(
      Check(GetDriver().cuEventElapsedTime(&ms, start.handle, end.handle), "cuEventElapsedTime"));
  return ms;
}

absl::Status CudaContext::DestroyEvent(CudaEvent event) {
  KILN_RETURN_IF_ERROR(MakeCurrent());
  return Check(GetDriver().cuEventDestroy(event.handle), "cuEventDestroy");
}

absl::Status CudaContext::RecordEvent(CudaEvent event, CudaStream stream) {
  KILN_RETURN_IF_ERROR(MakeCurrent());
  return Check(GetDriver().cuEventRecord(event.handle, stream.handle), "cuEventRecord");
}

absl::Status CudaContext::WaitEvent(CudaStream stream, CudaEvent event) {
  KILN_RETURN_IF_ERROR(MakeCurrent());
  return Check(GetDriver().cuStreamWaitEvent(stream.handle, event.handle, 0), "cuStreamWaitEvent");
}

absl::Status CudaContext::SynchronizeEvent(CudaEvent event) {
  KILN_RETURN_IF_ERROR(MakeCurrent());
  return Check(GetDriver().cuEventSynchronize(event.handle), "cuEventSynchronize");
}

absl::Status CudaContext::CopyToDeviceAsync(CudaDevicePtr dst, const void* src, int64_t bytes,
                                            CudaStream stream) {
  KILN_RETURN_IF_ERROR(MakeCurrent());
  return Check(GetDriver().cuMemcpyHtoDAsync(dst, src, bytes, stream.handle), "cuMemcpyHtoDAsync");
}

absl::Status CudaContext::CopyToHostAsync(void* dst, CudaDevicePtr src, int64_t bytes,
                                          CudaStream stream) {
  KILN_RETURN_IF_ERROR(MakeCurrent());
  return Check(GetDriver().cuMemcpyDtoHAsync(dst, src, bytes, stream.handle), "cuMemcpyDtoHAsync");
}

absl::StatusOr<void*> CudaContext::AllocatePinned(int64_t bytes) {
  KILN_RETURN_IF_ERROR(MakeCurrent());
  void* ptr = nullptr;
  KILN_RETURN_IF_ERROR(
      Check(GetDriver().cuMemHostAlloc(&ptr, bytes > 0 ? bytes : 256, 0), "cuMemHostAlloc"));
  return ptr;
}

absl::Status CudaContext::FreePinned(void* ptr) {
  KILN_RETURN_IF_ERROR(MakeCurrent());
  return Check(GetDriver().cuMemFreeHost(ptr), "cuMemFreeHost");
}

absl::Status CudaContext::BeginCapture(CudaStream stream) {
  KILN_RETURN_IF_ERROR(MakeCurrent());
  return Check(GetDriver().cuStreamBeginCapture(stream.handle, kCudaStreamCaptureModeThreadLocal),
               "cuStreamBeginCapture");
}

absl::StatusOr<CudaGraphExec> CudaContext::EndCapture(CudaStream stream) {
  KILN_RETURN_IF_ERROR(MakeCurrent());
  const Driver& d = GetDriver();
  CUgraph graph = nullptr;
  KILN_RETURN_IF_ERROR(Check(d.cuStreamEndCapture(stream.handle, &graph), "cuStreamEndCapture"));
  CUgraphExec exec = nullptr;
  absl::Status instantiated =
      Check(d.cuGraphInstantiateWithFlags(&exec, graph, 0), "cuGraphInstantiateWithFlags");
  d.cuGraphDestroy(graph);  // The executable graph does not need its template.
  KILN_RETURN_IF_ERROR(instantiated);
  return CudaGraphExec{exec};
}

absl::Status CudaContext::LaunchGraph(CudaGraphExec graph, CudaStream stream) {
  KILN_RETURN_IF_ERROR(MakeCurrent());
  return Check(GetDriver().cuGraphLaunch(graph.handle, stream.handle), "cuGraphLaunch");
}

absl::Status CudaContext::DestroyGraph(CudaGraphExec graph) {
  KILN_RETURN_IF_ERROR(MakeCurrent());
  return Check(GetDriver().cuGraphExecDestroy(graph.handle), "cuGraphExecDestroy");
}

CudaModule::~CudaModule() {
  if (module_ != nullptr) GetDriver().cuModuleUnload(module_);
}

absl::StatusOr<CudaFunction> CudaModule::Function(const std::string& name) const {
  CUfunction function = nullptr;
  KILN_RETURN_IF_ERROR(Check(GetDriver().cuModuleGetFunction(&function, module_, name.c_str()),
                             "cuModuleGetFunction"));
  return CudaFunction{function};
}

absl::StatusOr<CudaSlotTable> CudaSlotTable::Create(CudaContext& context, int64_t arena_bytes,
                                                    const std::vector<int64_t>& offsets) {
  CudaSlotTable table;
  KILN_ASSIGN_OR_RETURN(table.arena_, context.Allocate(arena_bytes));
  for (int64_t offset : offsets) table.slots_.push_back(offset >= 0 ? table.arena_ + offset : 0);
  return table;
}

std::vector<void*> CudaSlotTable::Arguments(const std::vector<int>& param_slots) {
  std::vector<void*> args;
  for (int slot : param_slots) args.push_back(&slots_[slot]);
  return args;
}

}  // namespace kiln::runtime
