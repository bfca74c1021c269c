// kiln tune's search space: `--space 'hidden=choice(4,8,16)'`, `'lr=loguniform(1e-4,1e-1)'`,
// `'dropout=uniform(0.1,0.5)'`, `'batch_size=randint(16,128)'` (both ends included), each a
// --set NAME=VALUE per trial. Sampling is seeded and draws the dimensions in the order given,
// so --seed S reproduces a search's configurations.
#ifndef KILN_TOOLS_TUNE_SEARCH_SPACE_H_
#define KILN_TOOLS_TUNE_SEARCH_SPACE_H_

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tools/model_settings.h"

namespace kiln::tools {

struct SearchDimension {
  enum class Kind { kChoice, kUniform, kLogUniform, kRandInt };
  std::string name;
  Kind kind = Kind::kChoice;
  std::vector<std::string> choices;  // kChoice: the values as written.
  double low = 0, high = 0;          // The others.
};

// "NAME=KIND(ARGS)"; errors quote the text and say what was expected.
absl::StatusOr<SearchDimension> ParseSearchDimension(const std::string& text);

// One trial's values, one per dimension in order ("%.6g" for sampled reals).
std::vector<ModelSetting> SampleConfiguration(const std::vector<SearchDimension>& space,
                                              std::mt19937_64& rng);

}  // namespace kiln::tools

#endif  // KILN_TOOLS_TUNE_SEARCH_SPACE_H_
