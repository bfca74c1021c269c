// What the runtime needs to know about a compiled model, with no compiler types in it: the
// buffers each entry point reads and writes, and how persistent tensors start out. The compiler
// (tools/, codegen/) fills it in; AOT binaries carry it as data.
#ifndef KILN_RUNTIME_PROGRAM_H_
#define KILN_RUNTIME_PROGRAM_H_

#include <cstdint>
#include <string>
#include <vector>

namespace kiln::runtime {

enum class ElementType { kF32, kI64 };

enum class BufferRole {
  kInput,      // Fed by the trainer before each call (batch features, labels, scalars).
  kPersistent, // Parameter or optimizer state, shared by all entry points, found by name.
  kOutput,     // A named result ("loss", "correct"), read after the call; lives in the arena.
  kTemp,       // Intermediate value in the arena.
};

// How a persistent tensor is initialized before the first step. Mirrors PyTorch's init
// functions after their fan/gain arithmetic has been done by the compiler.
struct InitSpec {
  enum class Kind { kConstant, kUniform, kNormal } kind = Kind::kConstant;
  double a = 0.0;  // constant value | uniform low | normal mean
  double b = 0.0;  // uniform high | normal std
};

struct BufferSpec {
  std::string name;  // Unique within the entry point; persistent ones match across entry points.
  BufferRole role = BufferRole::kTemp;
  ElementType type = ElementType::kF32;
  std::vector<int64_t> shape;
  int64_t arena_offset = 0;  // kOutput and kTemp only; 64-byte aligned.
  int64_t bytes = 0;
};

// One generated kernel of an entry point, in execution order: `KilnTaskFn symbol` over tasks
// [0, num_tasks). The entry point calls them; profilers may call them one by one.
struct KernelSpec {
  std::string symbol;
  int64_t num_tasks = 1;
  bool parallel = false;  // Dispatched across the thread pool (else run on the caller).
  double flops = 0.0;     // Floating-point operations of one call (matmul: 2mnk).
  int64_t bytes = 0;      // Bytes of the buffers it reads and writes.
  std::vector<int> outputs;  // Indices into EntrySpec::buffers of the buffers it writes.
  // What it computes in the model's terms, for errors about its values:
  // "'log' (h, model.kiln:5:9) in the forward pass".
  std::string origin;
  // A collective's kernel: after it, the entry all-reduces buffer outputs[0] in place through
  // KilnParallel::all_reduce_mean (when set).
  bool all_reduce = false;
};

// One compiled function: `void symbol(void** slots, const KilnParallel* parallel)`, where
// slots[i] points at buffers[i].
struct EntrySpec {
  std::string symbol;
  bool training = false;  // A training step (updates persistent tensors) or an evaluation.
  int64_t batch_size = 0;
  std::vector<BufferSpec> buffers;
  int64_t arena_bytes = 0;
  std::vector<KernelSpec> kernels;
};

struct PersistentSpec {
  std::string name;
  ElementType type = ElementType::kF32;
  std::vector<int64_t> shape;
  InitSpec init;
  bool trainable = false;  // A parameter (vs. optimizer state).
};

struct ProgramSpec {
  std::vector<EntrySpec> entries;
  std::vector<PersistentSpec> persistent;
  // Names of the model inputs that receive the data set's features and labels.
  std::string features_input;
  std::string labels_input;
};

}  // namespace kiln::runtime

#endif  // KILN_RUNTIME_PROGRAM_H_
