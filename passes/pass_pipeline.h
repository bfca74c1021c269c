// PassPipeline runs graph passes in order, verifying the graph after each one and optionally
// dumping it, so a broken invariant is blamed on the pass that broke it.
//
//   PassPipeline pipeline("optimize");
//   pipeline.Add("fold-constants", FoldConstants);
//   pipeline.Add("cse", EliminateCommonSubexpressions);
//   pipeline.Add("dce", EliminateDeadCode);
//   pipeline.Disable("cse");          // e.g. from a --disable-pass flag
//   pipeline.set_dump(&std::cerr);    // "// after cse" + the printed graph
//   KILN_RETURN_IF_ERROR(pipeline.Run(graph));
//
// Passes are named from one table, passes/pass_registry.h; Simplify (convolve-input-gradients,
// fold-constants, cse, dce to a fixed point) is the pipeline `kiln compile` runs and
// `kiln opt --passes=simplify` names.
#ifndef KILN_PASSES_PASS_PIPELINE_H_
#define KILN_PASSES_PASS_PIPELINE_H_

#include <functional>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "ir/graph.h"

namespace kiln::passes {

// A pass rewrites the graph and says whether it changed anything.
using GraphPass = std::function<absl::StatusOr<bool>(ir::Graph&)>;

class PassPipeline {
 public:
  explicit PassPipeline(std::string name = "pipeline") : name_(std::move(name)) {}

  void Add(std::string name, GraphPass pass);
  // Skips the named pass. Run fails if the name matches no pass, so a typo is not silently
  // ignored.
  void Disable(const std::string& name);
  // Where to print "// after <pass>" and the graph after every pass; null turns dumping off.
  void set_dump(std::ostream* out) { dump_ = out; }
  // Whether to run VerifyGraph on the input and after every pass (on by default).
  void set_verify(bool verify) { verify_ = verify; }

  // Runs the enabled passes in order. Errors name the pass that failed or left an invalid graph.
  absl::Status Run(ir::Graph& graph) const;
  // Runs the pipeline again and again until a whole round changes nothing, at most `max_rounds`
  // times. Returns whether any round changed the graph.
  absl::StatusOr<bool> RunToFixedPoint(ir::Graph& graph, int max_rounds) const;

  std::vector<std::string> pass_names() const;

 private:
  struct NamedPass {
    std::string name;
    GraphPass run;
  };

  absl::Status CheckDisabledNamesExist() const;
  // One round: whether any pass reported a change.
  absl::StatusOr<bool> RunOnce(ir::Graph& graph) const;
  absl::Status Verify(const ir::Graph& graph, const std::string& when) const;

  std::string name_;
  std::vector<NamedPass> passes_;
  std::set<std::string> disabled_;
  std::ostream* dump_ = nullptr;
  bool verify_ = true;
};

struct SimplifyOptions {
  std::set<std::string> disabled;  // Pass names to skip, e.g. "cse" (an unknown one is an error).
  std::ostream* dump = nullptr;    // Where to print the graph after every pass.
  // Each round only shrinks or folds the graph, so a handful suffices in practice.
  int max_rounds = 8;
};

// THE simplification pipeline ("simplify"): convolution input gradients as convolutions,
// constant folding, CSE and DCE, in that order, run as a PassPipeline (verified after every pass)
// until a round changes nothing. CSE exposes folds (x*1 once two constants merge) and DCE cleans
// up after all of them (the patch gradients the first pass leaves unused). Returns whether
// anything changed.
absl::StatusOr<bool> Simplify(ir::Graph& graph, const SimplifyOptions& options = {});

}  // namespace kiln::passes

#endif  // KILN_PASSES_PASS_PIPELINE_H_
