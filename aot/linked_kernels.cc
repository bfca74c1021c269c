#include "aot/linked_kernels.h"

#include "absl/strings/str_cat.h"

namespace kiln::runtime {

LinkedKernelLibrary::LinkedKernelLibrary(const KilnSymbol* symbols, int64_t count) {
  for (int64_t i = 0; i < count; ++i) addresses_[symbols[i].name] = symbols[i].address;
}

absl::StatusOr<KilnEntryFn> LinkedKernelLibrary::Resolve(const std::string& symbol) {
  auto it = addresses_.find(symbol);
  if (it == addresses_.end()) {
    return absl::NotFoundError(
        absl::StrCat("generated function '", symbol, "' is not linked into this program"));
  }
  return reinterpret_cast<KilnEntryFn>(it->second);
}

}  // namespace kiln::runtime
