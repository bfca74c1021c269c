#include "tests/codegen/cuda/cuda_test_util.h"

#include <bit>
#include <cmath>
#include <regex>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace kiln::cuda::testing {
namespace {

using Env = std::map<std::string, Scalar>;

Scalar F(float v) { return {Scalar::kF32, v, 0, false}; }
Scalar I(int64_t v) { return {Scalar::kI64, 0, v, false}; }
Scalar B(bool v) { return {Scalar::kBool, 0, 0, v}; }

absl::StatusOr<Scalar> Eval(const std::string& e, const Env& env) {
  static const std::regex kName(R"(^(\w+)$)");
  static const std::regex kDecimal(R"(^(-?\d+)ll$)");
  static const std::regex kHexI64(R"(^\(long long\)0x([0-9a-f]{16})ull$)");
  static const std::regex kHexFloat(R"(^(-?0x[0-9a-fp.+-]+)f$)");
  static const std::regex kFloatBits(R"(^__int_as_float\(0x([0-9a-f]{8})\)$)");
  static const std::regex kWrap(
      R"(^\(long long\)\(\(unsigned long long\)(\w+) ([+*]) \(unsigned long long\)(\w+)\)$)");
  static const std::regex kShr(R"(^\(long long\)\(\(unsigned long long\)(\w+) >> (\d+)\)$)");
  static const std::regex kBinary(R"(^(\w+) (\+|-|\*|/|\^|>|>=|==|!=) (\w+)$)");
  static const std::regex kCall1(R"(^(expf|logf|sqrtf|fabsf)\((\w+)\)$)");
  static const std::regex kCall2(R"(^(fmaxf|fminf|powf)\((\w+), (\w+)\)$)");
  static const std::regex kCast(R"(^\((float|long long)\)(\w+)$)");
  static const std::regex kSelect(R"(^(\w+) \? (\w+) : (\w+)$)");
  static const std::regex kNeg(R"(^-(v\d+)$)");
  std::smatch m;
  auto get = [&env](const std::string& name) -> absl::StatusOr<Scalar> {
    auto it = env.find(name);
    if (it == env.end()) return absl::NotFoundError("undefined " + name);
    return it->second;
  };
  if (std::regex_match(e, m, kDecimal)) return I(std::stoll(m[1]));
  if (std::regex_match(e, m, kHexI64)) return I(static_cast<int64_t>(std::stoull(m[1], nullptr, 16)));
  if (std::regex_match(e, m, kHexFloat)) return F(std::strtof(m[1].str().c_str(), nullptr));
  if (std::regex_match(e, m, kFloatBits)) {
    return F(std::bit_cast<float>(static_cast<uint32_t>(std::stoul(m[1], nullptr, 16))));
  }
  if (std::regex_match(e, m, kName)) return get(m[1]);
  if (std::regex_match(e, m, kWrap)) {
    auto a = get(m[1]), b = get(m[3]);
    if (!a.ok() || !b.ok()) return absl::NotFoundError(e);
    uint64_t x = static_cast<uint64_t>(a->i64), y = static_cast<uint64_t>(b->i64);
    return I(static_cast<int64_t>(m[2] == "+" ? x + y : x * y));
  }
  if (std::regex_match(e, m, kShr)) {
    auto a = get(m[1]);
    if (!a.ok()) return a.status();
    return I(static_cast<int64_t>(static_cast<uint64_t>(a->i64) >> std::stoi(m[2])));
  }
  if (std::regex_match(e, m, kCast)) {
    auto a = get(m[2]);
    if (!a.ok()) return a.status();
    if (m[1] == "float") return F(static_cast<float>(a->i64));
    return I(static_cast<int64_t>(a->f32));
  }
  if (std::regex_match(e, m, kCall1)) {
    auto a = get(m[2]);
    if (!a.ok()) return a.status();
    float x = a->f32;
    const std::string fn = m[1];
    return F(fn == "expf" ? std::exp(x) : fn == "logf" ? std::log(x) : fn == "sqrtf" ? std::sqrt(x) : std::fabs(x));
  }
  if (std::regex_match(e, m, kCall2)) {
    auto a = get(m[2]), b = get(m[3]);
    if (!a.ok() || !b.ok()) return absl::NotFoundError(e);
    const std::string fn = m[1];
    return F(fn == "fmaxf" ? std::fmax(a->f32, b->f32)
             : fn == "fminf" ? std::fmin(a->f32, b->f32) : std::pow(a->f32, b->f32));
  }
  if (std::regex_match(e, m, kSelect)) {
    auto c = get(m[1]), t = get(m[2]), f = get(m[3]);
    if (!c.ok() || !t.ok() || !f.ok()) return absl::NotFoundError(e);
    return c->boolean ? *t : *f;
  }
  if (std::regex_match(e, m, kNeg)) {
    auto a = get(m[1]);
    if (!a.ok()) return a.status();
    return F(-a->f32);
  }
  if (std::regex_match(e, m, kBinary)) {
    auto a = get(m[1]), b = get(m[3]);
    if (!a.ok() || !b.ok()) return absl::NotFoundError(e);
    const std::string op = m[2];
    if (op == "^") return I(a->i64 ^ b->i64);
    if (a->type == Scalar::kI64) {
      if (op == ">") return B(a->i64 > b->i64);
      if (op == ">=") return B(a->i64 >= b->i64);
      if (op == "==") return B(a->i64 == b->i64);
      if (op == "!=") return B(a->i64 != b->i64);
    }
    float x = a->f32, y = b->f32;
    if (op == "+") return F(x + y);
    if (op == "-") return F(x - y);
    if (op == "*") return F(x * y);
    if (op == "/") return F(x / y);
    if (op == ">") return B(x > y);
    if (op == ">=") return B(x >= y);
    if (op == "==") return B(x == y);
    if (op == "!=") return B(x != y);
  }
  return absl::UnimplementedError("cannot interpret: " + e);
}

}  // namespace

