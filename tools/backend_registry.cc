#include "tools/backend_registry.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "codegen/cpu/cpu_backend.h"
#include "support/status.h"

#ifdef KILN_HAVE_CUDA
#include "codegen/cuda/cuda_backend.h"
#endif

namespace kiln::tools {
namespace {

// A backend left out of this build: every use is the one-line reason.
class MissingBackend : public codegen::Backend {
 public:
  MissingBackend(std::string name, std::string reason)
      : name_(std::move(name)), reason_(std::move(reason)) {}
  std::string_view name() const override { return name_; }
  absl::Status CheckAvailable() const override {
    return absl::FailedPreconditionError(absl::StrCat("--device ", name_, ": ", reason_));
  }
  std::vector<codegen::EmitFormat> emit_formats() const override { return {}; }
  absl::StatusOr<std::string> Emit(const codegen::CompiledModel&, std::string_view,
                                   const codegen::EmitOptions&) const override {
    return CheckAvailable();
  }
  absl::StatusOr<std::unique_ptr<codegen::LoadedModel>> Load(
      const codegen::CompiledModel&, const codegen::LoadOptions&) const override {
    return CheckAvailable();
  }

 private:
  std::string name_;
  std::string reason_;
};

}  // namespace

const std::vector<const codegen::Backend*>& Backends() {
  static const auto* backends = new std::vector<const codegen::Backend*>{
      new cpu::CpuBackend(),
#ifdef KILN_HAVE_CUDA
      new cuda::CudaBackend(),
#else
      new MissingBackend("cuda",
                         "no CUDA device found (kiln was built without the CUDA toolkit)"),
#endif
  };
  return *backends;
}

const codegen::Backend* BackendNamed(const std::string& name) {
  for (const codegen::Backend* backend : Backends()) {
    if (backend->name() == name) return backend;
  }
  return nullptr;
}

absl::StatusOr<const codegen::Backend*> FindBackend(const std::string& name) {
  if (const codegen::Backend* backend = BackendNamed(name)) {
    KILN_RETURN_IF_ERROR(backend->CheckAvailable());
    return backend;
  }
  std::vector<std::string> names;
  for (const codegen::Backend* backend : Backends()) names.emplace_back(backend->name());
  return absl::InvalidArgumentError(
      absl::StrCat("--device must be one of ", absl::StrJoin(names, ", "), ", got '", name, "'"));
}

const codegen::Backend* BackendEmitting(const std::string& format) {
  for (const codegen::Backend* backend : Backends()) {
    for (const codegen::EmitFormat& emit : backend->emit_formats()) {
      if (emit.name == format) return backend;
    }
  }
  return nullptr;
}

}  // namespace kiln::tools
