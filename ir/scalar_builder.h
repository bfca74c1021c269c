// The backend-neutral vocabulary in which ops describe their per-element computation.
//
// An op's `emit_element` calls these methods once; codegen/cpu implements them with LLVM's
// IRBuilder (scalars or SIMD vectors), codegen/cuda with CUDA C expressions. Because the op writes
// its formula once, both backends compute the same thing, bit for bit where the math allows
// (the dropout hash is integer-only for exactly that reason).
#ifndef KILN_IR_SCALAR_BUILDER_H_
#define KILN_IR_SCALAR_BUILDER_H_

#include <cstdint>

namespace kiln::kernel {

enum class ScalarType { kF32, kI64, kBool };

// A handle to a value inside the kernel being built; meaningful only to the builder that made it.
struct Value {
  int32_t id = -1;
  ScalarType type = ScalarType::kF32;
};

class ScalarBuilder {
 public:
  virtual ~ScalarBuilder() = default;

  virtual Value ConstF32(double v) = 0;
  virtual Value ConstI64(int64_t v) = 0;

  // Float arithmetic (f32).
  virtual Value Add(Value a, Value b) = 0;
  virtual Value Sub(Value a, Value b) = 0;
  virtual Value Mul(Value a, Value b) = 0;
  virtual Value Div(Value a, Value b) = 0;
  virtual Value Neg(Value a) = 0;
  // max and min as torch.maximum/minimum: NaN when either operand is NaN. IEEE maxNum would
  // drop the NaN, so relu(NaN) = 0 would hide a diverged model. Written once with compares and
  // selects so every backend computes the same thing; when `b` is a constant the NaN test folds
  // away, and `b > a ? b : a` is exactly x86's maxps(b, a), so relu stays one instruction.
  Value Max(Value a, Value b) { return Select(CmpEQ(b, b), Select(CmpGT(b, a), b, a), b); }
  Value Min(Value a, Value b) { return Select(CmpEQ(b, b), Select(CmpGT(a, b), b, a), b); }
  virtual Value Exp(Value a) = 0;
  virtual Value Log(Value a) = 0;
  virtual Value Sqrt(Value a) = 0;
  virtual Value Pow(Value a, Value b) = 0;
  virtual Value Abs(Value a) = 0;
  virtual Value Tanh(Value a) = 0;

  // Integer arithmetic on i64 (wrapping).
  virtual Value IAdd(Value a, Value b) = 0;
  virtual Value IMul(Value a, Value b) = 0;
  virtual Value IXor(Value a, Value b) = 0;
  virtual Value IShrU(Value a, int bits) = 0;  // Logical shift right.
  // Division and remainder by a positive constant, truncating toward zero as in C (window ops
  // test a coordinate's divisibility by a stride and guard negative ones separately).
  virtual Value IDiv(Value a, int64_t divisor) = 0;
  virtual Value IRem(Value a, int64_t divisor) = 0;

  // Comparisons give kBool; they work on f32 or i64 operands of the same type.
  virtual Value CmpGT(Value a, Value b) = 0;
  virtual Value CmpGE(Value a, Value b) = 0;
  virtual Value CmpEQ(Value a, Value b) = 0;
  virtual Value Select(Value cond, Value on_true, Value on_false) = 0;
  virtual Value And(Value a, Value b) = 0;  // Of two kBool values.

  // Conversions between f32, i64 and bool (bool -> 0/1).
  virtual Value Cast(Value a, ScalarType to) = 0;
};

}  // namespace kiln::kernel

#endif  // KILN_IR_SCALAR_BUILDER_H_
