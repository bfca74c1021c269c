// The compiler's graph stages as one function of named stages:
//   model file ─parse→ AST ─lower→ forward graph ─BuildTrainingStep/BuildEvalStep→ step graphs
//   ─simplify (fold, CSE, DCE)→ ─fuse→ kernels ─plan memory→ KernelProgram per entry point
// and from there a backend (codegen/backend.h, tools/backend_registry.h) generates and loads code.
#ifndef KILN_TOOLS_COMPILE_PIPELINE_H_
#define KILN_TOOLS_COMPILE_PIPELINE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "frontend/ast.h"
#include "ir/kernel_program.h"
#include "ir/train_config.h"
#include "codegen/backend.h"
#include "passes/fuse_kernels.h"
#include "runtime/program.h"

namespace kiln::tools {

using codegen::CompiledEntry;
using codegen::CompiledModel;
using codegen::EntryRequest;

struct CompileOptions {
  std::vector<EntryRequest> entries;
  std::set<std::string> disabled_passes;  // Pass names, e.g. "cse".
  std::ostream* dump_passes = nullptr;    // IR after every pass.
  passes::FusionOptions fusion;
  // Model values every evaluation entry also outputs, as "capture:NAME" (`kiln features`).
  // Empty for every ordinary compile, whose steps are then exactly as without it.
  std::vector<std::string> capture;
};

// The graph stages after the step graph exists: simplify, fuse, plan memory.
absl::StatusOr<ir::KernelProgram> LowerToKernels(ir::Graph graph, const CompileOptions& options);

// Parameters and optimizer state of a step graph, with their initializers.
std::vector<runtime::PersistentSpec> PersistentTensors(const ir::Graph& graph);

// Graph stages only: the KernelProgram of one entry (for dumps and tests).
absl::StatusOr<ir::KernelProgram> CompileEntryProgram(const frontend::ModelAst& ast,
                                                      const ir::TrainConfig& train,
                                                      const EntryRequest& request,
                                                      const CompileOptions& options);

// The model's class count (passes::ClassCount of its labels input), for checking the data's
// labels before training; nullopt when its labels are not class indices.
absl::StatusOr<std::optional<int64_t>> ModelClassCount(const frontend::ModelAst& ast,
                                                       const ir::TrainConfig& train);

// A digest of the model's graph for batch 1 (ops, attributes, shapes, names, initializers; not
// source locations, comments or the train section), "fnv1a:0123456789abcdef": what a checkpoint
// records so a resume can tell that the model changed.
absl::StatusOr<std::string> ModelFingerprint(const frontend::ModelAst& ast);

// The graph stages for all requested entries: what every backend compiles.
absl::StatusOr<CompiledModel> CompileModel(const frontend::ModelAst& ast,
                                           const ir::TrainConfig& train,
                                           const CompileOptions& options);

// "<model>_train_b64" / "<model>_eval_b16".
std::string EntrySymbol(const std::string& model, const EntryRequest& request);

}  // namespace kiln::tools

#endif  // KILN_TOOLS_COMPILE_PIPELINE_H_
