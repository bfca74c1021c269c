// kernel::ScalarBuilder on LLVM's IRBuilder: the CPU form of every op's element formula. With
// width 1 it builds scalar code (loops are vectorized by LLVM's loop vectorizer); with width W
// it builds <W x T> vector code directly (GEMM epilogues run on accumulator vectors).
#ifndef KILN_CODEGEN_CPU_LLVM_SCALAR_BUILDER_H_
#define KILN_CODEGEN_CPU_LLVM_SCALAR_BUILDER_H_

#include <vector>

#include "ir/scalar_builder.h"
#include "llvm/IR/IRBuilder.h"

namespace kiln::cpu {

class LlvmScalarBuilder : public kernel::ScalarBuilder {
 public:
  LlvmScalarBuilder(llvm::IRBuilderBase& b, int width) : b_(b), width_(width) {}

  int width() const { return width_; }
  llvm::IRBuilderBase& ir() { return b_; }
  // Registers an LLVM value (of this builder's width) as a kernel value.
  kernel::Value Wrap(llvm::Value* v, kernel::ScalarType type);
  llvm::Value* Unwrap(kernel::Value v) const { return values_[v.id]; }
  // The LLVM type of `type` at this builder's width.
  llvm::Type* TypeOf(kernel::ScalarType type) const;
  // Broadcasts a scalar to this builder's width (identity at width 1).
  llvm::Value* Splat(llvm::Value* scalar);

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
  kernel::Value Float(llvm::Value* v) { return Wrap(v, kernel::ScalarType::kF32); }
  kernel::Value Int(llvm::Value* v) { return Wrap(v, kernel::ScalarType::kI64); }
  kernel::Value Bool(llvm::Value* v) { return Wrap(v, kernel::ScalarType::kBool); }
  llvm::Value* Intrinsic(llvm::Intrinsic::ID id, llvm::Value* a);

  llvm::IRBuilderBase& b_;
  int width_;
  std::vector<llvm::Value*> values_;
};

}  // namespace kiln::cpu

#endif  // KILN_CODEGEN_CPU_LLVM_SCALAR_BUILDER_H_
