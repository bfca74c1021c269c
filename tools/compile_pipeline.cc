#include "tools/compile_pipeline.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "frontend/frontend.h"
#include "ir/op_registry.h"
#include "ir/printer.h"
#include "passes/fuse_kernels.h"
#include "passes/pass_pipeline.h"
#include "passes/plan_memory.h"
#include "passes/training_step.h"
#include "support/status.h"

namespace kiln::tools {
std::vector<runtime::PersistentSpec> PersistentTensors(const ir::Graph& graph) {
  std::vector<runtime::PersistentSpec> tensors;
  for (const ir::Node& node : graph.nodes()) {
    if (!ir::OpOf(node).Has(ir::kPersistent)) continue;
    runtime::PersistentSpec spec;
    spec.name = node.name;
    spec.type = node.type.dtype == ir::DType::kI64 ? runtime::ElementType::kI64
                                                   : runtime::ElementType::kF32;
    spec.shape = node.type.shape;
    spec.trainable = ir::OpOf(node).Has(ir::kTrainable);
    std::string init = node.attrs.GetString("init", "constant");
    if (init == "uniform") {
      spec.init = {runtime::InitSpec::Kind::kUniform, node.attrs.GetFloat("low"),
                   node.attrs.GetFloat("high")};
    } else if (init == "normal") {
      spec.init = {runtime::InitSpec::Kind::kNormal, node.attrs.GetFloat("mean"),
                   node.attrs.GetFloat("std")};
    } else {
      spec.init = {runtime::InitSpec::Kind::kConstant, node.attrs.GetFloat("value"), 0.0};
    }
    tensors.push_back(std::move(spec));
  }
  return tensors;
}

std::string EntrySymbol(const std::string& model, const EntryRequest& request) {
  return absl::StrCat(model, request.training ? "_train_b" : "_eval_b", request.batch_size);
}

absl::StatusOr<ir::KernelProgram> CompileEntryProgram(const frontend::ModelAst& ast,
                                                      const ir::TrainConfig& train,
                                                      const EntryRequest& request,
                                                      const CompileOptions& options) {
  KILN_ASSIGN_OR_RETURN(
      ir::Graph model,
      frontend::LowerModel(ast, {{frontend::BatchDimName(ast), request.batch_size}}));
  ir::Graph step;
  if (request.training) {
    KILN_ASSIGN_OR_RETURN(step, passes::BuildTrainingStep(model, train));
  } else {
    KILN_ASSIGN_OR_RETURN(step, passes::BuildEvalStep(model, options.capture));
  }
  return LowerToKernels(std::move(step), options);
}

absl::StatusOr<std::optional<int64_t>> ModelClassCount(const frontend::ModelAst& ast,
                                                       const ir::TrainConfig& train) {
  const std::vector<std::string> inputs = frontend::InputNames(ast);
  if (inputs.size() < 2) return std::nullopt;
  KILN_ASSIGN_OR_RETURN(
      ir::Graph model,
      frontend::LowerModel(ast, {{frontend::BatchDimName(ast), train.batch_size}}));
  return passes::ClassCount(model, inputs[1]);
}

absl::StatusOr<std::string> ModelFingerprint(const frontend::ModelAst& ast) {
  // Batch 1: the batch size is a setting of its own, with its own message.
  KILN_ASSIGN_OR_RETURN(ir::Graph model,
                        frontend::LowerModel(ast, {{frontend::BatchDimName(ast), 1}}));
  // Locations move when comments or the train section change; the model does not.
  for (ir::NodeId id = 0; id < model.size(); ++id) model.mutable_node(id).loc = SourceLoc();
  // FNV-1a, 64 bits: stable across runs and builds (std::hash and absl::Hash are not).
  uint64_t hash = 0xcbf29ce484222325ull;
  for (unsigned char c : ir::PrintGraph(model)) hash = (hash ^ c) * 0x100000001b3ull;
  return absl::StrFormat("fnv1a:%016x", hash);
}

absl::StatusOr<ir::KernelProgram> LowerToKernels(ir::Graph graph, const CompileOptions& options) {
  ir::KernelProgram program;
  program.graph = std::move(graph);
  passes::SimplifyOptions simplify{.disabled = options.disabled_passes,
                                   .dump = options.dump_passes};
  KILN_RETURN_IF_ERROR(passes::Simplify(program.graph, simplify).status());
  KILN_ASSIGN_OR_RETURN(program.kernels, passes::FuseKernels(program.graph, options.fusion));
  KILN_ASSIGN_OR_RETURN(program.memory, passes::PlanMemory(program.graph, program.kernels));
  return program;
}

absl::StatusOr<CompiledModel> CompileModel(const frontend::ModelAst& ast,
                                           const ir::TrainConfig& train,
                                           const CompileOptions& options) {
  CompiledModel compiled;
  compiled.name = ast.model.name;
  compiled.train = train;
  std::vector<std::string> inputs = frontend::InputNames(ast);
  if (inputs.size() >= 1) compiled.features_input = inputs[0];
  if (inputs.size() >= 2) compiled.labels_input = inputs[1];

  for (const EntryRequest& request : options.entries) {
    KILN_ASSIGN_OR_RETURN(ir::KernelProgram program,
                          CompileEntryProgram(ast, train, request, options));
    // Parameters and optimizer state as the training step declares them (a superset of what
    // evaluation reads).
    if (request.training && compiled.persistent.empty()) {
      compiled.persistent = PersistentTensors(program.graph);
    }
    compiled.entries.push_back(
        {request, EntrySymbol(compiled.name, request), std::move(program)});
  }
  if (compiled.persistent.empty() && !compiled.entries.empty()) {
    compiled.persistent = PersistentTensors(compiled.entries[0].program.graph);
  }
  return compiled;
}

}  // namespace kiln::tools
