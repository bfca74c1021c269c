// The answer of a fusion predicate, after XLA's FusionDecision: "yes", or "no" with a short
// lowercase phrase naming the fact that forbade it, so that every kernel boundary the fusion pass
// leaves can say why it is there (`kiln compile --emit=fusion`, section "not fused").
//
//   FusionDecision CanShare(const Node& producer) {
//     if (users.size() > 1) return FusionDecision::Forbid("producer has users in 2 kernels");
//     return FusionDecision::Allow();
//   }
//   if (FusionDecision d = CanShare(p); !d) reasons.push_back(d.Explain());
#ifndef KILN_PASSES_FUSION_DECISION_H_
#define KILN_PASSES_FUSION_DECISION_H_

#include <cassert>
#include <optional>
#include <string>
#include <utility>

namespace kiln::passes {

class FusionDecision {
 public:
  static FusionDecision Allow() { return FusionDecision(std::nullopt); }
  static FusionDecision Forbid(std::string reason) {
    assert(!reason.empty() && "a forbidden fusion must say why");
    return FusionDecision(std::move(reason));
  }

  // True when fusion is allowed.
  explicit operator bool() const { return !reason_.has_value(); }
  bool CanFuse() const { return !reason_.has_value(); }

  // Why fusion was forbidden; empty when it was allowed.
  const std::string& Explain() const {
    static const std::string kAllowed;
    return reason_.has_value() ? *reason_ : kAllowed;
  }

 private:
  explicit FusionDecision(std::optional<std::string> reason) : reason_(std::move(reason)) {}

  std::optional<std::string> reason_;  // Set exactly when fusion is forbidden.
};

}  // namespace kiln::passes

#endif  // KILN_PASSES_FUSION_DECISION_H_
