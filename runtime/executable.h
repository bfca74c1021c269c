// A compiled program made runnable: persistent tensors allocated and initialized once, and for
// each entry point an arena, input buffers and the slots array its generated function reads.
// After Create, running an entry allocates nothing.
//
//   KILN_ASSIGN_OR_RETURN(auto exe, Executable::Create(program, library, /*seed=*/0));
//   KILN_ASSIGN_OR_RETURN(Entry* step, exe->FindEntry(/*training=*/true, /*batch_size=*/64));
//   KILN_ASSIGN_OR_RETURN(BufferView x, step->Input("x"));
//   ... fill x.f32() ...
//   step->Run(pool.parallel());
//   KILN_ASSIGN_OR_RETURN(BufferView loss, step->Output("loss"));
#ifndef KILN_RUNTIME_EXECUTABLE_H_
#define KILN_RUNTIME_EXECUTABLE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/kernel_abi.h"
#include "runtime/kernel_library.h"
#include "runtime/program.h"
#include "runtime/tensor.h"

namespace kiln::runtime {

// One buffer of an entry, as the generated code sees it.
struct BufferView {
  const BufferSpec* spec = nullptr;
  void* data = nullptr;

  int64_t num_elements() const { return NumElements(spec->shape); }
  float* f32() const { return static_cast<float*>(data); }
  int64_t* i64() const { return static_cast<int64_t*>(data); }
};

class Entry {
 public:
  const EntrySpec& spec() const { return spec_; }
  bool training() const { return spec_.training; }
  int64_t batch_size() const { return spec_.batch_size; }

  // The buffer called `name` with the given role; NotFound if there is none.
  absl::StatusOr<BufferView> Input(const std::string& name) const;
  absl::StatusOr<BufferView> Output(const std::string& name) const;
  absl::StatusOr<BufferView> Buffer(const std::string& name) const;
  bool HasInput(const std::string& name) const;

  // Calls the generated function once. Inputs must have been filled.
  void Run(const KilnParallel* parallel) { fn_(slots_.data(), parallel); }
  // The slot table the generated code receives (profilers call single kernels with it).
  void** slots() { return slots_.data(); }

  // Runs the entry's kernels one at a time, as Run does, calling `after(k)` once kernel k has
  // finished; stops early when `after` returns false. For diagnosis: the kernels are looked up
  // by symbol (once) and called from here, so it is slower than Run.
  absl::Status RunKernels(const KilnParallel* parallel, const std::function<bool(int)>& after);

 private:
  friend class Executable;
  Entry(EntrySpec spec, KilnEntryFn fn, KernelLibrary& library)
      : spec_(std::move(spec)), fn_(fn), library_(library) {}
  absl::StatusOr<BufferView> Find(const std::string& name, BufferRole role) const;

  EntrySpec spec_;
  KilnEntryFn fn_;
  KernelLibrary& library_;
  std::vector<KilnTaskFn> kernels_;  // Resolved by the first RunKernels.
  AlignedBuffer arena_;
  std::vector<AlignedBuffer> inputs_;
  std::vector<void*> slots_;  // slots_[i] is buffers[i]'s memory.
  std::unordered_map<std::string, int> index_;
};

class Executable {
 public:
  // Resolves every entry's symbol in `library` (which must outlive the executable), checks that
  // each buffer fits its arena or matches its persistent tensor, and initializes persistent
  // tensors from `seed`.
  // With a region, every tensor, input and arena is taken from it (see MemoryBytes).
  static absl::StatusOr<std::unique_ptr<Executable>> Create(ProgramSpec program,
                                                            KernelLibrary& library, uint64_t seed,
                                                            MemoryRegion* region = nullptr);

  // The bytes of a MemoryRegion that holds all of `program`'s tensors, inputs and arenas.
  static int64_t MemoryBytes(const ProgramSpec& program);

  const ProgramSpec& program() const { return program_; }

  // The entry for a training step or an evaluation at this batch size.
  absl::StatusOr<Entry*> FindEntry(bool training, int64_t batch_size) const;
  const std::vector<std::unique_ptr<Entry>>& entries() const { return entries_; }

  // Persistent tensors in ProgramSpec order (parameters and optimizer state).
  const std::vector<Tensor>& persistent() const { return persistent_; }
  Tensor* FindPersistent(const std::string& name);

  // Re-draws every persistent tensor from its InitSpec. One random stream derived from `seed`
  // is consumed in PersistentSpec order, so equal seeds give equal tensors.
  void InitializePersistent(uint64_t seed);

 private:
  explicit Executable(ProgramSpec program) : program_(std::move(program)) {}
  absl::Status AllocatePersistent();
  absl::StatusOr<std::unique_ptr<Entry>> BindEntry(const EntrySpec& spec, KernelLibrary& library);
  absl::Status BindBuffer(Entry& entry, int index);

  ProgramSpec program_;
  std::vector<Tensor> persistent_;
  std::unordered_map<std::string, int> persistent_index_;
  std::vector<std::unique_ptr<Entry>> entries_;
  MemoryRegion* region_ = nullptr;  // During Create only.
};

}  // namespace kiln::runtime

#endif  // KILN_RUNTIME_EXECUTABLE_H_
