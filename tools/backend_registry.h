// The backends `--device` selects from: the one place tools/ knows which code generators exist.
// Adding a backend is one line in backend_registry.cc (and its folder under codegen/).
#ifndef KILN_TOOLS_BACKEND_REGISTRY_H_
#define KILN_TOOLS_BACKEND_REGISTRY_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "codegen/backend.h"

namespace kiln::tools {

// Every backend, the CPU first. A backend this build lacks (CUDA without the toolkit) is listed
// too, so selecting it says why it cannot run rather than that it does not exist.
const std::vector<const codegen::Backend*>& Backends();

// The backend named `name` (the --device value), whether or not it can run here; null when none
// is. For what does not need the device: how it fuses a model (`kiln compile --emit=fusion`).
const codegen::Backend* BackendNamed(const std::string& name);

// The backend named `name` (the --device value), available on this machine; otherwise a
// one-line error ("--device must be one of cpu, cuda, got 'tpu'", "--device cuda: no CUDA device
// found (...)").
absl::StatusOr<const codegen::Backend*> FindBackend(const std::string& name);

// The backend that writes `--emit=format`, or null.
const codegen::Backend* BackendEmitting(const std::string& format);

}  // namespace kiln::tools

#endif  // KILN_TOOLS_BACKEND_REGISTRY_H_
