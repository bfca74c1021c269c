// The one table of named graph passes. `kiln opt --passes=a,b,c` and the compile pipeline's
// Simplify both take their passes from it by name, so a pass is named, described and built in
// one place.
//
//   PassPipeline pipeline("opt");
//   std::string reports;
//   PassContext context{.reports = &reports};
//   KILN_RETURN_IF_ERROR(AddRegisteredPass(pipeline, "cse", context));
//   KILN_RETURN_IF_ERROR(pipeline.Run(graph));
//
// What the passes that need more than a graph do with a standalone graph (an IR text file):
//   autodiff           differentiates the scalar output named `loss` with respect to every
//                      trainable, unfrozen parameter and adds one output `grad.<parameter name>`
//                      per parameter (a zero constant where the loss does not depend on it).
//                      Composite ops must be expanded first (expand-composites).
//   training-step      BuildTrainingStep with PassContext::train (default: plain SGD, the
//                      learning rate a runtime input): expansion, backward, optimizer updates.
//   expand-composites  the training form (dropout active); expand-composites-eval the
//                      evaluation form.
//   fuse, plan-memory  analyses: they leave the graph unchanged and append their report
//                      (DescribeKernels; DescribeMemoryPlan of the kernels FuseKernels makes
//                      with the same options) to PassContext::reports, after a line
//                      "// fuse" or "// plan-memory".
#ifndef KILN_PASSES_PASS_REGISTRY_H_
#define KILN_PASSES_PASS_REGISTRY_H_

#include <span>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "ir/train_config.h"
#include "passes/fuse_kernels.h"
#include "passes/pass_pipeline.h"

namespace kiln::passes {

// What a registered pass may need besides the graph. Copied into the pass when it is built.
struct PassContext {
  ir::TrainConfig train;           // training-step.
  FusionOptions fusion;            // fuse, plan-memory.
  std::string* reports = nullptr;  // Where analyses append their reports; null drops them.
};

struct RegisteredPass {
  absl::string_view name;
  absl::string_view description;  // One line, for `kiln opt --list-passes`.
  GraphPass (*make)(const PassContext& context);
};

// The passes Simplify runs, in order, each round.
inline constexpr const char* kSimplifyPasses[] = {
    "convolve-input-gradients", "factor-sums", "split-sums", "fold-constants", "cse", "dce"};

// Every registered pass, in the order the compiler runs them.
std::span<const RegisteredPass> RegisteredPasses();

// Null when no pass has that name.
const RegisteredPass* FindRegisteredPass(absl::string_view name);

// Adds the named pass to `pipeline` under its registered name. An unknown name is an error that
// lists the known ones.
absl::Status AddRegisteredPass(PassPipeline& pipeline, absl::string_view name,
                               const PassContext& context = {});

// "  name  description" lines, one per pass.
std::string DescribeRegisteredPasses();

}  // namespace kiln::passes

#endif  // KILN_PASSES_PASS_REGISTRY_H_
