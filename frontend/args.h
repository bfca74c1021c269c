// Matches a call's arguments to a callee's parameter list the way Python does (positional in
// order, then by keyword) and reads them as typed values with located errors. Ops, layers,
// blocks, initializers, optimizers and data sources all take their arguments through here, so
// "unknown keyword, did you mean" reads the same everywhere.
#ifndef KILN_FRONTEND_ARGS_H_
#define KILN_FRONTEND_ARGS_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "frontend/ast.h"
#include "frontend/value.h"

namespace kiln::frontend {

struct ParamSpec {
  std::string name;
  bool required = false;
};

struct Signature {
  std::string callee;  // Used in messages: "linear has no argument 'bais'".
  std::vector<ParamSpec> params;
};

class Args {
 public:
  using Evaluator = std::function<absl::StatusOr<Value>(const Expr&)>;

  // Binds `call`'s arguments (a kCall, or a kName standing for a call without arguments).
  static absl::StatusOr<Args> Bind(const Signature& sig, const Expr& call, Evaluator eval);

  const SourceLoc& call_loc() const { return call_loc_; }
  const std::string& callee() const { return callee_; }
  bool Has(const std::string& name) const { return bound_.count(name) > 0; }
  // The unevaluated argument, or nullptr.
  const Expr* Raw(const std::string& name) const;

  // Evaluates the argument; each argument is evaluated once, however often it is read, so the
  // nodes it builds exist once.
  absl::StatusOr<Value> Get(const std::string& name) const;
  absl::StatusOr<ir::NodeId> Tensor(const std::string& name) const;
  absl::StatusOr<int64_t> Int(const std::string& name, int64_t fallback) const;
  absl::StatusOr<double> Number(const std::string& name, double fallback) const;
  absl::StatusOr<bool> Bool(const std::string& name, bool fallback) const;
  // A string literal or a bare word: reduction="mean" and reduction=mean both work.
  absl::StatusOr<std::string> Word(const std::string& name, const std::string& fallback) const;
  // An integer or a list of integers.
  absl::StatusOr<std::vector<int64_t>> Ints(const std::string& name) const;
  // A number or a tuple of numbers.
  absl::StatusOr<std::vector<double>> Numbers(const std::string& name) const;

 private:
  absl::Status WrongKind(const std::string& name, const std::string& wanted,
                         const Value& got) const;

  std::string callee_;
  SourceLoc call_loc_;
  std::map<std::string, const Expr*> bound_;
  Evaluator eval_;
  mutable std::map<std::string, Value> values_;
};

}  // namespace kiln::frontend

#endif  // KILN_FRONTEND_ARGS_H_
