// OpDef: everything kiln knows about one op — its shape rule, gradient, and per-element formula —
// in one record. Passes and backends read these records; they never switch on an op's name.
#ifndef KILN_IR_OP_DEF_H_
#define KILN_IR_OP_DEF_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "ir/graph.h"
#include "ir/ops/window_geometry.h"
#include "ir/scalar_builder.h"

namespace kiln::ir {

class GraphBuilder;

// Capabilities that passes ask for.
enum Trait : uint32_t {
  kLeaf = 1u << 0,         // input / parameter / state / constant: no operands, no kernel.
  kElementwise = 1u << 1,  // out[i] = f(operands[i]) with NumPy broadcasting; has emit_element.
  kReduction = 1u << 2,    // Folds `dims` of operand 0 with `reduce_kind`.
  kContraction = 1u << 3,  // matmul: lowered to a GEMM kernel.
  kIndexMap = 1u << 4,     // Output element reads one operand element (transpose, broadcast).
  kAlias = 1u << 5,        // Reinterprets the operand's buffer (reshape): no kernel, no copy.
  kComposite = 1u << 6,    // Expanded into primitive ops before autodiff (linear, log_softmax).
  kPersistent = 1u << 7,   // Leaf whose value outlives a step (parameter, optimizer state).
  kNoGradient = 1u << 8,   // Integer-valued or random: gradients stop here.
  kCheap = 1u << 9,        // About one instruction per element: fusion may recompute it freely.
  kWindow = 1u << 10,      // Output element reads operand elements at computed coordinates
                           // (im2col, slice, pad): has emit_window; operands live in memory.
  kRandom = 1u << 11,      // Different values every evaluation (random_uniform): never folded,
                           // never merged with an equal-looking node.
  kGenerator = 1u << 12,   // Computed from attrs and coordinates alone (constant, iota):
                           // inlined into every consumer instead of stored.
  kTrainable = 1u << 13,   // A parameter: gets a gradient and an optimizer update unless frozen.
  kReadsCoordinates = 1u << 14,  // An element formula that reads the element's coordinates
                                 // (iota, random_uniform), not only its operands' values.
  kCollective = 1u << 15,  // Its value depends on every rank of a data-parallel job (all_reduce):
                           // a kernel of its own, operands read from memory, never folded.
};

// What a vendor GEMM library (cuBLASLt) can apply to a matmul's result in its epilogue.
enum class LibraryEpilogue { kNone, kAdd, kRelu };

enum class ReduceKind { kSum, kMax, kMin, kArgMax };

// What emit_element sees for one output element.
struct ElementInputs {
  std::span<const kernel::Value> operands;
  std::span<const kernel::Value> coords;  // This element's coordinates (i64), outermost first.
  const Node& node;
};

// What emit_window sees for one output element: its coordinates, and a way to read operand
// elements anywhere.
struct WindowInputs {
  std::span<const kernel::Value> coords;  // This element's coordinates (i64), outermost first.
  const Node& node;
  std::span<const TensorType> operand_types;
  // Operand `operand` at `coords` (one i64 per operand dim). Where `in_bounds` (a kBool) is false
  // the result is `fill` and no memory is read, so the coordinates may be out of range there.
  std::function<kernel::Value(int operand, std::span<const kernel::Value> coords,
                              std::optional<kernel::Value> in_bounds, double fill)>
      load;
};

// Gradient rule context. The rule adds nodes through `b` and returns one entry per operand
// (nullopt where the operand gets no gradient).
struct GradContext {
  GraphBuilder& b;
  const Node& node;
  NodeId output_grad;
  NodeId operand(int i) const { return node.operands[i]; }
};

using InferTypeFn =
    std::function<absl::StatusOr<TensorType>(std::span<const TensorType> operands, const Attrs&)>;
using GradientFn = std::function<std::vector<std::optional<NodeId>>(GradContext&)>;
using EmitElementFn = std::function<kernel::Value(kernel::ScalarBuilder&, const ElementInputs&)>;
using EmitWindowFn = std::function<kernel::Value(kernel::ScalarBuilder&, const WindowInputs&)>;
// For kIndexMap ops: for each dim of the operand, the output dim it reads its coordinate from,
// or -1 where the operand dim has size 1 (coordinate 0).
using IndexMapFn = std::function<std::vector<int>(const Node& node, const TensorType& operand)>;
// For kComposite ops: builds the primitive form; returns the node replacing `node`.
using ExpandFn = std::function<NodeId(GraphBuilder&, const Node& node, bool training)>;
// For ops where op(op(x, inner attrs), outer attrs) == op(x, composed attrs) (transpose): the
// composed attrs.
using ComposeFn = std::function<Attrs(const Attrs& inner, const Attrs& outer)>;
// For kWindow ops that only move data: the output, in row-major order, as contiguous runs copied
// from operands (element offsets), so a kernel of this op alone is a few memcpys instead of a loop
// that evaluates, per element, which operand it reads. nullopt where the op's attrs and shapes do
// not reduce to a handful of runs.
struct CopyRun {
  int operand = 0;
  int64_t from = 0;   // First element read in the operand.
  int64_t to = 0;     // First element written in the output.
  int64_t count = 0;  // Elements.
};
using CopyRunsFn =
    std::function<std::optional<std::vector<CopyRun>>(const Node&, std::span<const TensorType>)>;

// For kWindow ops that read operand 0 alone, never its fill, at coordinates that split into a
// part from the output's first `lead` coordinates and a part from the rest: the element at
// (lead..., trail...) reads the operand at from_lead(lead...) + from_trail(trail...), dim by dim.
// im2col without padding splits after (n, oh, ow): the window's corner, plus the tap and channel.
// That lets a GEMM read such an op's output as a matrix straight from the operand's buffer, by
// a row offset plus a column offset (ir/windowed_operand.h), instead of storing it first.
struct SplitReads {
  std::function<std::vector<int64_t>(std::span<const int64_t> lead)> from_lead;
  std::function<std::vector<int64_t>(std::span<const int64_t> trail)> from_trail;
};
using SplitReadsFn = std::function<std::optional<SplitReads>(
    const Node&, std::span<const TensorType> operands, int lead)>;

// For kWindow ops that copy a box of their operand unchanged (slice with unit steps): the box's
// first corner, one entry per dim (its extent is the output's shape). nullopt otherwise.
using BoxStartFn = std::function<std::optional<std::vector<int64_t>>(const Node&)>;

// For kWindow ops that sum the patches of a window back into the image they were taken from
// (col2im): that window over the image and where the patches and the image keep their channel.
// A pass can then compute such a sum as a convolution (passes/convolve_input_gradients.h).
struct PatchSum {
  WindowGeometry window;        // in_h/in_w: the image's; out_h/out_w: the patch grid's.
  bool channels_last = false;   // The image is [N,H,W,C] (else [N,C,H,W]).
  bool channel_major = false;   // The patches are [N,OH,OW,C,KH,KW] (else [N,OH,OW,KH,KW,C]).
};
using PatchSumFn = std::function<std::optional<PatchSum>(const Node&)>;

// A classification loss's reading of its operands: the class each sample is predicted to be and
// the class its target names, both i64 [N], and the probabilities its scores imply, f32 [N, C]
// (binary losses: [N, 1], the positive class). Evaluation counts accuracy from the first two;
// AOT-built programs' `predict` writes the class and the probabilities.
struct Prediction {
  NodeId predicted = kNoNode;
  NodeId truth = kNoNode;
  NodeId probabilities = kNoNode;
};
// For loss ops: the prediction the loss's operands imply, or nullopt where the loss has no
// notion of a class (regression, or a shape without one class per sample).
using PredictFn = std::function<std::optional<Prediction>(GraphBuilder&, const Node& loss)>;

struct OpDef {
  std::string name;
  std::string summary;
  int num_operands = 0;  // -1: any number.
  uint32_t traits = 0;
  InferTypeFn infer_type;
  GradientFn gradient;          // Null for kNoGradient, kLeaf and kComposite ops.
  EmitElementFn emit_element;   // kElementwise ops.
  EmitWindowFn emit_window;     // kWindow ops.
  ReduceKind reduce_kind = ReduceKind::kSum;  // kReduction ops.
  IndexMapFn index_map;         // kIndexMap ops.
  ExpandFn expand;              // kComposite ops.
  PredictFn predict;            // Classification losses: what accuracy compares.
  ComposeFn compose;            // Ops that fold a chain of themselves into one.
  CopyRunsFn copy_runs;         // Data-movement kWindow ops whose output is a few copied runs.
  SplitReadsFn split_reads;     // kWindow ops whose reads split into row and column parts.
  BoxStartFn box_start;         // kWindow ops that copy a box of their operand (slice).
  PatchSumFn patch_sum;         // kWindow ops that sum patches back into an image (col2im).
  // Elementwise ops linear in these operands while the others stay fixed (mul: both; div: the
  // dividend; neg): a sum of the op over dims along which the other operands do not vary is the
  // op of that operand's sum (passes/factor_sums.h).
  std::vector<int> linear_in;
  LibraryEpilogue library_epilogue = LibraryEpilogue::kNone;

  bool Has(Trait t) const { return (traits & t) != 0; }

  // A leaf the runtime binds from outside the graph by name (input, parameter, state), as opposed
  // to a generator leaf (constant, iota) whose per-element formula kernels compute inline. Its
  // contents are unknown to the compiler: equal types say nothing about equal values.
  bool IsBoundLeaf() const { return Has(kLeaf) && !Has(kElementwise); }
};

}  // namespace kiln::ir

#endif  // KILN_IR_OP_DEF_H_
