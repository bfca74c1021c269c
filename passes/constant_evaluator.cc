#include "passes/constant_evaluator.h"

#include <cassert>
#include <cmath>
#include <limits>

namespace kiln::passes {

using kernel::ScalarType;
using kernel::Value;

namespace {

// f32 -> i64 as the backends convert: truncation toward zero, saturating at the i64 range, NaN to
// 0 (CUDA's cvt.rzi.s64.f32; LLVM's fptosi is undefined there, so nothing may rely on it).
int64_t TruncateToI64(float v) {
  if (std::isnan(v)) return 0;
  if (v >= 9.2233720368547758e18f) return std::numeric_limits<int64_t>::max();
  if (v <= -9.2233720368547758e18f) return std::numeric_limits<int64_t>::min();
  return static_cast<int64_t>(v);
}

// i64 arithmetic wraps modulo 2^64, as LLVM's `add`/`mul` without nsw do; unsigned arithmetic is
// the well-defined way to get that in C++.
int64_t Wrap(uint64_t v) { return static_cast<int64_t>(v); }

}  // namespace

const ConstantEvaluator::Slot& ConstantEvaluator::slot(Value v) const {
  assert(v.id >= 0 && v.id < static_cast<int32_t>(slots_.size()) && "foreign kernel::Value");
  return slots_[v.id];
}

Value ConstantEvaluator::Push(Slot s) {
  slots_.push_back(s);
  return Value{static_cast<int32_t>(slots_.size() - 1), s.type};
}

Value ConstantEvaluator::MakeF32(float v, bool varies) {
  return Push(Slot{.type = ScalarType::kF32, .f32 = v, .varies = varies});
}
Value ConstantEvaluator::MakeI64(int64_t v, bool varies) {
  return Push(Slot{.type = ScalarType::kI64, .i64 = v, .varies = varies});
}
Value ConstantEvaluator::MakeBool(bool v, bool varies) {
  return Push(Slot{.type = ScalarType::kBool, .boolean = v, .varies = varies});
}

Value ConstantEvaluator::MakeCoordinate(int64_t value) { return MakeI64(value, true); }

float ConstantEvaluator::F32(Value v) const {
  assert(slot(v).type == ScalarType::kF32);
  return slot(v).f32;
}
int64_t ConstantEvaluator::I64(Value v) const {
  assert(slot(v).type == ScalarType::kI64);
  return slot(v).i64;
}
bool ConstantEvaluator::Bool(Value v) const {
  assert(slot(v).type == ScalarType::kBool);
  return slot(v).boolean;
}
double ConstantEvaluator::AsDouble(Value v) const {
  const Slot& s = slot(v);
  switch (s.type) {
    case ScalarType::kF32:
      return s.f32;
    case ScalarType::kI64:
      return static_cast<double>(s.i64);
    case ScalarType::kBool:
      return s.boolean ? 1.0 : 0.0;
  }
  return 0.0;
}
bool ConstantEvaluator::DependsOnCoordinates(Value v) const { return slot(v).varies; }

// Rounds to f32 on the way in: ConstF32(0.1) is the float nearest 0.1, as in generated code.
Value ConstantEvaluator::ConstF32(double v) { return MakeF32(static_cast<float>(v), false); }
Value ConstantEvaluator::ConstI64(int64_t v) { return MakeI64(v, false); }

// Float arithmetic is done in float, so every step rounds to f32 as the backends do.
Value ConstantEvaluator::Add(Value a, Value b) { return MakeF32(F32(a) + F32(b), Varies(a, b)); }
Value ConstantEvaluator::Sub(Value a, Value b) { return MakeF32(F32(a) - F32(b), Varies(a, b)); }
Value ConstantEvaluator::Mul(Value a, Value b) { return MakeF32(F32(a) * F32(b), Varies(a, b)); }
Value ConstantEvaluator::Div(Value a, Value b) { return MakeF32(F32(a) / F32(b), Varies(a, b)); }
Value ConstantEvaluator::Neg(Value a) { return MakeF32(-F32(a), Varies(a)); }
Value ConstantEvaluator::Exp(Value a) { return MakeF32(std::exp(F32(a)), Varies(a)); }
Value ConstantEvaluator::Log(Value a) { return MakeF32(std::log(F32(a)), Varies(a)); }
Value ConstantEvaluator::Sqrt(Value a) { return MakeF32(std::sqrt(F32(a)), Varies(a)); }
Value ConstantEvaluator::Pow(Value a, Value b) {
  return MakeF32(std::pow(F32(a), F32(b)), Varies(a, b));
}
Value ConstantEvaluator::Abs(Value a) { return MakeF32(std::fabs(F32(a)), Varies(a)); }
Value ConstantEvaluator::Tanh(Value a) { return MakeF32(std::tanh(F32(a)), Varies(a)); }

Value ConstantEvaluator::IAdd(Value a, Value b) {
  uint64_t sum = static_cast<uint64_t>(I64(a)) + static_cast<uint64_t>(I64(b));
  return MakeI64(Wrap(sum), Varies(a, b));
}
Value ConstantEvaluator::IMul(Value a, Value b) {
  uint64_t product = static_cast<uint64_t>(I64(a)) * static_cast<uint64_t>(I64(b));
  return MakeI64(Wrap(product), Varies(a, b));
}
Value ConstantEvaluator::IXor(Value a, Value b) { return MakeI64(I64(a) ^ I64(b), Varies(a, b)); }
Value ConstantEvaluator::IShrU(Value a, int bits) {
  assert(bits >= 0 && bits < 64);
  return MakeI64(Wrap(static_cast<uint64_t>(I64(a)) >> bits), Varies(a));
}

Value ConstantEvaluator::IDiv(Value a, int64_t divisor) {
  assert(divisor > 0);
  return MakeI64(I64(a) / divisor, Varies(a));
}
Value ConstantEvaluator::IRem(Value a, int64_t divisor) {
  assert(divisor > 0);
  return MakeI64(I64(a) % divisor, Varies(a));
}

// Comparisons take two f32 or two i64 values (bools compare as 0/1); a NaN makes every
// comparison false, as LLVM's ordered predicates (ogt, oge, oeq) do.
std::partial_ordering ConstantEvaluator::Compare(Value a, Value b) const {
  const Slot& x = slot(a);
  const Slot& y = slot(b);
  assert(x.type == y.type && "comparison of different types");
  if (x.type == ScalarType::kF32) return x.f32 <=> y.f32;
  if (x.type == ScalarType::kI64) return x.i64 <=> y.i64;
  return x.boolean <=> y.boolean;
}

Value ConstantEvaluator::CmpGT(Value a, Value b) {
  return MakeBool(Compare(a, b) > 0, Varies(a, b));
}
Value ConstantEvaluator::CmpGE(Value a, Value b) {
  return MakeBool(Compare(a, b) >= 0, Varies(a, b));
}
Value ConstantEvaluator::CmpEQ(Value a, Value b) {
  return MakeBool(Compare(a, b) == 0, Varies(a, b));
}

Value ConstantEvaluator::Select(Value cond, Value on_true, Value on_false) {
  assert(slot(on_true).type == slot(on_false).type && "select arms of different types");
  Slot chosen = slot(Bool(cond) ? on_true : on_false);
  chosen.varies = chosen.varies || Varies(cond);
  return Push(chosen);
}

Value ConstantEvaluator::And(Value a, Value b) {
  return MakeBool(Bool(a) && Bool(b), Varies(a, b));
}

Value ConstantEvaluator::Cast(Value a, ScalarType to) {
  const Slot& s = slot(a);
  bool varies = s.varies;
  switch (to) {
    case ScalarType::kF32:
      if (s.type == ScalarType::kF32) return MakeF32(s.f32, varies);
      if (s.type == ScalarType::kI64) return MakeF32(static_cast<float>(s.i64), varies);
      return MakeF32(s.boolean ? 1.0f : 0.0f, varies);
    case ScalarType::kI64:
      if (s.type == ScalarType::kF32) return MakeI64(TruncateToI64(s.f32), varies);
      if (s.type == ScalarType::kI64) return MakeI64(s.i64, varies);
      return MakeI64(s.boolean ? 1 : 0, varies);
    case ScalarType::kBool:
      if (s.type == ScalarType::kF32) return MakeBool(s.f32 != 0.0f, varies);
      if (s.type == ScalarType::kI64) return MakeBool(s.i64 != 0, varies);
      return MakeBool(s.boolean, varies);
  }
  return a;
}

}  // namespace kiln::passes
