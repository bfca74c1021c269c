#include "frontend/value.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "support/status.h"

namespace kiln::frontend {

Value Value::Tensor(ir::NodeId node) {
  Value v;
  v.kind = Kind::kTensor;
  v.node = node;
  return v;
}

Value Value::Number(double number, bool is_int) {
  Value v;
  v.kind = Kind::kNumber;
  v.number = number;
  v.is_int = is_int;
  return v;
}

Value Value::Bool(bool b) {
  Value v;
  v.kind = Kind::kBool;
  v.boolean = b;
  return v;
}

Value Value::String(std::string s) {
  Value v;
  v.kind = Kind::kString;
  v.text = std::move(s);
  return v;
}

std::optional<int64_t> ExactInteger(double number) {
  if (!(std::abs(number) <= kMaxExactInteger) || number != std::floor(number)) return std::nullopt;
  return static_cast<int64_t>(number);
}

std::string KindName(const Value& value) {
  switch (value.kind) {
    case Value::Kind::kTensor: return "a tensor";
    case Value::Kind::kNumber: return value.is_int ? "an integer" : "a number";
    case Value::Kind::kBool: return "a boolean";
    case Value::Kind::kString: return "a string";
    case Value::Kind::kTuple: return "a tuple";
  }
  return "a value";
}

absl::StatusOr<Value> FoldNumbers(const Expr& op_expr, const Value& lhs, const Value& rhs) {
  const std::string& op = op_expr.text;
  bool is_int = lhs.is_int && rhs.is_int;
  double a = lhs.number, b = rhs.number;
  if (op == "+") return Value::Number(a + b, is_int);
  if (op == "-") return Value::Number(a - b, is_int);
  if (op == "*") return Value::Number(a * b, is_int);
  if (op == "**") return Value::Number(std::pow(a, b), is_int && b >= 0);
  if (op == "/") {
    if (b == 0) return ErrorAt(op_expr.loc, "division by zero in a constant expression");
    return Value::Number(a / b, false);
  }
  return ErrorAt(op_expr.loc, absl::StrCat("unknown operator '", op, "'"));
}

bool IsConstantFunction(const std::string& name) {
  return name == "sqrt" || name == "exp" || name == "log";
}

absl::StatusOr<Value> FoldFunction(const Expr& call, const Value& arg) {
  double x = arg.number;
  if (call.text == "sqrt") {
    if (x < 0) return ErrorAt(call.loc, "sqrt of a negative number");
    return Value::Number(std::sqrt(x), false);
  }
  if (call.text == "exp") return Value::Number(std::exp(x), false);
  if (x <= 0) return ErrorAt(call.loc, "log of a non-positive number");
  return Value::Number(std::log(x), false);
}

namespace {

absl::StatusOr<Value> EvalConstantCall(const Expr& call, const NameResolver& resolve) {
  if (!IsConstantFunction(call.text)) {
    return ErrorAt(call.loc, absl::StrCat("'", call.text,
                                          "' cannot be called here; only sqrt, exp and log"));
  }
  if (call.args.size() != 1 || !call.args[0].keyword.empty()) {
    return ErrorAt(call.loc, absl::StrCat(call.text, " takes one positional argument"));
  }
  KILN_ASSIGN_OR_RETURN(Value arg, EvalConstant(call.args[0].value, resolve));
  if (arg.kind != Value::Kind::kNumber) {
    return ErrorAt(call.args[0].value.loc,
                   absl::StrCat(call.text, " needs a number, got ", KindName(arg)));
  }
  return FoldFunction(call, arg);
}

}  // namespace

absl::StatusOr<Value> EvalConstant(const Expr& expr, const NameResolver& resolve) {
  switch (expr.kind) {
    case Expr::Kind::kNumber: return Value::Number(expr.number, expr.is_int);
    case Expr::Kind::kString: return Value::String(expr.text);
    case Expr::Kind::kName:
      if (expr.text == "true" || expr.text == "false") return Value::Bool(expr.text == "true");
      if (resolve) return resolve(expr);
      return ErrorAt(expr.loc, absl::StrCat("undefined name '", expr.text, "'"));
    case Expr::Kind::kCall: return EvalConstantCall(expr, resolve);
    case Expr::Kind::kTuple:
    case Expr::Kind::kList: {
      Value tuple;
      tuple.kind = Value::Kind::kTuple;
      for (const Expr& item : expr.operands) {
        KILN_ASSIGN_OR_RETURN(Value v, EvalConstant(item, resolve));
        tuple.items.push_back(std::move(v));
      }
      return tuple;
    }
    case Expr::Kind::kUnary:
    case Expr::Kind::kBinary: {
      std::vector<Value> operands;
      for (const Expr& operand : expr.operands) {
        KILN_ASSIGN_OR_RETURN(Value v, EvalConstant(operand, resolve));
        if (v.kind != Value::Kind::kNumber) {
          return ErrorAt(operand.loc, absl::StrCat("operator '", expr.text,
                                                   "' needs numbers, got ", KindName(v)));
        }
        operands.push_back(std::move(v));
      }
      if (expr.kind == Expr::Kind::kUnary) {
        return Value::Number(-operands[0].number, operands[0].is_int);
      }
      return FoldNumbers(expr, operands[0], operands[1]);
    }
  }
  return ErrorAt(expr.loc, "unsupported expression");
}

}  // namespace kiln::frontend
