#include "frontend/initializers.h"

#include <cmath>
#include <functional>

#include "absl/strings/str_cat.h"
#include "frontend/args.h"
#include "support/status.h"

namespace kiln::frontend {
namespace {

ir::Attrs Uniform(double low, double high) {
  return {{"init", std::string("uniform")}, {"low", low}, {"high", high}};
}
ir::Attrs Normal(double mean, double std) {
  return {{"init", std::string("normal")}, {"mean", mean}, {"std", std}};
}

absl::StatusOr<int64_t> RequireFans(const Args& args, const Fans& fans) {
  if (!fans.known) {
    return ErrorAt(args.call_loc(), absl::StrCat(args.callee(),
                                                 " needs a weight of rank 2 or more to compute "
                                                 "its fan_in and fan_out"));
  }
  return fans.in;
}

// kaiming_*: std = gain / sqrt(fan), fan = fan_in or fan_out.
absl::StatusOr<double> KaimingStd(const Args& args, const Fans& fans) {
  KILN_RETURN_IF_ERROR(RequireFans(args, fans).status());
  KILN_ASSIGN_OR_RETURN(double a, args.Number("a", 0.0));
  KILN_ASSIGN_OR_RETURN(std::string mode, args.Word("mode", "fan_in"));
  KILN_ASSIGN_OR_RETURN(std::string nonlinearity, args.Word("nonlinearity", "leaky_relu"));
  if (mode != "fan_in" && mode != "fan_out") {
    return ErrorAt(args.Raw("mode")->loc, absl::StrCat("mode must be fan_in or fan_out, got '",
                                                       mode, "'"));
  }
  auto gain = Gain(nonlinearity, a);
  if (!gain.ok()) return ErrorAt(args.Raw("nonlinearity")->loc, gain.status().message());
  return *gain / std::sqrt(static_cast<double>(mode == "fan_in" ? fans.in : fans.out));
}

// xavier_*: std = gain * sqrt(2 / (fan_in + fan_out)).
absl::StatusOr<double> XavierStd(const Args& args, const Fans& fans) {
  KILN_RETURN_IF_ERROR(RequireFans(args, fans).status());
  KILN_ASSIGN_OR_RETURN(double gain, args.Number("gain", 1.0));
  return gain * std::sqrt(2.0 / static_cast<double>(fans.in + fans.out));
}

struct InitDef {
  Signature signature;
  std::function<absl::StatusOr<ir::Attrs>(const Args&, const Fans&)> attrs;
};

const std::vector<InitDef>& Initializers() {
  static const auto* table = new std::vector<InitDef>{
      {{"uniform", {{"a"}, {"b"}}},
       [](const Args& args, const Fans&) -> absl::StatusOr<ir::Attrs> {
         KILN_ASSIGN_OR_RETURN(double a, args.Number("a", 0.0));
         KILN_ASSIGN_OR_RETURN(double b, args.Number("b", 1.0));
         return Uniform(a, b);
       }},
      {{"normal", {{"mean"}, {"std"}}},
       [](const Args& args, const Fans&) -> absl::StatusOr<ir::Attrs> {
         KILN_ASSIGN_OR_RETURN(double mean, args.Number("mean", 0.0));
         KILN_ASSIGN_OR_RETURN(double std, args.Number("std", 1.0));
         return Normal(mean, std);
       }},
      {{"constant", {{"value", true}}},
       [](const Args& args, const Fans&) -> absl::StatusOr<ir::Attrs> {
         KILN_ASSIGN_OR_RETURN(double value, args.Number("value", 0.0));
         return ConstantInit(value);
       }},
      {{"zeros", {}}, [](const Args&, const Fans&) -> absl::StatusOr<ir::Attrs> {
         return ConstantInit(0.0);
       }},
      {{"ones", {}}, [](const Args&, const Fans&) -> absl::StatusOr<ir::Attrs> {
         return ConstantInit(1.0);
       }},
      {{"kaiming_uniform", {{"a"}, {"mode"}, {"nonlinearity"}}},
       [](const Args& args, const Fans& fans) -> absl::StatusOr<ir::Attrs> {
         KILN_ASSIGN_OR_RETURN(double std, KaimingStd(args, fans));
         double bound = std::sqrt(3.0) * std;
         return Uniform(-bound, bound);
       }},
      {{"kaiming_normal", {{"a"}, {"mode"}, {"nonlinearity"}}},
       [](const Args& args, const Fans& fans) -> absl::StatusOr<ir::Attrs> {
         KILN_ASSIGN_OR_RETURN(double std, KaimingStd(args, fans));
         return Normal(0.0, std);
       }},
      {{"xavier_uniform", {{"gain"}}},
       [](const Args& args, const Fans& fans) -> absl::StatusOr<ir::Attrs> {
         KILN_ASSIGN_OR_RETURN(double std, XavierStd(args, fans));
         double bound = std::sqrt(3.0) * std;
         return Uniform(-bound, bound);
       }},
      {{"xavier_normal", {{"gain"}}},
       [](const Args& args, const Fans& fans) -> absl::StatusOr<ir::Attrs> {
         KILN_ASSIGN_OR_RETURN(double std, XavierStd(args, fans));
         return Normal(0.0, std);
       }},
  };
  return *table;
}

}  // namespace

Fans FansOf(const ir::Shape& shape) {
  Fans fans;
  if (shape.size() < 2) return fans;
  fans.known = true;
  if (shape.size() == 2) {
    fans.in = shape[0];
    fans.out = shape[1];
    return fans;
  }
  int64_t receptive = 1;
  for (size_t i = 2; i < shape.size(); ++i) receptive *= shape[i];
  fans.in = shape[1] * receptive;
  fans.out = shape[0] * receptive;
  return fans;
}

absl::StatusOr<double> Gain(const std::string& nonlinearity, double param) {
  if (nonlinearity == "linear" || nonlinearity == "sigmoid" ||
      nonlinearity.rfind("conv", 0) == 0) {
    return 1.0;
  }
  if (nonlinearity == "tanh") return 5.0 / 3.0;
  if (nonlinearity == "relu") return std::sqrt(2.0);
  if (nonlinearity == "leaky_relu") return std::sqrt(2.0 / (1.0 + param * param));
  if (nonlinearity == "selu") return 3.0 / 4.0;
  std::vector<std::string> known = {"linear", "sigmoid", "tanh", "relu", "leaky_relu", "selu"};
  return absl::InvalidArgumentError(absl::StrCat("unknown nonlinearity '", nonlinearity, "'",
                                                 DidYouMean(nonlinearity, known)));
}

ir::Attrs UniformFanIn(int64_t fan_in) {
  double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
  return Uniform(-bound, bound);
}

std::vector<std::string> InitializerNames() {
  std::vector<std::string> names;
  for (const InitDef& def : Initializers()) names.push_back(def.signature.callee);
  return names;
}

absl::StatusOr<ir::Attrs> InitAttrs(const Expr& init, const Fans& fans,
                                    const NameResolver& resolve) {
  if (init.kind != Expr::Kind::kCall && init.kind != Expr::Kind::kName) {
    return ErrorAt(init.loc, "expected an initializer such as normal(0, 0.01) or zeros");
  }
  for (const InitDef& def : Initializers()) {
    if (def.signature.callee != init.text) continue;
    auto eval = [&resolve](const Expr& e) { return EvalConstant(e, resolve); };
    KILN_ASSIGN_OR_RETURN(Args args, Args::Bind(def.signature, init, eval));
    return def.attrs(args, fans);
  }
  return ErrorAt(init.loc, absl::StrCat("unknown initializer '", init.text, "'",
                                        DidYouMean(init.text, InitializerNames())));
}

ir::Attrs ConstantInit(double value) {
  return {{"init", std::string("constant")}, {"value", value}};
}

}  // namespace kiln::frontend
