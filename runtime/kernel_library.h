// Where the runtime finds compiled entry points. The LLVM JIT (codegen/cpu) and a linked AOT
// object both implement this; the runtime never sees a compiler.
#ifndef KILN_RUNTIME_KERNEL_LIBRARY_H_
#define KILN_RUNTIME_KERNEL_LIBRARY_H_

#include <string>

#include "absl/status/statusor.h"
#include "runtime/kernel_abi.h"

namespace kiln::runtime {

class KernelLibrary {
 public:
  virtual ~KernelLibrary() = default;
  virtual absl::StatusOr<KilnEntryFn> Resolve(const std::string& symbol) = 0;
};

}  // namespace kiln::runtime

#endif  // KILN_RUNTIME_KERNEL_LIBRARY_H_
