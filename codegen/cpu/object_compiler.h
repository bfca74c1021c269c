// Compiles a model for a CPU into object files, fast: the model split into one module per
// distinct kernel (split_model.h), each looked up in the persistent code cache (code_cache.h)
// and, when missing, optimized (O3) and compiled on a thread of its own. The result does not
// depend on the number of threads or on what the cache held: each module compiles alone, with
// the same settings, to the same bytes.
//
//   KILN_ASSIGN_OR_RETURN(CpuObjects code, CompileObjects(model, {.cpu = "native"}));
//   for (const std::string& object : code.objects) KILN_RETURN_IF_ERROR(jit.AddObject(object));
#ifndef KILN_CODEGEN_CPU_OBJECT_COMPILER_H_
#define KILN_CODEGEN_CPU_OBJECT_COMPILER_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "codegen/backend.h"
#include "codegen/cpu/code_cache.h"
#include "llvm/IR/Module.h"
#include "llvm/Target/TargetMachine.h"
#include "runtime/program.h"

namespace kiln::cpu {

struct ObjectOptions {
  std::string cpu = "native";      // As CreateTargetMachine takes it.
  std::optional<CodeCache> cache;  // None: compile everything, store nothing.
  int threads = 0;                 // Compiler threads; 0: one per core.
  // Called on the entry module before it is compiled, with the program's buffer tables
  // (kiln build adds the AOT symbol table and bundle here).
  std::function<void(const runtime::ProgramSpec&, llvm::Module&)> finish_entries;
};

// Where the time went, for `kiln compile --verbose` and the compile-time table in the README.
struct CompileStats {
  int kernels = 0;             // In all entries.
  int modules = 0;             // Compiled or loaded: the entry module plus each distinct kernel.
  int cached = 0;              // Of `modules`, found in the cache.
  double emit_seconds = 0;     // Kernel IR -> LLVM IR, de-duplication, cache keys and lookups.
  double compile_seconds = 0;  // O3 + code generation of the modules the cache lacked (wall).
};

struct CpuObjects {
  std::unique_ptr<llvm::TargetMachine> target;  // The target the objects were compiled for.
  runtime::ProgramSpec spec;
  std::vector<std::string> objects;  // ELF relocatable objects: the entry module's first.
  CompileStats stats;
};

absl::StatusOr<CpuObjects> CompileObjects(const codegen::CompiledModel& model,
                                          const ObjectOptions& options);

// One relocatable object holding every object of `objects` (LLD's `ld -r`), for --emit=obj and
// kiln build.
absl::StatusOr<std::string> MergeObjects(const std::vector<std::string>& objects);

}  // namespace kiln::cpu

#endif  // KILN_CODEGEN_CPU_OBJECT_COMPILER_H_
