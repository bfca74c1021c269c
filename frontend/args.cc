#include "frontend/args.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "support/status.h"

namespace kiln::frontend {

absl::StatusOr<Args> Args::Bind(const Signature& sig, const Expr& call, Evaluator eval) {
  Args args;
  args.callee_ = sig.callee;
  args.call_loc_ = call.loc;
  args.eval_ = std::move(eval);
  std::vector<std::string> names;
  for (const ParamSpec& p : sig.params) names.push_back(p.name);
  size_t positional = 0;
  for (const Arg& arg : call.args) {
    if (arg.keyword.empty()) {
      if (positional >= sig.params.size()) {
        return ErrorAt(arg.value.loc, absl::StrCat(sig.callee, " takes at most ",
                                                   sig.params.size(), " argument",
                                                   sig.params.size() == 1 ? "" : "s"));
      }
      args.bound_[sig.params[positional++].name] = &arg.value;
      continue;
    }
    bool known = false;
    for (const std::string& n : names) known = known || n == arg.keyword;
    if (!known) {
      return ErrorAt(arg.keyword_loc, absl::StrCat(sig.callee, " has no argument '", arg.keyword,
                                                   "'", DidYouMean(arg.keyword, names)));
    }
    if (args.bound_.count(arg.keyword)) {
      return ErrorAt(arg.keyword_loc, absl::StrCat(sig.callee, ": argument '", arg.keyword,
                                                   "' given twice"));
    }
    args.bound_[arg.keyword] = &arg.value;
  }
  for (const ParamSpec& p : sig.params) {
    if (p.required && !args.bound_.count(p.name)) {
      return ErrorAt(call.loc, absl::StrCat(sig.callee, ": missing argument '", p.name, "'"));
    }
  }
  return args;
}

const Expr* Args::Raw(const std::string& name) const {
  auto it = bound_.find(name);
  return it == bound_.end() ? nullptr : it->second;
}

namespace {
// What an integer argument must be, saying why where a whole number is too large to be exact.
std::string IntegerWanted(const Value& got) {
  const bool too_large = got.kind == Value::Kind::kNumber && std::abs(got.number) > kMaxExactInteger;
  return too_large ? "an integer within +-2^53" : "an integer";
}
}  // namespace

absl::Status Args::WrongKind(const std::string& name, const std::string& wanted,
                             const Value& got) const {
  // A number of the wrong kind (0.5 for an integer, 1e300 beyond 2^53) is shown as it is.
  std::string what = got.kind == Value::Kind::kNumber ? absl::StrCat(got.number) : KindName(got);
  return ErrorAt(Raw(name)->loc, absl::StrCat(callee_, ": '", name, "' must be ", wanted,
                                              ", got ", what));
}

absl::StatusOr<Value> Args::Get(const std::string& name) const {
  const Expr* expr = Raw(name);
  if (expr == nullptr) return ErrorAt(call_loc_, absl::StrCat(callee_, ": missing argument '",
                                                              name, "'"));
  if (auto it = values_.find(name); it != values_.end()) return it->second;
  KILN_ASSIGN_OR_RETURN(Value value, eval_(*expr));
  values_[name] = value;
  return value;
}

absl::StatusOr<ir::NodeId> Args::Tensor(const std::string& name) const {
  KILN_ASSIGN_OR_RETURN(Value v, Get(name));
  if (v.kind != Value::Kind::kTensor) return WrongKind(name, "a tensor", v);
  return v.node;
}

absl::StatusOr<int64_t> Args::Int(const std::string& name, int64_t fallback) const {
  if (!Has(name)) return fallback;
  KILN_ASSIGN_OR_RETURN(Value v, Get(name));
  std::optional<int64_t> integer =
      v.kind == Value::Kind::kNumber ? ExactInteger(v.number) : std::nullopt;
  if (!integer.has_value()) return WrongKind(name, IntegerWanted(v), v);
  return *integer;
}

absl::StatusOr<double> Args::Number(const std::string& name, double fallback) const {
  if (!Has(name)) return fallback;
  KILN_ASSIGN_OR_RETURN(Value v, Get(name));
  if (v.kind != Value::Kind::kNumber) return WrongKind(name, "a number", v);
  return v.number;
}

absl::StatusOr<bool> Args::Bool(const std::string& name, bool fallback) const {
  if (!Has(name)) return fallback;
  KILN_ASSIGN_OR_RETURN(Value v, Get(name));
  if (v.kind != Value::Kind::kBool) return WrongKind(name, "true or false", v);
  return v.boolean;
}

absl::StatusOr<std::string> Args::Word(const std::string& name,
                                       const std::string& fallback) const {
  const Expr* expr = Raw(name);
  if (expr == nullptr) return fallback;
  if (expr->kind == Expr::Kind::kName || expr->kind == Expr::Kind::kString) return expr->text;
  return ErrorAt(expr->loc, absl::StrCat(callee_, ": '", name, "' must be a name or a string"));
}

absl::StatusOr<std::vector<int64_t>> Args::Ints(const std::string& name) const {
  KILN_ASSIGN_OR_RETURN(Value v, Get(name));
  std::vector<Value> items = v.kind == Value::Kind::kTuple ? v.items : std::vector<Value>{v};
  std::vector<int64_t> ints;
  for (const Value& item : items) {
    std::optional<int64_t> integer =
        item.kind == Value::Kind::kNumber ? ExactInteger(item.number) : std::nullopt;
    if (!integer.has_value()) {
      return WrongKind(name, "an integer or a list of integers", item);
    }
    ints.push_back(*integer);
  }
  return ints;
}

absl::StatusOr<std::vector<double>> Args::Numbers(const std::string& name) const {
  KILN_ASSIGN_OR_RETURN(Value v, Get(name));
  std::vector<Value> items = v.kind == Value::Kind::kTuple ? v.items : std::vector<Value>{v};
  std::vector<double> numbers;
  for (const Value& item : items) {
    if (item.kind != Value::Kind::kNumber) {
      return WrongKind(name, "a number or a tuple of numbers", v);
    }
    numbers.push_back(item.number);
  }
  return numbers;
}

}  // namespace kiln::frontend
