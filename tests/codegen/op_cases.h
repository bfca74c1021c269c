// The op cases every per-op numeric test runs: for each registered op, small operand shapes,
// attributes and value domains (ggml's test-backend-ops idea). The finite-difference gradient
// check (tests/codegen/cpu) and the CPU-vs-CUDA comparison (tests/codegen/cuda) both draw from
// this one table, so a case added for a new op is checked on every backend.
#ifndef KILN_TESTS_CODEGEN_OP_CASES_H_
#define KILN_TESTS_CODEGEN_OP_CASES_H_

#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "ir/graph.h"

namespace kiln::op_cases {

using ir::Attrs;
using ir::Shape;

// How an operand's values are drawn, and whether it is differentiated.
enum class Domain {
  kAny,        // Parameter, uniform in [-1.5, 1.5].
  kPositive,   // Parameter, uniform in [0.5, 2].
  kNonZero,    // Parameter, |x| in [0.5, 1.5] with a random sign.
  kGrid,       // Parameter, odd multiples of 0.1 in [-0.9, 0.9]: never within 0.1 of 0 or kGridHalf.
  kGridHalf,   // Parameter, multiples of 0.2 in [-1, 1]: at least 0.1 from every kGrid value.
  kDistinct,   // Parameter, a shuffle of distinct values 0.1 apart (no ties for a max).
  kWide,       // Parameter, uniform in [-6, 6].
  kProbability,  // Parameter, uniform in [0.1, 0.9] (binary cross-entropy's input).
  kMask,       // Input, fixed 0/1 values (select's condition).
  kLabels,     // Input, i64 class indices in [0, shape.back() of operand 0).
  kState,          // State, uniform in [-1.5, 1.5]: batch norm's running mean.
  kStatePositive,  // State, uniform in [0.5, 2]: batch norm's running variance.
};

struct Operand {
  Shape shape;
  Domain domain = Domain::kAny;
};

struct GradCase {
  std::string op;
  std::string label;
  std::vector<Operand> operands;
  Attrs attrs;
  // Ops that stop gradients: the analytic gradient must be exactly zero. The difference quotient
  // is not compared (stop_gradient is the identity going forward).
  bool expect_zero = false;
  // The op gives an i64 result: cast it to f32 before weighting.
  bool cast_result = false;
  // Expand composites in training mode (batch norm's batch statistics). The in-place updates of
  // persistent state that the expansion appends run with every evaluation of the loss, which
  // does not read them.
  bool training = false;
};

inline bool IsParameter(Domain d) {
  return d != Domain::kMask && d != Domain::kLabels && d != Domain::kState &&
         d != Domain::kStatePositive;
}

// Every case, grouped by op name.
std::map<std::string, std::vector<GradCase>> CasesByOp();
// Ops with no case, and why (they have no f32 operand to differentiate).
const std::map<std::string, std::string>& ExemptOps();

// Values for one operand; kLabels draws class indices below scores_shape.back().
std::vector<double> Draw(const Operand& operand, const Shape& scores_shape, std::mt19937& rng);

// A case as a graph: parameters "p<i>" (differentiable operands), state "s<i>", inputs "in<i>",
// weights "w";
// outputs "loss" = sum(op(...) * w), "grad_<i>" = d loss / d p<i> (composites expanded for
// evaluation) and, when asked, "y" = the op's own result.
struct CaseGraph {
  ir::Graph graph;
  std::vector<std::string> params;
  std::vector<std::vector<double>> param_values;      // Of each entry of `params`.
  std::vector<std::pair<std::string, std::vector<double>>> feeds;  // Everything to set.
};
absl::StatusOr<CaseGraph> BuildCaseGraph(const GradCase& c, uint32_t seed, bool output_y = false);

}  // namespace kiln::op_cases

#endif  // KILN_TESTS_CODEGEN_OP_CASES_H_
