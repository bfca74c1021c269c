#include "runtime/cuda/cuda_executable.h"

#include <algorithm>

#include <cstring>
#include <utility>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "support/status.h"

namespace kiln::runtime {

absl::StatusOr<std::unique_ptr<CudaExecutable>> CudaExecutable::Create(
    CudaContext& context, Executable& host, DeviceProgram program, CudaExecutableOptions options) {
  std::unique_ptr<CudaExecutable> exe(new CudaExecutable(context, host, options));
  if (options.use_cublaslt) {
    // Without cuBLASLt every matmul runs its generated kernel; that is a slower, not a wrong, run.
    absl::StatusOr<std::unique_ptr<CublasLt>> lt = CublasLt::Load();
    if (lt.ok()) exe->lt_ = *std::move(lt);
  }
  exe->program_ = std::move(program);
  KILN_ASSIGN_OR_RETURN(exe->plan_,
                        PlanDevice(host.program(), exe->program_, exe->lt_ != nullptr));
  KILN_RETURN_IF_ERROR(exe->Allocate());
  for (int e = 0; e < static_cast<int>(exe->program_.entries.size()); ++e) {
    KILN_RETURN_IF_ERROR(exe->LoadEntry(e));
  }
  KILN_RETURN_IF_ERROR(exe->UploadPersistent());
  return exe;
}

absl::Status CudaExecutable::Allocate() {
  KILN_ASSIGN_OR_RETURN(compute_, context_.CreateStream());
  KILN_ASSIGN_OR_RETURN(copy_, context_.CreateStream());
  KILN_ASSIGN_OR_RETURN(arena_, context_.Allocate(plan_.arena_bytes));
  KILN_ASSIGN_OR_RETURN(persistent_, context_.Allocate(plan_.persistent_bytes));
  if (lt_ != nullptr) {
    KILN_ASSIGN_OR_RETURN(workspace_, context_.Allocate(options_.cublaslt_workspace_bytes));
  }
  entries_.resize(plan_.entries.size());
  for (size_t e = 0; e < plan_.entries.size(); ++e) {
    const EntryPlan& entry = plan_.entries[e];
    for (Parity& parity : entries_[e].parity) {
      KILN_ASSIGN_OR_RETURN(parity.inputs, context_.Allocate(entry.input_bytes));
      KILN_ASSIGN_OR_RETURN(parity.staged_inputs, context_.AllocatePinned(entry.input_bytes));
      KILN_ASSIGN_OR_RETURN(parity.staged_outputs, context_.AllocatePinned(entry.output_bytes));
      std::memset(parity.staged_inputs, 0, entry.input_bytes);
      KILN_ASSIGN_OR_RETURN(parity.copied, context_.CreateEvent());
      KILN_ASSIGN_OR_RETURN(parity.computed, context_.CreateEvent());
      parity.addresses = SlotAddresses(entry, {arena_, persistent_, parity.inputs});
    }
  }
  return absl::OkStatus();
}

absl::Status CudaExecutable::LoadEntry(int e) {
  const DeviceEntry& device = program_.entries[e];
  EntryState& state = entries_[e];
  KILN_ASSIGN_OR_RETURN(CudaModule module, context_.LoadModule(device.image));
  state.module = std::make_unique<CudaModule>(std::move(module));
  for (const LaunchPlan& launch : plan_.entries[e].launches) {
    const DeviceKernel& kernel = device.kernels[launch.kernel];
    KILN_ASSIGN_OR_RETURN(CudaFunction function, state.module->Function(kernel.symbol));
    state.functions.push_back(function);
    std::unique_ptr<CublasLt::Matmul> matmul;
    if (launch.use_cublaslt) {
      // No algorithm for this shape: the generated kernel computes it.
      absl::StatusOr<std::unique_ptr<CublasLt::Matmul>> prepared =
          lt_->Prepare(*kernel.gemm, options_.cublaslt_workspace_bytes);
      if (prepared.ok()) matmul = *std::move(prepared);
    }
    state.matmuls.push_back(std::move(matmul));
  }
  for (Parity& parity : state.parity) {
    for (const DeviceKernel& kernel : device.kernels) {
      parity.params.push_back(KernelParams(kernel, parity.addresses));
    }
    // Pointers into params are taken once every vector is in place (no reallocation after).
    for (std::vector<uint64_t>& params : parity.params) {
      std::vector<void*> args;
      for (uint64_t& value : params) args.push_back(&value);
      parity.args.push_back(std::move(args));
    }
  }
  return absl::OkStatus();
}

CudaExecutable::~CudaExecutable() {
  // Best effort: a failing free at teardown has nobody to report to.
  (void)context_.SynchronizeStream(compute_);
  (void)context_.SynchronizeStream(copy_);
  for (EntryState& entry : entries_) {
    for (std::unique_ptr<CublasLt::Matmul>& matmul : entry.matmuls) {
      if (matmul != nullptr) lt_->Release(*matmul);
    }
    for (Parity& parity : entry.parity) {
      if (parity.graph.handle != nullptr) (void)context_.DestroyGraph(parity.graph);
      if (parity.copied.handle != nullptr) (void)context_.DestroyEvent(parity.copied);
      if (parity.computed.handle != nullptr) (void)context_.DestroyEvent(parity.computed);
      if (parity.staged_inputs != nullptr) (void)context_.FreePinned(parity.staged_inputs);
      if (parity.staged_outputs != nullptr) (void)context_.FreePinned(parity.staged_outputs);
      if (parity.inputs != 0) (void)context_.Free(parity.inputs);
    }
  }
  for (CudaDevicePtr ptr : {arena_, persistent_, workspace_}) {
    if (ptr != 0) (void)context_.Free(ptr);
  }
  for (CudaStream stream : {compute_, copy_}) {
    if (stream.handle != nullptr) (void)context_.DestroyStream(stream);
  }
}

absl::StatusOr<int> CudaExecutable::FindEntry(bool training, int64_t batch_size) const {
  const std::vector<EntrySpec>& entries = program().entries;
  std::vector<int64_t> available;
  for (int e = 0; e < static_cast<int>(entries.size()); ++e) {
    if (entries[e].training != training) continue;
    if (entries[e].batch_size == batch_size) return e;
    available.push_back(entries[e].batch_size);
  }
  return absl::NotFoundError(
      absl::StrFormat("no %s entry for batch size %d (compiled batch sizes: %s)",
                      training ? "training" : "evaluation", batch_size,
                      available.empty() ? "none" : absl::StrJoin(available, ", ")));
}

absl::Status CudaExecutable::CheckIndex(int entry, int parity) const {
  if (entry >= 0 && entry < static_cast<int>(entries_.size()) && parity >= 0 &&
      parity < kParities) {
    return absl::OkStatus();
  }
  return absl::OutOfRangeError(absl::StrFormat("no entry %d / parity %d", entry, parity));
}

absl::StatusOr<int> CudaExecutable::Slot(int entry, const std::string& name) const {
  const std::vector<BufferSpec>& buffers = program().entries[entry].buffers;
  for (int i = 0; i < static_cast<int>(buffers.size()); ++i) {
    if (buffers[i].name == name) return i;
  }
  return absl::NotFoundError(absl::StrFormat("entry '%s' has no buffer '%s'",
                                             program().entries[entry].symbol, name));
}

absl::StatusOr<void*> CudaExecutable::StagedInput(int entry, int parity, const std::string& name) {
  KILN_RETURN_IF_ERROR(CheckIndex(entry, parity));
  KILN_ASSIGN_OR_RETURN(int slot, Slot(entry, name));
  const SlotBinding& binding = plan_.entries[entry].slots[slot];
  if (binding.place != SlotPlace::kInput) {
    return absl::InvalidArgumentError(absl::StrFormat("'%s' is not an input", name));
  }
  return static_cast<char*>(entries_[entry].parity[parity].staged_inputs) + binding.offset;
}

absl::StatusOr<const void*> CudaExecutable::Output(int entry, int parity,
                                                   const std::string& name) const {
  KILN_RETURN_IF_ERROR(CheckIndex(entry, parity));
  KILN_ASSIGN_OR_RETURN(int slot, Slot(entry, name));
  for (const auto& [output_slot, offset] : plan_.entries[entry].outputs) {
    if (output_slot == slot) {
      return static_cast<const char*>(entries_[entry].parity[parity].staged_outputs) + offset;
    }
  }
  return absl::InvalidArgumentError(absl::StrFormat("'%s' is not an output", name));
}

absl::Status CudaExecutable::EnqueueKernel(int entry, int parity, size_t k) {
  EntryState& state = entries_[entry];
  Parity& p = state.parity[parity];
  if (state.matmuls[k] != nullptr) {
    return lt_->Run(*state.matmuls[k], p.addresses, workspace_, options_.cublaslt_workspace_bytes,
                    compute_);
  }
  const DeviceKernel& kernel = program_.entries[entry].kernels[k];
  return context_.Launch(state.functions[k], kernel.grid, kernel.block, kernel.shared_bytes,
                         p.args[k], compute_);
}

absl::Status CudaExecutable::EnqueueKernels(int entry, int parity) {
  const std::vector<DeviceKernel>& kernels = program_.entries[entry].kernels;
  for (size_t k = 0; k < kernels.size(); ++k) {
    KILN_RETURN_IF_ERROR(EnqueueKernel(entry, parity, k));
    const int slot = kernels[k].all_reduce_slot;
    if (collectives_ == nullptr || slot < 0) continue;
    const int64_t values = plan_.entries[entry].slots[slot].bytes / int64_t{sizeof(float)};
    KILN_RETURN_IF_ERROR(collectives_->AllReduceMean(entries_[entry].parity[parity].addresses[slot],
                                                     static_cast<size_t>(values), compute_));
  }
  return absl::OkStatus();
}

absl::Status CudaExecutable::BindCollectives(DeviceCommunicator* collectives) {
  if (graphs_.captured() > 0) {
    return absl::FailedPreconditionError(
        "BindCollectives after steps have run: their CUDA graphs lack the collectives");
  }
  collectives_ = collectives;
  return absl::OkStatus();
}

absl::StatusOr<std::vector<double>> CudaExecutable::KernelMicroseconds(int entry, int parity,
                                                                       int repeats) {
  KILN_RETURN_IF_ERROR(CheckIndex(entry, parity));
  KILN_RETURN_IF_ERROR(context_.SynchronizeStream(compute_));
  KILN_ASSIGN_OR_RETURN(CudaEvent start, context_.CreateEvent(/*timing=*/true));
  KILN_ASSIGN_OR_RETURN(CudaEvent end, context_.CreateEvent(/*timing=*/true));
  std::vector<double> micros;
  absl::Status status;
  for (size_t k = 0; k < program_.entries[entry].kernels.size() && status.ok(); ++k) {
    std::vector<double> runs;
    for (int r = 0; r < repeats + 2 && status.ok(); ++r) {  // The first two warm up.
      status.Update(context_.RecordEvent(start, compute_));
      status.Update(EnqueueKernel(entry, parity, k));
      status.Update(context_.RecordEvent(end, compute_));
      status.Update(context_.SynchronizeEvent(end));
      if (!status.ok()) break;
      absl::StatusOr<double> ms = context_.ElapsedMilliseconds(start, end);
      status.Update(ms.status());
      if (ms.ok() && r >= 2) runs.push_back(*ms * 1e3);
    }
    if (status.ok()) {
      std::sort(runs.begin(), runs.end());
      micros.push_back(runs[runs.size() / 2]);
    }
  }
  status.Update(context_.DestroyEvent(start));
  status.Update(context_.DestroyEvent(end));
  if (!status.ok()) return status;
  return micros;
}

// Runs the step's kernels on `compute`: through its CUDA graph when one is (or can be) captured.
absl::Status CudaExecutable::RunKernels(int entry, int parity) {
  Parity& p = entries_[entry].parity[parity];
  switch (graphs_.Next(entry, parity)) {
    case GraphAction::kEager:
      return EnqueueKernels(entry, parity);
    case GraphAction::kReplay:
      return context_.LaunchGraph(p.graph, compute_);
    case GraphAction::kCapture:
      break;
  }
  KILN_RETURN_IF_ERROR(context_.BeginCapture(compute_));
  absl::Status enqueued = EnqueueKernels(entry, parity);
  // Always end the capture, also after a failed launch: the stream is unusable until then.
  absl::StatusOr<CudaGraphExec> graph = context_.EndCapture(compute_);
  if (!enqueued.ok() || !graph.ok()) {
    if (graph.ok()) (void)context_.DestroyGraph(*graph);
    graphs_.CaptureFailed(entry, parity);
    return EnqueueKernels(entry, parity);
  }
  p.graph = *graph;
  graphs_.Captured(entry, parity);
  return context_.LaunchGraph(p.graph, compute_);
}

absl::Status CudaExecutable::Launch(int entry, int parity) {
  KILN_RETURN_IF_ERROR(CheckIndex(entry, parity));
  const EntryPlan& plan = plan_.entries[entry];
  Parity& p = entries_[entry].parity[parity];
  if (plan.input_bytes > 0) {
    // The previous step of this parity must be done reading the device block before it is
    // overwritten (an event never recorded counts as complete).
    KILN_RETURN_IF_ERROR(context_.WaitEvent(copy_, p.computed));
    KILN_RETURN_IF_ERROR(
        context_.CopyToDeviceAsync(p.inputs, p.staged_inputs, plan.input_bytes, copy_));
  }
  KILN_RETURN_IF_ERROR(context_.RecordEvent(p.copied, copy_));
  KILN_RETURN_IF_ERROR(context_.WaitEvent(compute_, p.copied));
  KILN_RETURN_IF_ERROR(RunKernels(entry, parity));
  for (const auto& [slot, offset] : plan.outputs) {
    KILN_RETURN_IF_ERROR(context_.CopyToHostAsync(static_cast<char*>(p.staged_outputs) + offset,
                                                  p.addresses[slot], plan.slots[slot].bytes,
                                                  compute_));
  }
  return context_.RecordEvent(p.computed, compute_);
}

absl::Status CudaExecutable::Wait(int entry, int parity) {
  KILN_RETURN_IF_ERROR(CheckIndex(entry, parity));
  return context_.SynchronizeEvent(entries_[entry].parity[parity].computed);
}

absl::Status CudaExecutable::UploadPersistent() {
  KILN_RETURN_IF_ERROR(context_.SynchronizeStream(compute_));
  const std::vector<Tensor>& tensors = host_.persistent();
  for (size_t i = 0; i < tensors.size(); ++i) {
    KILN_RETURN_IF_ERROR(context_.CopyToDevice(persistent_ + plan_.persistent_offsets[i],
                                               tensors[i].data(), tensors[i].bytes()));
  }
  return absl::OkStatus();
}

absl::Status CudaExecutable::DownloadPersistent() {
  KILN_RETURN_IF_ERROR(context_.SynchronizeStream(compute_));
  const std::vector<PersistentSpec>& specs = program().persistent;
  for (size_t i = 0; i < specs.size(); ++i) {
    Tensor* tensor = host_.FindPersistent(specs[i].name);
    KILN_RETURN_IF_ERROR(context_.CopyToHost(
        tensor->data(), persistent_ + plan_.persistent_offsets[i], tensor->bytes()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<char>> CudaExecutable::ReadBuffer(int entry, const std::string& name) {
  KILN_RETURN_IF_ERROR(CheckIndex(entry, 0));
  KILN_ASSIGN_OR_RETURN(int slot, Slot(entry, name));
  KILN_RETURN_IF_ERROR(context_.SynchronizeStream(compute_));
  std::vector<char> bytes(plan_.entries[entry].slots[slot].bytes);
  KILN_RETURN_IF_ERROR(context_.CopyToHost(bytes.data(), entries_[entry].parity[0].addresses[slot],
                                           static_cast<int64_t>(bytes.size())));
  return bytes;
}

}  // namespace kiln::runtime
