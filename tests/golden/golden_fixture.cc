#include "tests/golden/golden_fixture.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"

namespace kiln::golden {
namespace {

constexpr double kFloor = 0.1;

// One tensor record's element width in bytes, or 0 for an unknown dtype.
size_t Width(const std::string& dtype) {
  if (dtype == "f32") return 4;
  if (dtype == "i64") return 8;
  if (dtype == "u8") return 1;
  return 0;
}

double ReadElement(const char* p, size_t width) {
  // The fixtures are little-endian, as is every host we run on.
  if (width == 4) {
    float f;
    std::memcpy(&f, p, 4);
    return f;
  }
  if (width == 8) {
    int64_t v;
    std::memcpy(&v, p, 8);
    return static_cast<double>(v);
  }
  return static_cast<uint8_t>(*p);
}

}  // namespace

const GoldTensor* Fixture::Find(const std::string& name) const {
  auto it = tensors.find(name);
  return it == tensors.end() ? nullptr : &it->second;
}

std::vector<double> Fixture::Values(const std::string& name) const {
  const GoldTensor* tensor = Find(name);
  EXPECT_NE(tensor, nullptr) << "the fixture has no tensor '" << name << "'";
  return tensor == nullptr ? std::vector<double>{} : tensor->values;
}

std::string Fixture::Meta(const std::string& key) const {
  for (const auto& [k, v] : meta) {
    if (k == key) return v;
  }
  return "";
}

std::vector<std::string> Fixture::MetaAll(const std::string& key) const {
  std::vector<std::string> values;
  for (const auto& [k, v] : meta) {
    if (k == key) values.push_back(v);
  }
  return values;
}

absl::StatusOr<Fixture> LoadFixture(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    return absl::NotFoundError(
        absl::StrCat(path, ": cannot open (run /usr/bin/python3 tests/golden/make_fixtures.py)"));
  }
  std::string data((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  size_t pos = 0;
  auto next_line = [&] {
    size_t end = std::min(data.find('\n', pos), data.size());
    std::string line = data.substr(pos, end - pos);
    pos = std::min(end + 1, data.size());
    return line;
  };
  if (next_line() != "KILNGOLD 1") return absl::DataLossError(path + ": not a kiln fixture");
  Fixture fixture;
  while (pos < data.size()) {
    std::string line = next_line();
    std::vector<std::string> words = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (words.size() >= 2 && words[0] == "meta") {
      fixture.meta.emplace_back(words[1], line.substr(line.find(words[1]) + words[1].size() + 1));
      continue;
    }
    int64_t rank = 0;
    if (words.size() < 4 || words[0] != "tensor" || !absl::SimpleAtoi(words[3], &rank) ||
        static_cast<int64_t>(words.size()) != 4 + rank) {
      return absl::DataLossError(absl::StrCat(path, ": bad record '", line, "'"));
    }
    GoldTensor tensor;
    tensor.dtype = words[2];
    int64_t count = 1;
    for (int64_t d = 0; d < rank; ++d) {
      int64_t dim = 0;
      if (!absl::SimpleAtoi(words[4 + d], &dim)) return absl::DataLossError(path + ": bad dim");
      tensor.shape.push_back(dim);
      count *= dim;
    }
    const size_t width = Width(tensor.dtype);
    if (width == 0 || pos + count * width > data.size()) {
      return absl::DataLossError(absl::StrCat(path, ": truncated or bad tensor ", words[1]));
    }
    for (int64_t i = 0; i < count; ++i, pos += width) {
      tensor.values.push_back(ReadElement(data.data() + pos, width));
    }
    fixture.tensors[words[1]] = std::move(tensor);
  }
  return fixture;
}

testing::AssertionResult AllClose(const std::string& what, const std::vector<double>& got,
                                  const std::vector<double>& want, double rtol) {
  if (got.size() != want.size()) {
    return testing::AssertionFailure()
           << what << ": kiln has " << got.size() << " values, PyTorch " << want.size();
  }
  double scale = 0.0;
  for (double w : want) scale = std::max(scale, std::abs(w));
  int64_t misses = 0, worst_at = -1;
  double worst = 0.0;
  for (size_t i = 0; i < want.size(); ++i) {
    double allowed = rtol * std::max(std::abs(want[i]), kFloor * scale);
    double error = std::abs(got[i] - want[i]);
    double units = allowed > 0 ? error / allowed : (error > 0 ? INFINITY : 0.0);
    if (!(units <= 1.0)) ++misses;  // NaN counts as a miss.
    if (!(units <= worst)) {
      worst = units;
      worst_at = static_cast<int64_t>(i);
    }
  }
  if (misses == 0) return testing::AssertionSuccess();
  return testing::AssertionFailure() << absl::StrFormat(
             "%s: worst at [%d]: kiln %.9g vs PyTorch %.9g (%.3g x tolerance), %d of %d outside",
             what, worst_at, got[worst_at], want[worst_at], worst, misses, want.size());
}

double HashedWeight(uint64_t salt, uint64_t index, double scale) {
  constexpr uint64_t kMask = 0xFFFFFFFFu;
  uint64_t h = (index * 2654435761u + salt * 40503u + 12345u) & kMask;
  h ^= h >> 15;
  h = (h * 2246822519u) & kMask;
  h ^= h >> 13;
  h = (h * 3266489917u) & kMask;
  h ^= h >> 16;
  const int64_t k = static_cast<int64_t>(h % 2001) - 1000;
  return (static_cast<double>(k) / 1000.0) * scale;
}

std::map<std::string, double> ParseHparams(const std::string& text) {
  std::map<std::string, double> hparams;
  for (absl::string_view item : absl::StrSplit(text, ' ', absl::SkipEmpty())) {
    std::pair<std::string, std::string> kv = absl::StrSplit(item, '=');
    double value = 0;
    EXPECT_TRUE(absl::SimpleAtod(kv.second, &value)) << item;
    hparams[kv.first] = value;
  }
  return hparams;
}

}  // namespace kiln::golden
