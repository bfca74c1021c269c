#include "tools/tune/search_space.h"

#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"

namespace kiln::tools {

absl::StatusOr<SearchDimension> ParseSearchDimension(const std::string& text) {
  auto bad = [&](const std::string& why) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--space '", text, "': ", why,
        " (expected NAME=choice(a,b,..), uniform(lo,hi), loguniform(lo,hi) or randint(lo,hi))"));
  };
  const size_t eq = text.find('=');
  const size_t open = text.find('(', eq == std::string::npos ? 0 : eq);
  if (eq == std::string::npos || eq == 0 || open == std::string::npos || text.back() != ')') {
    return bad("not NAME=KIND(ARGS)");
  }
  SearchDimension d;
  d.name = std::string(absl::StripAsciiWhitespace(text.substr(0, eq)));
  const std::string kind(absl::StripAsciiWhitespace(text.substr(eq + 1, open - eq - 1)));
  std::vector<std::string> args;
  for (absl::string_view arg : absl::StrSplit(text.substr(open + 1, text.size() - open - 2), ',')) {
    args.emplace_back(absl::StripAsciiWhitespace(arg));
    if (args.back().empty()) return bad("an empty argument");
  }
  if (kind == "choice") {
    if (args.empty()) return bad("choice() needs at least one value");
    d.kind = SearchDimension::Kind::kChoice;
    d.choices = args;
    return d;
  }
  if (kind == "uniform")
    d.kind = SearchDimension::Kind::kUniform;
  else if (kind == "loguniform")
    d.kind = SearchDimension::Kind::kLogUniform;
  else if (kind == "randint")
    d.kind = SearchDimension::Kind::kRandInt;
  else
    return bad(absl::StrCat("unknown kind '", kind, "'"));
  if (args.size() != 2 || !absl::SimpleAtod(args[0], &d.low) ||
      !absl::SimpleAtod(args[1], &d.high) || !(d.low < d.high)) {
    return bad(absl::StrCat(kind, " needs two numbers lo < hi"));
  }
  if (d.kind == SearchDimension::Kind::kLogUniform && d.low <= 0) {
    return bad("loguniform needs lo > 0");
  }
  return d;
}

std::vector<ModelSetting> SampleConfiguration(const std::vector<SearchDimension>& space,
                                              std::mt19937_64& rng) {
  std::vector<ModelSetting> settings;
  for (const SearchDimension& d : space) {
    std::string value;
    switch (d.kind) {
      case SearchDimension::Kind::kChoice:
        value = d.choices[std::uniform_int_distribution<size_t>(0, d.choices.size() - 1)(rng)];
        break;
      case SearchDimension::Kind::kUniform:
        value = absl::StrFormat("%.6g", std::uniform_real_distribution<double>(d.low, d.high)(rng));
        break;
      case SearchDimension::Kind::kLogUniform:
        value = absl::StrFormat("%.6g", std::exp(std::uniform_real_distribution<double>(
                                            std::log(d.low), std::log(d.high))(rng)));
        break;
      case SearchDimension::Kind::kRandInt:
        value = absl::StrCat(std::uniform_int_distribution<int64_t>(
            static_cast<int64_t>(std::ceil(d.low)), static_cast<int64_t>(std::floor(d.high)))(rng));
        break;
    }
    settings.push_back({d.name, value});
  }
  return settings;
}

}  // namespace kiln::tools
