#include "codegen/cpu/llvm_scalar_builder.h"

#include "llvm/IR/Intrinsics.h"
#include "llvm/IR/Module.h"

namespace kiln::cpu {

using kernel::ScalarType;
using kernel::Value;

kernel::Value LlvmScalarBuilder::Wrap(llvm::Value* v, ScalarType type) {
  values_.push_back(v);
  return Value{static_cast<int32_t>(values_.size() - 1), type};
}

llvm::Type* LlvmScalarBuilder::TypeOf(ScalarType type) const {
  llvm::Type* scalar = type == ScalarType::kF32   ? b_.getFloatTy()
                       : type == ScalarType::kI64 ? b_.getInt64Ty()
                                                  : b_.getInt1Ty();
  return width_ == 1 ? scalar : llvm::FixedVectorType::get(scalar, width_);
}

llvm::Value* LlvmScalarBuilder::Splat(llvm::Value* scalar) {
  return width_ == 1 ? scalar : b_.CreateVectorSplat(width_, scalar);
}

Value LlvmScalarBuilder::ConstF32(double v) {
  return Float(Splat(llvm::ConstantFP::get(b_.getFloatTy(), static_cast<float>(v))));
}

Value LlvmScalarBuilder::ConstI64(int64_t v) { return Int(Splat(b_.getInt64(v))); }

Value LlvmScalarBuilder::Add(Value a, Value b) { return Float(b_.CreateFAdd(Unwrap(a), Unwrap(b))); }
Value LlvmScalarBuilder::Sub(Value a, Value b) { return Float(b_.CreateFSub(Unwrap(a), Unwrap(b))); }
Value LlvmScalarBuilder::Mul(Value a, Value b) { return Float(b_.CreateFMul(Unwrap(a), Unwrap(b))); }
Value LlvmScalarBuilder::Div(Value a, Value b) { return Float(b_.CreateFDiv(Unwrap(a), Unwrap(b))); }
Value LlvmScalarBuilder::Neg(Value a) { return Float(b_.CreateFNeg(Unwrap(a))); }

llvm::Value* LlvmScalarBuilder::Intrinsic(llvm::Intrinsic::ID id, llvm::Value* a) {
  return b_.CreateUnaryIntrinsic(id, a);
}

Value LlvmScalarBuilder::Exp(Value a) { return Float(Intrinsic(llvm::Intrinsic::exp, Unwrap(a))); }
Value LlvmScalarBuilder::Log(Value a) { return Float(Intrinsic(llvm::Intrinsic::log, Unwrap(a))); }
Value LlvmScalarBuilder::Sqrt(Value a) {
  return Float(Intrinsic(llvm::Intrinsic::sqrt, Unwrap(a)));
}
Value LlvmScalarBuilder::Abs(Value a) { return Float(Intrinsic(llvm::Intrinsic::fabs, Unwrap(a))); }
Value LlvmScalarBuilder::Pow(Value a, Value b) {
  return Float(b_.CreateBinaryIntrinsic(llvm::Intrinsic::pow, Unwrap(a), Unwrap(b)));
}

// tanh(x) = 1 - 2 / (exp(2x) + 1): exact at the extremes (exp overflow gives 1, underflow -1).
Value LlvmScalarBuilder::Tanh(Value a) {
  Value e = Exp(Mul(a, ConstF32(2.0)));
  return Sub(ConstF32(1.0), Div(ConstF32(2.0), Add(e, ConstF32(1.0))));
}

Value LlvmScalarBuilder::IAdd(Value a, Value b) { return Int(b_.CreateAdd(Unwrap(a), Unwrap(b))); }
Value LlvmScalarBuilder::IMul(Value a, Value b) { return Int(b_.CreateMul(Unwrap(a), Unwrap(b))); }
Value LlvmScalarBuilder::IXor(Value a, Value b) { return Int(b_.CreateXor(Unwrap(a), Unwrap(b))); }
Value LlvmScalarBuilder::IShrU(Value a, int bits) {
  return Int(b_.CreateLShr(Unwrap(a), Splat(b_.getInt64(bits))));
}

Value LlvmScalarBuilder::IDiv(Value a, int64_t divisor) {
  return Int(b_.CreateSDiv(Unwrap(a), Splat(b_.getInt64(divisor))));
}
Value LlvmScalarBuilder::IRem(Value a, int64_t divisor) {
  return Int(b_.CreateSRem(Unwrap(a), Splat(b_.getInt64(divisor))));
}

Value LlvmScalarBuilder::CmpGT(Value a, Value b) {
  return Bool(a.type == ScalarType::kF32 ? b_.CreateFCmpOGT(Unwrap(a), Unwrap(b))
                                         : b_.CreateICmpSGT(Unwrap(a), Unwrap(b)));
}
Value LlvmScalarBuilder::CmpGE(Value a, Value b) {
  return Bool(a.type == ScalarType::kF32 ? b_.CreateFCmpOGE(Unwrap(a), Unwrap(b))
                                         : b_.CreateICmpSGE(Unwrap(a), Unwrap(b)));
}
Value LlvmScalarBuilder::CmpEQ(Value a, Value b) {
  return Bool(a.type == ScalarType::kF32 ? b_.CreateFCmpOEQ(Unwrap(a), Unwrap(b))
                                         : b_.CreateICmpEQ(Unwrap(a), Unwrap(b)));
}

Value LlvmScalarBuilder::Select(Value cond, Value on_true, Value on_false) {
  return Wrap(b_.CreateSelect(Unwrap(cond), Unwrap(on_true), Unwrap(on_false)), on_true.type);
}

Value LlvmScalarBuilder::And(Value a, Value b) { return Bool(b_.CreateAnd(Unwrap(a), Unwrap(b))); }

Value LlvmScalarBuilder::Cast(Value a, ScalarType to) {
  if (a.type == to) return a;
  llvm::Value* v = Unwrap(a);
  llvm::Type* target = TypeOf(to);
  switch (to) {
    case ScalarType::kF32:
      return Float(a.type == ScalarType::kBool ? b_.CreateUIToFP(v, target)
                                               : b_.CreateSIToFP(v, target));
    case ScalarType::kI64:
      return Int(a.type == ScalarType::kBool ? b_.CreateZExt(v, target)
                                             : b_.CreateFPToSI(v, target));
    case ScalarType::kBool:
      return Bool(a.type == ScalarType::kF32
                      ? b_.CreateFCmpUNE(v, llvm::Constant::getNullValue(v->getType()))
                      : b_.CreateICmpNE(v, llvm::Constant::getNullValue(v->getType())));
  }
  return a;
}

}  // namespace kiln::cpu
