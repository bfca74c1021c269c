// A KernelLibrary backed by a table of hand-written C functions, standing in for the JIT.
#ifndef KILN_TESTS_RUNTIME_FAKE_KERNEL_LIBRARY_H_
#define KILN_TESTS_RUNTIME_FAKE_KERNEL_LIBRARY_H_

#include <map>
#include <string>

#include "absl/status/status.h"
#include "runtime/kernel_library.h"

namespace kiln::runtime::testing {

class FakeKernelLibrary : public KernelLibrary {
 public:
  void Add(const std::string& symbol, KilnEntryFn fn) { functions_[symbol] = fn; }

  absl::StatusOr<KilnEntryFn> Resolve(const std::string& symbol) override {
    ++resolve_calls_;
    auto it = functions_.find(symbol);
    if (it == functions_.end()) {
      return absl::NotFoundError("symbol '" + symbol + "' is not in the library");
    }
    return it->second;
  }

  int resolve_calls() const { return resolve_calls_; }

 private:
  std::map<std::string, KilnEntryFn> functions_;
  int resolve_calls_ = 0;
};

}  // namespace kiln::runtime::testing

#endif  // KILN_TESTS_RUNTIME_FAKE_KERNEL_LIBRARY_H_
