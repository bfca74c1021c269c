#include "codegen/cuda/cuda_scalar_builder.h"

#include <bit>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace kiln::cuda {

using kernel::ScalarType;
using kernel::Value;

const char* CudaScalarBuilder::CType(ScalarType type) {
  switch (type) {
    case ScalarType::kF32: return "float";
    case ScalarType::kI64: return "long long";
    case ScalarType::kBool: return "bool";
  }
  return "float";
}

std::string CudaScalarBuilder::FloatLiteral(float v) {
  // Hex floats are exact; inf and NaN have no literal, so spell their bits.
  if (!std::isfinite(v)) {
    return absl::StrFormat("__int_as_float(0x%08x)", std::bit_cast<uint32_t>(v));
  }
  return absl::StrFormat("%af", static_cast<double>(v));
}

std::string CudaScalarBuilder::I64Literal(int64_t v) {
  // Through unsigned: also exact for INT64_MIN, which has no negative decimal literal.
  return absl::StrFormat("(long long)0x%016xull", static_cast<uint64_t>(v));
}

Value CudaScalarBuilder::Emit(ScalarType type, const std::string& expr) {
  Value v{next_id_++, type};
  absl::StrAppend(&code_, indent_, "const ", CType(type), " ", Name(v), " = ", expr, ";\n");
  return v;
}

std::string CudaScalarBuilder::Name(Value v) const { return absl::StrCat("v", v.id); }

void CudaScalarBuilder::Line(const std::string& text) {
  absl::StrAppend(&code_, indent_, text, "\n");
}

std::string CudaScalarBuilder::TakeCode() {
  std::string code = std::move(code_);
  code_.clear();
  return code;
}

std::string CudaScalarBuilder::Binary(Value a, const char* op, Value b) const {
  return absl::StrCat(Name(a), " ", op, " ", Name(b));
}

std::string CudaScalarBuilder::Call(const char* fn, Value a) const {
  return absl::StrCat(fn, "(", Name(a), ")");
}

std::string CudaScalarBuilder::Unsigned(Value v) const {
  return absl::StrCat("(unsigned long long)", Name(v));
}

Value CudaScalarBuilder::ConstF32(double v) { return Float(FloatLiteral(static_cast<float>(v))); }
Value CudaScalarBuilder::ConstI64(int64_t v) {
  // Small constants read better in decimal; both forms are exact.
  if (v > -(int64_t{1} << 31) && v < (int64_t{1} << 31)) return Int(absl::StrCat(v, "ll"));
  return Int(I64Literal(v));
}

Value CudaScalarBuilder::Add(Value a, Value b) { return Float(Binary(a, "+", b)); }
Value CudaScalarBuilder::Sub(Value a, Value b) { return Float(Binary(a, "-", b)); }
Value CudaScalarBuilder::Mul(Value a, Value b) { return Float(Binary(a, "*", b)); }
Value CudaScalarBuilder::Div(Value a, Value b) { return Float(Binary(a, "/", b)); }
Value CudaScalarBuilder::Neg(Value a) { return Float(absl::StrCat("-", Name(a))); }
Value CudaScalarBuilder::Exp(Value a) { return Float(Call("expf", a)); }
Value CudaScalarBuilder::Log(Value a) { return Float(Call("logf", a)); }
Value CudaScalarBuilder::Sqrt(Value a) { return Float(Call("sqrtf", a)); }
Value CudaScalarBuilder::Abs(Value a) { return Float(Call("fabsf", a)); }
Value CudaScalarBuilder::Pow(Value a, Value b) {
  return Float(absl::StrCat("powf(", Name(a), ", ", Name(b), ")"));
}

// The CPU's formula (exact at the extremes), not tanhf, so both backends agree.
Value CudaScalarBuilder::Tanh(Value a) {
  Value e = Exp(Mul(a, ConstF32(2.0)));
  return Sub(ConstF32(1.0), Div(ConstF32(2.0), Add(e, ConstF32(1.0))));
}

// Signed overflow is undefined in C++ and NVRTC may exploit it; unsigned arithmetic wraps.
Value CudaScalarBuilder::IAdd(Value a, Value b) {
  return Int(absl::StrCat("(long long)(", Unsigned(a), " + ", Unsigned(b), ")"));
}
Value CudaScalarBuilder::IMul(Value a, Value b) {
  return Int(absl::StrCat("(long long)(", Unsigned(a), " * ", Unsigned(b), ")"));
}
Value CudaScalarBuilder::IXor(Value a, Value b) { return Int(Binary(a, "^", b)); }
Value CudaScalarBuilder::IShrU(Value a, int bits) {
  return Int(absl::StrCat("(long long)(", Unsigned(a), " >> ", bits, ")"));
}

Value CudaScalarBuilder::IDiv(Value a, int64_t divisor) {
  return Int(absl::StrCat(Name(a), " / ", divisor, "ll"));
}
Value CudaScalarBuilder::IRem(Value a, int64_t divisor) {
  return Int(absl::StrCat(Name(a), " % ", divisor, "ll"));
}

Value CudaScalarBuilder::CmpGT(Value a, Value b) { return Bool(Binary(a, ">", b)); }
Value CudaScalarBuilder::CmpGE(Value a, Value b) { return Bool(Binary(a, ">=", b)); }
Value CudaScalarBuilder::CmpEQ(Value a, Value b) { return Bool(Binary(a, "==", b)); }

Value CudaScalarBuilder::Select(Value cond, Value on_true, Value on_false) {
  return Emit(on_true.type,
              absl::StrCat(Name(cond), " ? ", Name(on_true), " : ", Name(on_false)));
}

Value CudaScalarBuilder::And(Value a, Value b) { return Bool(Binary(a, "&&", b)); }

Value CudaScalarBuilder::Cast(Value a, ScalarType to) {
  if (a.type == to) return a;
  switch (to) {
    case ScalarType::kF32:
      return Float(a.type == ScalarType::kBool ? absl::StrCat(Name(a), " ? 1.0f : 0.0f")
                                               : absl::StrCat("(float)", Name(a)));
    case ScalarType::kI64:
      return Int(a.type == ScalarType::kBool ? absl::StrCat(Name(a), " ? 1ll : 0ll")
                                             : absl::StrCat("(long long)", Name(a)));
    case ScalarType::kBool:
      return Bool(absl::StrCat(Name(a), a.type == ScalarType::kF32 ? " != 0.0f" : " != 0ll"));
  }
  return a;
}

}  // namespace kiln::cuda
