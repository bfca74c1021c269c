// The object file `kiln build` links into a program or library: every entry point of a model
// compiled for one CPU, plus the two tables the runtime finds them by (runtime/kernel_abi.h):
// the generated functions by name, and the model bundle (runtime/model_bundle.h) as data.
#ifndef KILN_CODEGEN_CPU_AOT_OBJECT_H_
#define KILN_CODEGEN_CPU_AOT_OBJECT_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "codegen/backend.h"
#include "llvm/IR/Module.h"
#include "runtime/model_bundle.h"

namespace kiln::cpu {

struct AotObject {
  std::string object;           // ELF relocatable object bytes.
  runtime::ModelBundle bundle;  // What it embeds (program, recipe, target).
};

// Compiles `model` for `cpu` ("native", "x86-64-v3", an LLVM CPU name) and embeds `bundle`
// with its program and target fields filled in; through the code cache when `use_cache`.
absl::StatusOr<AotObject> EmitAotObject(const codegen::CompiledModel& model,
                                        const std::string& cpu, runtime::ModelBundle bundle,
                                        bool use_cache = true);

// Adds the KILN_AOT_* tables to `module`: every function it defines (the entry points and the
// kernel wrappers the runtime resolves), and `bundle` as bytes.
void AddAotTables(llvm::Module& module, std::string_view bundle);

}  // namespace kiln::cpu

#endif  // KILN_CODEGEN_CPU_AOT_OBJECT_H_
