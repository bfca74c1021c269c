#include "passes/pass_registry.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "passes/autodiff.h"
#include "passes/common_subexpression_elimination.h"
#include "passes/constant_folding.h"
#include "passes/convolve_input_gradients.h"
#include "passes/data_parallel.h"
#include "passes/dead_code_elimination.h"
#include "passes/expand_composites.h"
#include "passes/factor_sums.h"
#include "passes/plan_memory.h"
#include "passes/split_sums.h"
#include "passes/training_step.h"
#include "support/status.h"

namespace kiln::passes {
namespace {

// autodiff on a standalone graph: gradients of `loss` become outputs "grad.<parameter>".
absl::StatusOr<bool> AppendLossGradientOutputs(ir::Graph& graph) {
  const ir::NodeId loss = graph.Output(kLossOutput);
  if (loss == ir::kNoNode) {
    return absl::InvalidArgumentError(absl::StrCat("graph '", graph.name, "' has no output named `",
                                                   kLossOutput, "` to differentiate"));
  }
  const std::vector<ir::NodeId> params = TrainableParameters(graph);
  KILN_ASSIGN_OR_RETURN(std::vector<ir::NodeId> grads, AppendGradients(graph, loss, params));
  for (size_t i = 0; i < params.size(); ++i) {
    graph.outputs.emplace_back(absl::StrCat("grad.", graph.node(params[i]).name), grads[i]);
  }
  return !params.empty();
}

void AppendReport(std::string* reports, absl::string_view pass, const std::string& report) {
  if (reports != nullptr) absl::StrAppend(reports, "// ", pass, "\n", report);
}

GraphPass MakeConvolveInputGradients(const PassContext&) { return ConvolveInputGradients; }
GraphPass MakeFactorSums(const PassContext&) { return FactorSums; }
GraphPass MakeSplitSums(const PassContext&) { return SplitSums; }
GraphPass MakeFoldConstants(const PassContext&) { return FoldConstants; }
GraphPass MakeCse(const PassContext&) { return EliminateCommonSubexpressions; }
GraphPass MakeDce(const PassContext&) { return EliminateDeadCode; }
GraphPass MakeSimplify(const PassContext&) {
  return [](ir::Graph& graph) { return Simplify(graph); };
}
GraphPass MakeExpandComposites(const PassContext&) {
  return [](ir::Graph& graph) { return ExpandComposites(graph, /*training=*/true); };
}
GraphPass MakeExpandCompositesEval(const PassContext&) {
  return [](ir::Graph& graph) { return ExpandComposites(graph, /*training=*/false); };
}
GraphPass MakeAutodiff(const PassContext&) { return AppendLossGradientOutputs; }
GraphPass MakeDataParallel(const PassContext&) {
  return [](ir::Graph& graph) { return AllReduceGradientOutputs(graph); };
}
GraphPass MakeTrainingStep(const PassContext& context) {
  return [train = context.train](ir::Graph& graph) -> absl::StatusOr<bool> {
    KILN_ASSIGN_OR_RETURN(graph, BuildTrainingStep(graph, train));
    return true;
  };
}
GraphPass MakeFuse(const PassContext& context) {
  return [context](ir::Graph& graph) -> absl::StatusOr<bool> {
    KILN_ASSIGN_OR_RETURN(std::vector<ir::Kernel> kernels, FuseKernels(graph, context.fusion));
    AppendReport(context.reports, "fuse", DescribeKernels(graph, kernels));
    return false;
  };
}
GraphPass MakePlanMemory(const PassContext& context) {
  return [context](ir::Graph& graph) -> absl::StatusOr<bool> {
    KILN_ASSIGN_OR_RETURN(std::vector<ir::Kernel> kernels, FuseKernels(graph, context.fusion));
    KILN_ASSIGN_OR_RETURN(ir::BufferAssignment plan, PlanMemory(graph, kernels));
    AppendReport(context.reports, "plan-memory", DescribeMemoryPlan(plan));
    return false;
  };
}

constexpr RegisteredPass kPasses[] = {
    {"expand-composites", "replace composite ops by primitives, training form (dropout on)",
     MakeExpandComposites},
    {"expand-composites-eval", "replace composite ops by primitives, evaluation form",
     MakeExpandCompositesEval},
    {"autodiff", "add output grad.<param> = d loss / d param for each trainable parameter",
     MakeAutodiff},
    {"data-parallel", "average the grad.<param> outputs over ranks in ~25 MB all_reduce buckets",
     MakeDataParallel},
    {"training-step", "build the SGD training step of a graph with a `loss` output",
     MakeTrainingStep},
    {"convolve-input-gradients",
     "compute a stride-1 convolution's input gradient as a convolution, not a patch sum",
     MakeConvolveInputGradients},
    {"factor-sums", "take factors constant along a sum's dims out of the sum (Σ(x*s) -> Σx * s)",
     MakeFactorSums},
    {"split-sums", "sum a long leading (batch) dim in 16 slices, then the slices", MakeSplitSums},
    {"fold-constants", "fold constant elementwise ops and exact algebraic identities",
     MakeFoldConstants},
    {"cse", "merge nodes computing the same value", MakeCse},
    {"dce", "drop nodes no output or update needs", MakeDce},
    {"simplify",
     "convolve-input-gradients, factor-sums, fold-constants, cse, dce until nothing changes",
     MakeSimplify},
    {"fuse", "report the kernels fusion makes (graph unchanged)", MakeFuse},
    {"plan-memory", "report the buffer plan of the fused kernels (graph unchanged)",
     MakePlanMemory},
};

std::vector<std::string> PassNames() {
  std::vector<std::string> names;
  for (const RegisteredPass& pass : kPasses) names.emplace_back(pass.name);
  return names;
}

}  // namespace

std::span<const RegisteredPass> RegisteredPasses() { return kPasses; }

const RegisteredPass* FindRegisteredPass(absl::string_view name) {
  const auto* it = std::find_if(std::begin(kPasses), std::end(kPasses),
                                [&](const RegisteredPass& pass) { return pass.name == name; });
  return it == std::end(kPasses) ? nullptr : it;
}

absl::Status AddRegisteredPass(PassPipeline& pipeline, absl::string_view name,
                               const PassContext& context) {
  const RegisteredPass* pass = FindRegisteredPass(name);
  if (pass == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown pass '", name, "'; known passes: ", absl::StrJoin(PassNames(), ", ")));
  }
  pipeline.Add(std::string(pass->name), pass->make(context));
  return absl::OkStatus();
}

std::string DescribeRegisteredPasses() {
  std::string text;
  for (const RegisteredPass& pass : kPasses) {
    absl::StrAppendFormat(&text, "  %-24s%s\n", pass.name, pass.description);
  }
  return text;
}

}  // namespace kiln::passes
