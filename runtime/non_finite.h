// Finds where a step's first NaN or infinity comes from. kiln stops a run whose loss or
// parameters stop being finite; to say why, the trainer replays the step on a build of the
// program with one op per kernel (tools: CompileOptions::fusion) and checks, kernel by kernel,
// what each writes:
//
//   KILN_ASSIGN_OR_RETURN(std::optional<NonFiniteValue> first, RunCheckingValues(entry, parallel));
//   if (first) ... first->source  // "produced by 'log' (h, model.kiln:5:9) in the forward pass"
#ifndef KILN_RUNTIME_NON_FINITE_H_
#define KILN_RUNTIME_NON_FINITE_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "runtime/executable.h"
#include "runtime/kernel_abi.h"

namespace kiln::runtime {

struct NonFiniteValue {
  // Where it came from: "produced by " and a kernel's origin (KernelSpec::origin), "read from
  // input 'x'" (the data) or "read from parameter or state 'fc1.weight'" (a persistent tensor
  // that was already non-finite, e.g. loaded so).
  std::string source;
  std::string buffer;  // The buffer holding it.
  int64_t index = 0;   // Its element.
  float value = 0.0f;
};

// "nan", "inf" or "-inf".
std::string NonFiniteName(double value);

// The index of the first NaN or infinity among data[0..n), or -1.
int64_t FirstNonFinite(const float* data, int64_t n);

// Checks the entry's f32 inputs and persistent tensors, then runs it kernel by kernel
// (Entry::RunKernels), checking the f32 buffers each kernel writes; stops at the first NaN or
// infinity. nullopt: the whole step stayed finite.
absl::StatusOr<std::optional<NonFiniteValue>> RunCheckingValues(Entry& entry,
                                                                const KilnParallel* parallel);

// The first trainable parameter of `executable` that holds a NaN or infinity, or nullptr.
// Optimizer state may overflow harmlessly (Adam's squared-gradient average reaching inf only
// stops the update), so only parameters are judged.
const Tensor* FirstNonFiniteParameter(const Executable& executable);

}  // namespace kiln::runtime

#endif  // KILN_RUNTIME_NON_FINITE_H_
