// The KernelLibrary of an AOT-built program: generated functions linked into the binary, found
// through the name table `kiln build` emits next to them (runtime/kernel_abi.h).
#ifndef KILN_AOT_LINKED_KERNELS_H_
#define KILN_AOT_LINKED_KERNELS_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

#include "absl/status/statusor.h"
#include "runtime/kernel_abi.h"
#include "runtime/kernel_library.h"

// Defined by the object `kiln build` generates (names: KILN_AOT_* in runtime/kernel_abi.h).
extern "C" {
extern const KilnSymbol kiln_aot_symbols[];
extern const int64_t kiln_aot_symbol_count;
extern const char kiln_aot_bundle[];
extern const int64_t kiln_aot_bundle_size;
}

namespace kiln::runtime {

class LinkedKernelLibrary : public KernelLibrary {
 public:
  LinkedKernelLibrary(const KilnSymbol* symbols, int64_t count);
  absl::StatusOr<KilnEntryFn> Resolve(const std::string& symbol) override;

 private:
  std::unordered_map<std::string, void*> addresses_;
};

// The bundle bytes linked into this binary.
inline std::string_view LinkedBundle() {
  return std::string_view(kiln_aot_bundle, static_cast<size_t>(kiln_aot_bundle_size));
}

}  // namespace kiln::runtime

#endif  // KILN_AOT_LINKED_KERNELS_H_
