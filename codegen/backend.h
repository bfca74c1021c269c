// The interface every code generator implements, and what it is handed: a model's entry points
// after the graph stages (simplify, fuse, plan memory), with nothing backend-specific in them.
// The commands ask the selected backend (tools/backend_registry.h); a new backend (another CPU
// ISA, another GPU API) is one folder implementing Backend and LoadedModel, plus one line in the
// registry.
//
//   KILN_ASSIGN_OR_RETURN(const codegen::Backend* backend, tools::FindBackend("cpu"));
//   KILN_RETURN_IF_ERROR(backend->CheckAvailable());
//   KILN_ASSIGN_OR_RETURN(auto loaded, backend->Load(model, {.seed = 1, .threads = 0}));
//   KILN_ASSIGN_OR_RETURN(auto history, loaded->Fit(data.train, data.test, options));
#ifndef KILN_CODEGEN_BACKEND_H_
#define KILN_CODEGEN_BACKEND_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "ir/kernel_program.h"
#include "ir/train_config.h"
#include "runtime/communicator.h"
#include "runtime/dataset.h"
#include "runtime/executable.h"
#include "runtime/program.h"
#include "runtime/trainer.h"

namespace kiln::codegen {

// One entry point: a training step or an evaluation, for one static batch size.
struct EntryRequest {
  bool training = true;
  int64_t batch_size = 64;
};

struct CompiledEntry {
  EntryRequest request;
  std::string symbol;  // "<model>_train_b64": the entry's symbol; its kernels extend it.
  ir::KernelProgram program;
};

// A model compiled down to kernel programs, for any backend.
struct CompiledModel {
  std::string name;
  ir::TrainConfig train;
  std::vector<runtime::PersistentSpec> persistent;  // Parameters and optimizer state.
  std::string features_input;  // The inputs the data set's features and labels feed.
  std::string labels_input;
  std::vector<CompiledEntry> entries;
};

// A form of the generated code a user can read or link (`kiln compile --emit=NAME`).
struct EmitFormat {
  std::string name;     // "llvm", "asm", "obj", "cuda".
  std::string summary;  // One line for --help and errors.
  bool binary = false;  // Written to a file (-o, default <model>.<extension>), not stdout.
  std::string extension;
};

// The CPU that host code is generated for (`--cpu`): "native" (this machine; "host" is a synonym),
// a generic level such as "x86-64-v3", or an LLVM CPU name such as "znver3".
inline bool IsNativeCpu(std::string_view cpu) { return cpu == "native" || cpu == "host"; }

struct EmitOptions {
  std::string cpu = "native";  // Code need not run here: x86-64-v4 objects build on any machine.
  bool use_cache = true;       // The persistent code cache (--no-cache: false).
};

struct LoadOptions {
  uint64_t seed = 0;  // Initializes the persistent tensors.
  int threads = 0;    // Host worker threads including the caller; 0: one per core.
  // Must run here: a CPU whose features this machine lacks is an error.
  std::string cpu = "native";
  bool use_cache = true;  // The persistent code cache (--no-cache: false).
  // This process is one rank of a data-parallel job (not owned; null: one process). A device
  // backend takes the GPU of the rank's local_rank and checks that it can run collectives; the
  // collectives themselves start with Fit (TrainOptions::comm), after the ranks agree to train.
  runtime::Communicator* data_parallel = nullptr;
};

// Time of one kernel run alone, and what it moved and computed (from the IR).
struct KernelTiming {
  std::string name;  // Without the entry's symbol prefix.
  double microseconds = 0.0;
  double flops = 0.0;
  double bytes = 0.0;
  std::string launch;  // How it ran: "12 tasks*" (split across threads), "grid 128 [cuBLASLt]".
  // Its mean time inside whole steps, where it finds the caches as the kernels before it left
  // them (a kernel alone, run again and again, finds its operands cached); negative where the
  // backend cannot time a kernel within the step.
  double in_step_microseconds = -1.0;
};

struct StepProfile {
  double step_microseconds = 0.0;  // The whole entry as the trainer runs it.
  std::string method;              // How the figures were taken, for the report's header.
  std::vector<KernelTiming> kernels;  // In execution order.
};

// How `kiln bench` samples: warm-up, then runs until the budget is spent (within the bounds).
struct BenchOptions {
  bool cold_cache = true;        // Evict the caches before every timed run.
  int64_t evict_bytes = 64 << 20;  // What to write between runs: at least twice the LLC.
  double budget_ms = 300.0;      // Per kernel (and for the whole step), after warm-up.
  int min_runs = 5;
  int max_runs = 2000;
};

// Every timed run of one kernel alone, in microseconds, in the order they were taken.
struct KernelSamples {
  std::string name;  // Without the entry's symbol prefix.
  std::string launch;
  double flops = 0.0;
  double bytes = 0.0;
  std::vector<double> microseconds;
};

struct StepSamples {
  std::vector<double> step_microseconds;  // The whole entry as the trainer runs it.
  std::vector<KernelSamples> kernels;     // In execution order, as EntrySpec::kernels.
  std::string device;                     // "2 threads", for the report's header.
};

// The machine's measured limits for the roofline (`kiln bench --calibrate`).
struct MachinePeak {
  double gflops = 0.0;           // FP32 multiply-adds x 2, all threads.
  double bandwidth_gbs = 0.0;    // STREAM-triad-like, all threads; bytes read + written.
  int threads = 0;
  std::string method;
};

// A model's entry points compiled for and loaded on one device.
class LoadedModel {
 public:
  virtual ~LoadedModel() = default;

