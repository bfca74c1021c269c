// ConstantEvaluator: a kernel::ScalarBuilder that computes on the host instead of emitting code,
// so constant folding runs each op's own emit_element and gets the value generated code would.
//
//   ConstantEvaluator eval;
//   kernel::Value sum = eval.Add(eval.ConstF32(2), eval.ConstF32(3));
//   float five = eval.F32(sum);
//
// f32 results are rounded to float after every step, i64 arithmetic wraps, and comparisons give
// bool, exactly as the LLVM and CUDA backends do. Each value also records whether it depends on
// the element's coordinates (MakeCoordinate), which tells a splat result from one that varies
// across the tensor (iota, random_uniform).
#ifndef KILN_PASSES_CONSTANT_EVALUATOR_H_
#define KILN_PASSES_CONSTANT_EVALUATOR_H_

#include <compare>
#include <cstdint>
#include <vector>

#include "ir/scalar_builder.h"

namespace kiln::passes {

class ConstantEvaluator : public kernel::ScalarBuilder {
 public:
  // A coordinate of the element being computed: an i64 with value `value` that marks everything
  // computed from it as coordinate-dependent.
  kernel::Value MakeCoordinate(int64_t value = 0);

  float F32(kernel::Value v) const;
  int64_t I64(kernel::Value v) const;
  bool Bool(kernel::Value v) const;
  // The value as a double whatever its type (bool -> 0/1).
  double AsDouble(kernel::Value v) const;
  // True if the value depends on a coordinate, i.e. differs between elements.
  bool DependsOnCoordinates(kernel::Value v) const;

  kernel::Value ConstF32(double v) override;
  kernel::Value ConstI64(int64_t v) override;

  kernel::Value Add(kernel::Value a, kernel::Value b) override;
  kernel::Value Sub(kernel::Value a, kernel::Value b) override;
  kernel::Value Mul(kernel::Value a, kernel::Value b) override;
  kernel::Value Div(kernel::Value a, kernel::Value b) override;
  kernel::Value Neg(kernel::Value a) override;
  kernel::Value Exp(kernel::Value a) override;
  kernel::Value Log(kernel::Value a) override;
  kernel::Value Sqrt(kernel::Value a) override;
  kernel::Value Pow(kernel::Value a, kernel::Value b) override;
  kernel::Value Abs(kernel::Value a) override;
  kernel::Value Tanh(kernel::Value a) override;

  kernel::Value IAdd(kernel::Value a, kernel::Value b) override;
  kernel::Value IMul(kernel::Value a, kernel::Value b) override;
  kernel::Value IXor(kernel::Value a, kernel::Value b) override;
  kernel::Value IShrU(kernel::Value a, int bits) override;
  kernel::Value IDiv(kernel::Value a, int64_t divisor) override;
  kernel::Value IRem(kernel::Value a, int64_t divisor) override;

  kernel::Value CmpGT(kernel::Value a, kernel::Value b) override;
  kernel::Value CmpGE(kernel::Value a, kernel::Value b) override;
  kernel::Value CmpEQ(kernel::Value a, kernel::Value b) override;
  kernel::Value Select(kernel::Value cond, kernel::Value on_true, kernel::Value on_false) override;
  kernel::Value And(kernel::Value a, kernel::Value b) override;

  kernel::Value Cast(kernel::Value a, kernel::ScalarType to) override;

 private:
  struct Slot {
    kernel::ScalarType type;
    float f32 = 0;
    int64_t i64 = 0;
    bool boolean = false;
    bool varies = false;
  };

  const Slot& slot(kernel::Value v) const;
  kernel::Value Push(Slot slot);
  kernel::Value MakeF32(float v, bool varies);
  kernel::Value MakeI64(int64_t v, bool varies);
  kernel::Value MakeBool(bool v, bool varies);
  std::partial_ordering Compare(kernel::Value a, kernel::Value b) const;
  bool Varies(kernel::Value a) const { return slot(a).varies; }
  bool Varies(kernel::Value a, kernel::Value b) const { return Varies(a) || Varies(b); }

  std::vector<Slot> slots_;
};

}  // namespace kiln::passes

#endif  // KILN_PASSES_CONSTANT_EVALUATOR_H_
