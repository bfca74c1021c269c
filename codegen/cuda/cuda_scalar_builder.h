// kernel::ScalarBuilder that writes CUDA C: the GPU form of every op's element formula.
//
//   CudaScalarBuilder b("    ");
//   kernel::Value x = b.Emit(kernel::ScalarType::kF32, "b3[i]");   // const float v0 = b3[i];
//   kernel::Value y = b.Exp(x);                                    // const float v1 = expf(v0);
//   std::string body = b.TakeCode();
//
// Every value is one `const` local (float, long long or bool) named v<id>, so the text reads
// like SSA and NVRTC's optimizer sees plain scalar code. Semantics follow the CPU backend
// (codegen/cpu/llvm_scalar_builder.cc) and passes/constant_evaluator.h:
//   - Max/Min propagate NaN (ScalarBuilder writes them as compares and selects, not fmaxf);
//   - i64 add/mul/shift go through unsigned long long so they wrap exactly like LLVM's
//     `add`/`mul`/`lshr` (the dropout hash depends on every bit);
//   - comparisons of floats are ordered (false on NaN), Cast(f32 -> bool) is `!= 0` (true on NaN);
//   - tanh is 1 - 2/(exp(2x)+1), the same formula the CPU uses, not CUDA's tanhf.
// Float constants are written as hex-float literals, so they are exact.
#ifndef KILN_CODEGEN_CUDA_CUDA_SCALAR_BUILDER_H_
#define KILN_CODEGEN_CUDA_CUDA_SCALAR_BUILDER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "ir/scalar_builder.h"

namespace kiln::cuda {

class CudaScalarBuilder : public kernel::ScalarBuilder {
 public:
  explicit CudaScalarBuilder(std::string indent = "  ") : indent_(std::move(indent)) {}

  // Declares `const T v<id> = expr;` and returns the value.
  kernel::Value Emit(kernel::ScalarType type, const std::string& expr);
  // The C name of a value ("v7").
  std::string Name(kernel::Value v) const;
  // Appends a raw statement line (a store, a brace) at the current indentation.
  void Line(const std::string& text);
  void set_indent(std::string indent) { indent_ = std::move(indent); }
  const std::string& indent() const { return indent_; }
  // The code written so far; clears it (value ids keep counting, so names stay unique).
  std::string TakeCode();

  // The CUDA C type of a scalar type: float, long long, bool.
  static const char* CType(kernel::ScalarType type);
  // An exact C literal for a float / a long long.
  static std::string FloatLiteral(float v);
  static std::string I64Literal(int64_t v);

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
  kernel::Value Float(const std::string& expr) { return Emit(kernel::ScalarType::kF32, expr); }
  kernel::Value Int(const std::string& expr) { return Emit(kernel::ScalarType::kI64, expr); }
  kernel::Value Bool(const std::string& expr) { return Emit(kernel::ScalarType::kBool, expr); }
  std::string Binary(kernel::Value a, const char* op, kernel::Value b) const;
  std::string Call(const char* fn, kernel::Value a) const;
  // `(unsigned long long)v`, for wrapping arithmetic.
  std::string Unsigned(kernel::Value v) const;

  std::string indent_;
  std::string code_;
  int32_t next_id_ = 0;
};

}  // namespace kiln::cuda

#endif  // KILN_CODEGEN_CUDA_CUDA_SCALAR_BUILDER_H_
