#include "passes/pass_pipeline.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "ir/printer.h"
#include "ir/verifier.h"
#include "passes/pass_registry.h"
#include "support/source_location.h"
#include "support/status.h"

namespace kiln::passes {

void PassPipeline::Add(std::string name, GraphPass pass) {
  passes_.push_back(NamedPass{std::move(name), std::move(pass)});
}

void PassPipeline::Disable(const std::string& name) { disabled_.insert(name); }

std::vector<std::string> PassPipeline::pass_names() const {
  std::vector<std::string> names;
  for (const NamedPass& pass : passes_) names.push_back(pass.name);
  return names;
}

absl::Status PassPipeline::CheckDisabledNamesExist() const {
  std::vector<std::string> names = pass_names();
  for (const std::string& disabled : disabled_) {
    if (std::find(names.begin(), names.end(), disabled) != names.end()) continue;
    return absl::InvalidArgumentError(absl::StrCat("pipeline '", name_,
                                                   "': cannot disable unknown pass '", disabled,
                                                   "'", DidYouMean(disabled, names)));
  }
  return absl::OkStatus();
}

absl::Status PassPipeline::Verify(const ir::Graph& graph, const std::string& when) const {
  if (!verify_) return absl::OkStatus();
  absl::Status status = ir::VerifyGraph(graph);
  if (status.ok()) return status;
  return absl::Status(status.code(), absl::StrCat("pipeline '", name_, "': invalid graph ", when,
                                                  ": ", status.message()));
}

absl::Status PassPipeline::Run(ir::Graph& graph) const { return RunOnce(graph).status(); }

absl::StatusOr<bool> PassPipeline::RunOnce(ir::Graph& graph) const {
  if (auto s = CheckDisabledNamesExist(); !s.ok()) return s;
  if (auto s = Verify(graph, "on input"); !s.ok()) return s;
  bool changed_any = false;
  for (const NamedPass& pass : passes_) {
    if (disabled_.count(pass.name)) continue;
    absl::StatusOr<bool> changed = pass.run(graph);
    if (!changed.ok()) {
      return absl::Status(changed.status().code(),
                          absl::StrCat("pipeline '", name_, "': pass '", pass.name,
                                       "' failed: ", changed.status().message()));
    }
    changed_any = *changed || changed_any;
    if (dump_ != nullptr) *dump_ << "// after " << pass.name << "\n" << ir::PrintGraph(graph);
    if (auto s = Verify(graph, absl::StrCat("after pass '", pass.name, "'")); !s.ok()) return s;
  }
  return changed_any;
}

absl::StatusOr<bool> PassPipeline::RunToFixedPoint(ir::Graph& graph, int max_rounds) const {
  bool changed_any = false;
  for (int round = 0; round < max_rounds; ++round) {
    KILN_ASSIGN_OR_RETURN(bool changed, RunOnce(graph));
    if (!changed) return changed_any;
    changed_any = true;
  }
  return changed_any;
}

absl::StatusOr<bool> Simplify(ir::Graph& graph, const SimplifyOptions& options) {
  PassPipeline pipeline("simplify");
  for (const char* name : kSimplifyPasses) KILN_RETURN_IF_ERROR(AddRegisteredPass(pipeline, name));
  for (const std::string& name : options.disabled) pipeline.Disable(name);
  pipeline.set_dump(options.dump);
  return pipeline.RunToFixedPoint(graph, options.max_rounds);
}

}  // namespace kiln::passes
