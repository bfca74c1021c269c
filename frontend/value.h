// Values that .kiln expressions evaluate to while lowering: tensors (graph nodes) and the
// compile-time constants around them (numbers, booleans, strings, tuples). Arithmetic on numbers
// is folded here, so `1/255` is a double and `n * 2` an integer before any IR exists.
#ifndef KILN_FRONTEND_VALUE_H_
#define KILN_FRONTEND_VALUE_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "frontend/ast.h"
#include "ir/graph.h"

namespace kiln::frontend {

struct Value {
  enum class Kind { kTensor, kNumber, kBool, kString, kTuple };
  Kind kind = Kind::kNumber;
  ir::NodeId node = ir::kNoNode;  // kTensor.
  double number = 0.0;            // kNumber.
  bool is_int = false;            // kNumber with an integral value from integer arithmetic.
  bool boolean = false;           // kBool.
  std::string text;               // kString.
  std::vector<Value> items;       // kTuple (written (a, b) or [a, b]).

  static Value Tensor(ir::NodeId node);
  static Value Number(double number, bool is_int);
  static Value Bool(bool b);
  static Value String(std::string s);
};

// Numbers are doubles while lowering, so an integer is exact only within +-2^53. A whole number in
// that range converts to int64; anything else (a fraction, 1e300, inf, nan) gives nullopt, so no
// caller casts an out-of-range double (undefined behaviour) or trusts a rounded integer.
inline constexpr double kMaxExactInteger = 9007199254740992.0;  // 2^53
std::optional<int64_t> ExactInteger(double number);

// "a tensor", "a number", "an integer", ... for error messages.
std::string KindName(const Value& value);

// Folds `-a` and `a op b` for numbers; `/` always gives a double, as in Python 3.
absl::StatusOr<Value> FoldNumbers(const Expr& op_expr, const Value& lhs, const Value& rhs);

// Math on numbers allowed in constant expressions: sqrt, exp, log.
bool IsConstantFunction(const std::string& name);
absl::StatusOr<Value> FoldFunction(const Expr& call, const Value& arg);

// Resolves a name that is not a literal; returns NotFound to fall back to "undefined name".
using NameResolver = std::function<absl::StatusOr<Value>(const Expr& name)>;

// Evaluates an expression that must not produce tensors (train settings, initializer
// arguments, shapes): numbers, strings, true/false, tuples and lists, arithmetic, sqrt/exp/log.
absl::StatusOr<Value> EvalConstant(const Expr& expr, const NameResolver& resolve = nullptr);

}  // namespace kiln::frontend

#endif  // KILN_FRONTEND_VALUE_H_
