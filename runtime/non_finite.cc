#include "runtime/non_finite.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "support/status.h"

namespace kiln::runtime {
namespace {

// The first non-finite element of buffer `index` of `entry`, described as coming from `source`.
std::optional<NonFiniteValue> CheckBuffer(const Entry& entry, int index, void** slots,
                                          const std::string& source) {
  const BufferSpec& buffer = entry.spec().buffers[index];
  if (buffer.type != ElementType::kF32) return std::nullopt;
  const float* data = static_cast<const float*>(slots[index]);
  const int64_t at = FirstNonFinite(data, NumElements(buffer.shape));
  if (at < 0) return std::nullopt;
  return NonFiniteValue{source, buffer.name, at, data[at]};
}

// Inputs come from the data set; persistent tensors from earlier steps (or a weights file).
std::optional<NonFiniteValue> CheckLeaves(Entry& entry) {
  const std::vector<BufferSpec>& buffers = entry.spec().buffers;
  for (int i = 0; i < static_cast<int>(buffers.size()); ++i) {
    const BufferRole role = buffers[i].role;
    if (role != BufferRole::kInput && role != BufferRole::kPersistent) continue;
    const char* what = role == BufferRole::kInput ? "input" : "parameter or state";
    std::string source = absl::StrCat("read from ", what, " '", buffers[i].name, "'");
    if (auto found = CheckBuffer(entry, i, entry.slots(), source)) return found;
  }
  return std::nullopt;
}

}  // namespace

std::string NonFiniteName(double value) {
  if (std::isnan(value)) return "nan";
  return value > 0 ? "inf" : "-inf";
}

int64_t FirstNonFinite(const float* data, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    if (!std::isfinite(data[i])) return i;
  }
  return -1;
}

absl::StatusOr<std::optional<NonFiniteValue>> RunCheckingValues(Entry& entry,
                                                                const KilnParallel* parallel) {
  if (auto found = CheckLeaves(entry)) return found;
  std::optional<NonFiniteValue> found;
  KILN_RETURN_IF_ERROR(entry.RunKernels(parallel, [&](int k) {
    const KernelSpec& kernel = entry.spec().kernels[k];
    for (int buffer : kernel.outputs) {
      found = CheckBuffer(entry, buffer, entry.slots(), absl::StrCat("produced by ", kernel.origin));
      if (found) return false;
    }
    return true;
  }));
  return found;
}

const Tensor* FirstNonFiniteParameter(const Executable& executable) {
  const std::vector<PersistentSpec>& specs = executable.program().persistent;
  for (size_t i = 0; i < specs.size(); ++i) {
    const Tensor& tensor = executable.persistent()[i];
    if (!specs[i].trainable || tensor.type() != ElementType::kF32) continue;
    if (FirstNonFinite(tensor.f32(), tensor.num_elements()) >= 0) return &tensor;
  }
  return nullptr;
}

}  // namespace kiln::runtime
