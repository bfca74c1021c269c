// The model an AOT-built program carries: its bundle (runtime/model_bundle.h) and generated code,
// linked in by `kiln build`, made into runtime objects. Shared by the program's commands
// (aot/program_*.cc) and the C library (aot/c_api.cc).
#ifndef KILN_AOT_LINKED_MODEL_H_
#define KILN_AOT_LINKED_MODEL_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "aot/linked_kernels.h"
#include "runtime/dataset.h"
#include "runtime/executable.h"
#include "runtime/model_bundle.h"

namespace kiln::aot {

class LinkedModel {
 public:
  // Decodes the linked bundle; a damaged one is an error naming what is wrong.
  static absl::StatusOr<std::unique_ptr<LinkedModel>> Load();

  const runtime::ModelBundle& bundle() const { return bundle_; }
  const runtime::TrainRecipe& recipe() const { return bundle_.recipe; }

  // A fresh executable over the linked code, persistent tensors initialized from `seed`.
  absl::StatusOr<std::unique_ptr<runtime::Executable>> Instantiate(uint64_t seed);

  runtime::KernelLibrary& library() { return library_; }

  // The batch sizes entries were compiled for (training or evaluation), ascending.
  std::vector<int64_t> BatchSizes(bool training) const;

  // OK when every batch a pass over `samples` samples in batches of `batch` takes (full ones
  // and the last) has an entry; otherwise says which is missing and how to build one.
  absl::Status CheckBatches(bool training, int64_t samples, int64_t batch) const;

  // Trainable parameters' element count.
  int64_t ParameterCount() const;

 private:
  LinkedModel(runtime::ModelBundle bundle)
      : bundle_(std::move(bundle)), library_(kiln_aot_symbols, kiln_aot_symbol_count) {}
  runtime::ModelBundle bundle_;
  runtime::LinkedKernelLibrary library_;
};

}  // namespace kiln::aot

#endif  // KILN_AOT_LINKED_MODEL_H_