absl::StatusOr<std::map<std::string, Scalar>> Interpret(const std::string& code, Env env) {
  static const std::regex kLine(R"(^\s*const (float|long long|bool) (v\d+) = (.*);$)");
  // Two-operand forms whose operand is a literal ("v3 != 0.0f", "v2 ? 1.0f : 0.0f") are
  // rewritten through temporaries so Eval only sees names.
  static const std::regex kLiteralCompare(R"(^(\w+) != (0\.0f|0ll)$)");
  static const std::regex kBoolToNumber(R"(^(\w+) \? (1\.0f|1ll) : (0\.0f|0ll)$)");
  std::istringstream lines(code);
  std::string line;
  std::smatch m;
  while (std::getline(lines, line)) {
    if (line.find_first_not_of(' ') == std::string::npos) continue;
    if (!std::regex_match(line, m, kLine)) return absl::UnimplementedError("not a value: " + line);
    const std::string type = m[1], name = m[2], expr = m[3];
    std::smatch lit;
    absl::StatusOr<Scalar> value = absl::UnknownError("");
    if (std::regex_match(expr, lit, kLiteralCompare)) {
      const Scalar& a = env[lit[1]];
      value = B(a.type == Scalar::kF32 ? a.f32 != 0.0f : a.i64 != 0);
    } else if (std::regex_match(expr, lit, kBoolToNumber)) {
      bool c = env[lit[1]].boolean;
      value = lit[2] == "1.0f" ? F(c ? 1.0f : 0.0f) : I(c ? 1 : 0);
    } else {
      value = Eval(expr, env);
    }
    if (!value.ok()) return value.status();
    Scalar::Type want = type == "float" ? Scalar::kF32 : type == "bool" ? Scalar::kBool : Scalar::kI64;
    if (value->type != want) return absl::InternalError("type mismatch in: " + line);
    env[name] = *value;
  }
  return env;
}

}  // namespace kiln::cuda::testing