  // The host copy of the persistent tensors: what --init-weights and --resume load into and
  // checkpoints are written from. A device backend uploads it when it first runs a step.
  virtual runtime::Executable& host() = 0;

  // Where it runs, for the header line: "2 threads", "CUDA device NVIDIA H200, cuBLASLt on".
  virtual std::string Describe() const = 0;

  // runtime::Trainer::Fit's contract on this device: epochs, metrics, checkpoints.
  virtual absl::StatusOr<std::vector<runtime::EpochMetrics>> Fit(
      const runtime::Dataset& train, const runtime::Dataset& test,
      runtime::TrainOptions options) = 0;

  // Times the entry (training or evaluation at `batch_size`) as the trainer runs it, then each
  // of its kernels alone, on deterministic harmless inputs (FillProfileInputs).
  virtual absl::StatusOr<StepProfile> Profile(bool training, int64_t batch_size,
                                              int iterations) = 0;

  // Every sample of the entry and of each kernel alone (`kiln bench`), on the same inputs as
  // Profile. Backends that cannot do this yet return Unimplemented.
  virtual absl::StatusOr<StepSamples> Benchmark(bool training, int64_t batch_size,
                                                const BenchOptions& options);

  // Runs the entry once on FillProfileInputs' inputs and leaves its outputs and updated
  // persistent tensors readable through host() (the fused-vs-unfused correctness gate).
  virtual absl::Status RunOnceOnHost(bool training, int64_t batch_size);
};

class Backend {
 public:
  virtual ~Backend() = default;

  // The --device value that selects it.
  virtual std::string_view name() const = 0;

  // Whether its GEMM kernels read a windowed operand (a convolution's patches, at addresses in
  // its padded input; passes::FusionOptions::windowed_gemm_operands) or only stored matrices.
  virtual bool ReadsWindowedGemmOperands() const { return false; }

  // OK when this machine and build can run the backend's code; otherwise one line for the user
  // ("--device cuda: no CUDA device found (...)").
  virtual absl::Status CheckAvailable() const = 0;

  // The --emit forms it writes, and the code of `model` in one of them.
  virtual std::vector<EmitFormat> emit_formats() const = 0;
  virtual absl::StatusOr<std::string> Emit(const CompiledModel& model, std::string_view format,
                                           const EmitOptions& options) const = 0;

  // Generates, compiles and loads every entry of `model`.
  virtual absl::StatusOr<std::unique_ptr<LoadedModel>> Load(const CompiledModel& model,
                                                            const LoadOptions& options) const = 0;

  // The FP32 multiply-add rate and memory bandwidth with `threads` workers (0: one per core),
  // for `kiln bench --calibrate`, the multiply-adds in code generated for `cpu` (as
  // LoadOptions::cpu: an AVX2 target's peak on an AVX-512 machine is half the native one).
  // Backends that cannot measure them return Unimplemented.
  virtual absl::StatusOr<MachinePeak> MeasurePeak(int threads, const std::string& cpu) const;
};

// Deterministic, harmless inputs for timing: small features, class 0 labels, a tiny learning
// rate, so a profiled step neither diverges nor depends on data.
absl::Status FillProfileInputs(runtime::Entry& entry);

}  // namespace kiln::codegen

#endif  // KILN_CODEGEN_BACKEND_H_
