// Each ScalarBuilder method of the host evaluator against values worked out by hand, with the
// f32 rounding and i64 wrapping that generated code has.
#include "passes/constant_evaluator.h"

#include <cmath>
#include <cstdint>
#include <limits>

#include "gtest/gtest.h"

namespace kiln::passes {
namespace {

using kernel::ScalarType;
using kernel::Value;

class ConstantEvaluatorTest : public ::testing::Test {
 protected:
  Value F(double v) { return eval_.ConstF32(v); }
  Value I(int64_t v) { return eval_.ConstI64(v); }
  ConstantEvaluator eval_;
};

TEST_F(ConstantEvaluatorTest, ConstantsRoundToF32) {
  EXPECT_EQ(eval_.F32(F(0.1)), 0.1f);
  EXPECT_NE(static_cast<double>(eval_.F32(F(0.1))), 0.1);
  EXPECT_EQ(eval_.I64(I(-7)), -7);
  EXPECT_EQ(F(1).type, ScalarType::kF32);
  EXPECT_EQ(I(1).type, ScalarType::kI64);
}

TEST_F(ConstantEvaluatorTest, FloatArithmeticRoundsEveryStep) {
  EXPECT_EQ(eval_.F32(eval_.Add(F(2), F(3))), 5.0f);
  EXPECT_EQ(eval_.F32(eval_.Sub(F(2), F(3))), -1.0f);
  EXPECT_EQ(eval_.F32(eval_.Mul(F(2.5), F(4))), 10.0f);
  EXPECT_EQ(eval_.F32(eval_.Div(F(1), F(4))), 0.25f);
  EXPECT_EQ(eval_.F32(eval_.Neg(F(3))), -3.0f);
  // 1 + 2^-30 is 1 in f32 although it is not in double.
  EXPECT_EQ(eval_.F32(eval_.Add(F(1), F(std::ldexp(1.0, -30)))), 1.0f);
  // 1/3 rounded to f32 differs from the double quotient.
  float third = eval_.F32(eval_.Div(F(1), F(3)));
  EXPECT_EQ(third, 1.0f / 3.0f);
  EXPECT_NE(static_cast<double>(third), 1.0 / 3.0);
  // 16777216 + 1 is not representable in f32.
  EXPECT_EQ(eval_.F32(eval_.Add(F(16777216), F(1))), 16777216.0f);
  EXPECT_TRUE(std::isinf(eval_.F32(eval_.Div(F(1), F(0)))));
}

// As torch.maximum/minimum: a NaN on either side gives NaN (IEEE maxNum would give the other).
TEST_F(ConstantEvaluatorTest, MaxAndMinPropagateNaN) {
  double nan = std::numeric_limits<double>::quiet_NaN();
  EXPECT_TRUE(std::isnan(eval_.F32(eval_.Max(F(nan), F(2)))));
  EXPECT_TRUE(std::isnan(eval_.F32(eval_.Max(F(2), F(nan)))));
  EXPECT_EQ(eval_.F32(eval_.Max(F(-1), F(2))), 2.0f);
  EXPECT_EQ(eval_.F32(eval_.Max(F(2), F(-1))), 2.0f);
  EXPECT_TRUE(std::isnan(eval_.F32(eval_.Min(F(2), F(nan)))));
  EXPECT_TRUE(std::isnan(eval_.F32(eval_.Min(F(nan), F(2)))));
  EXPECT_EQ(eval_.F32(eval_.Min(F(-1), F(2))), -1.0f);
  EXPECT_EQ(eval_.F32(eval_.Min(F(2), F(-1))), -1.0f);
}

TEST_F(ConstantEvaluatorTest, Transcendentals) {
  EXPECT_EQ(eval_.F32(eval_.Exp(F(0))), 1.0f);
  EXPECT_FLOAT_EQ(eval_.F32(eval_.Exp(F(1))), 2.7182817f);
  EXPECT_EQ(eval_.F32(eval_.Log(F(1))), 0.0f);
  EXPECT_TRUE(std::isinf(eval_.F32(eval_.Log(F(0)))));
  EXPECT_EQ(eval_.F32(eval_.Sqrt(F(16))), 4.0f);
  EXPECT_TRUE(std::isnan(eval_.F32(eval_.Sqrt(F(-1)))));
  EXPECT_EQ(eval_.F32(eval_.Pow(F(2), F(10))), 1024.0f);
  EXPECT_EQ(eval_.F32(eval_.Abs(F(-3.5))), 3.5f);
  EXPECT_EQ(eval_.F32(eval_.Tanh(F(0))), 0.0f);
  EXPECT_FLOAT_EQ(eval_.F32(eval_.Tanh(F(1))), 0.7615942f);
}

TEST_F(ConstantEvaluatorTest, IntegerArithmeticWraps) {
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
  EXPECT_EQ(eval_.I64(eval_.IAdd(I(40), I(2))), 42);
  EXPECT_EQ(eval_.I64(eval_.IAdd(I(kMax), I(1))), kMin);
  EXPECT_EQ(eval_.I64(eval_.IMul(I(6), I(7))), 42);
  EXPECT_EQ(eval_.I64(eval_.IMul(I(kMax), I(2))), -2);
  EXPECT_EQ(eval_.I64(eval_.IMul(I(int64_t{1} << 62), I(4))), 0);
  EXPECT_EQ(eval_.I64(eval_.IXor(I(0b1100), I(0b1010))), 0b0110);
}

TEST_F(ConstantEvaluatorTest, ShiftRightIsLogical) {
  EXPECT_EQ(eval_.I64(eval_.IShrU(I(256), 4)), 16);
  // An arithmetic shift would keep the sign bits: -1 >> 60 would be -1, not 15.
  EXPECT_EQ(eval_.I64(eval_.IShrU(I(-1), 60)), 15);
  EXPECT_EQ(eval_.I64(eval_.IShrU(I(-1), 0)), -1);
}

// Window ops test divisibility by a stride: C's truncating division, as LLVM's sdiv/srem and
// CUDA's / and % give.
TEST_F(ConstantEvaluatorTest, DivisionByAConstantTruncatesTowardZero) {
  EXPECT_EQ(eval_.I64(eval_.IDiv(I(7), 2)), 3);
  EXPECT_EQ(eval_.I64(eval_.IDiv(I(-7), 2)), -3);
  EXPECT_EQ(eval_.I64(eval_.IRem(I(7), 2)), 1);
  EXPECT_EQ(eval_.I64(eval_.IRem(I(-7), 2)), -1);
  EXPECT_EQ(eval_.I64(eval_.IRem(I(6), 3)), 0);
}

TEST_F(ConstantEvaluatorTest, AndOfBools) {
  Value t = eval_.CmpEQ(I(1), I(1)), f = eval_.CmpEQ(I(1), I(2));
  EXPECT_TRUE(eval_.Bool(eval_.And(t, t)));
  EXPECT_FALSE(eval_.Bool(eval_.And(t, f)));
  EXPECT_FALSE(eval_.Bool(eval_.And(f, t)));
}

TEST_F(ConstantEvaluatorTest, ComparisonsGiveBoolAndNaNIsUnordered) {
  double nan = std::numeric_limits<double>::quiet_NaN();
  Value gt = eval_.CmpGT(F(2), F(1));
  EXPECT_EQ(gt.type, ScalarType::kBool);
  EXPECT_TRUE(eval_.Bool(gt));
  EXPECT_FALSE(eval_.Bool(eval_.CmpGT(F(1), F(1))));
  EXPECT_TRUE(eval_.Bool(eval_.CmpGE(F(1), F(1))));
  EXPECT_FALSE(eval_.Bool(eval_.CmpGE(F(0), F(1))));
  EXPECT_TRUE(eval_.Bool(eval_.CmpEQ(F(0.0), F(-0.0))));
  EXPECT_FALSE(eval_.Bool(eval_.CmpEQ(F(nan), F(nan))));
  EXPECT_FALSE(eval_.Bool(eval_.CmpGT(F(nan), F(0))));
  EXPECT_FALSE(eval_.Bool(eval_.CmpGE(F(0), F(nan))));
  EXPECT_TRUE(eval_.Bool(eval_.CmpGT(I(-1), I(-2))));
  EXPECT_TRUE(eval_.Bool(eval_.CmpEQ(I(7), I(7))));
  // Signed comparison: a wrapped (negative) i64 is below a positive one.
  EXPECT_FALSE(eval_.Bool(eval_.CmpGT(I(std::numeric_limits<int64_t>::min()), I(1))));
}

TEST_F(ConstantEvaluatorTest, SelectPicksAnArm) {
  EXPECT_EQ(eval_.F32(eval_.Select(eval_.CmpGT(F(1), F(0)), F(10), F(20))), 10.0f);
  EXPECT_EQ(eval_.F32(eval_.Select(eval_.CmpGT(F(0), F(1)), F(10), F(20))), 20.0f);
  EXPECT_EQ(eval_.I64(eval_.Select(eval_.CmpEQ(I(3), I(3)), I(-5), I(5))), -5);
}

TEST_F(ConstantEvaluatorTest, Casts) {
  EXPECT_EQ(eval_.I64(eval_.Cast(F(2.9), ScalarType::kI64)), 2);
  EXPECT_EQ(eval_.I64(eval_.Cast(F(-2.9), ScalarType::kI64)), -2);  // Toward zero.
  EXPECT_EQ(eval_.I64(eval_.Cast(F(std::nan("")), ScalarType::kI64)), 0);
  EXPECT_EQ(eval_.I64(eval_.Cast(F(1e30), ScalarType::kI64)), std::numeric_limits<int64_t>::max());
  // 2^24 + 1 rounds to 2^24 on the way to f32.
  EXPECT_EQ(eval_.F32(eval_.Cast(I(16777217), ScalarType::kF32)), 16777216.0f);
  EXPECT_EQ(eval_.F32(eval_.Cast(eval_.CmpGT(F(1), F(0)), ScalarType::kF32)), 1.0f);
  EXPECT_EQ(eval_.I64(eval_.Cast(eval_.CmpGT(F(0), F(1)), ScalarType::kI64)), 0);
  EXPECT_TRUE(eval_.Bool(eval_.Cast(F(0.5), ScalarType::kBool)));
  EXPECT_FALSE(eval_.Bool(eval_.Cast(I(0), ScalarType::kBool)));
}

TEST_F(ConstantEvaluatorTest, TracksDependenceOnCoordinates) {
  Value coord = eval_.MakeCoordinate(3);
  EXPECT_EQ(eval_.I64(coord), 3);
  EXPECT_TRUE(eval_.DependsOnCoordinates(coord));
  Value from_coord = eval_.Cast(eval_.IAdd(coord, I(1)), ScalarType::kF32);
  EXPECT_TRUE(eval_.DependsOnCoordinates(from_coord));
  EXPECT_TRUE(eval_.DependsOnCoordinates(eval_.Select(eval_.CmpGT(coord, I(0)), F(1), F(2))));
  EXPECT_FALSE(eval_.DependsOnCoordinates(eval_.Add(F(1), F(2))));
}

}  // namespace
}  // namespace kiln::passes
