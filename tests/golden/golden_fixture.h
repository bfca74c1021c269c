// Reads the ".kgf" PyTorch fixtures that tests/golden/make_fixtures.py writes and compares kiln's
// results with them under the scripts' tolerance rule, for parity tests that need no Python.
//
//   absl::StatusOr<golden::Fixture> f = golden::LoadFixture("tests/golden/batch_norm.kgf");
//   EXPECT_TRUE(golden::AllClose("out", kiln_out, f->Values("bn2d.out1"), 1e-4));
//
// Format: the line "KILNGOLD 1", then "meta KEY VALUE...\n" lines and
// "tensor NAME DTYPE RANK D0 D1 ...\n" headers each followed by raw little-endian data
// (DTYPE f32 | i64 | u8, row-major).
#ifndef KILN_TESTS_GOLDEN_GOLDEN_FIXTURE_H_
#define KILN_TESTS_GOLDEN_GOLDEN_FIXTURE_H_

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "gtest/gtest.h"

namespace kiln::golden {

struct GoldTensor {
  std::string dtype;  // f32 | i64 | u8
  std::vector<int64_t> shape;
  std::vector<double> values;
};

struct Fixture {
  std::vector<std::pair<std::string, std::string>> meta;  // In file order; keys may repeat.
  std::map<std::string, GoldTensor> tensors;

  const GoldTensor* Find(const std::string& name) const;
  // The tensor's values; empty (and a test failure naming it) when the fixture lacks it.
  std::vector<double> Values(const std::string& name) const;
  // The value of the first "meta KEY ..." line with this key ("" when there is none).
  std::string Meta(const std::string& key) const;
  // The values of every "meta KEY ..." line with this key.
  std::vector<std::string> MetaAll(const std::string& key) const;
};

absl::StatusOr<Fixture> LoadFixture(const std::string& path);

// |got - want| <= rtol * max(|want|, 0.1 * max_j |want_j|) for every element: relative, with
// values under 10% of the tensor's largest magnitude judged against that 10%, because a float32
// sum of mixed-sign terms cannot give a tiny result to rtol of itself.
testing::AssertionResult AllClose(const std::string& what, const std::vector<double>& got,
                                  const std::vector<double>& want, double rtol);

// make_fixtures.py's InitialWeight hash: an integer hash of (salt, index) mapped to
// U(-scale, scale) in steps of scale/1000, in double; exact in both languages, so fixtures need
// not store initial weights.
double HashedWeight(uint64_t salt, uint64_t index, double scale);

// "lr=0.001 weight_decay=0.0001" -> {lr: 0.001, weight_decay: 0.0001}.
std::map<std::string, double> ParseHparams(const std::string& text);

}  // namespace kiln::golden

#endif  // KILN_TESTS_GOLDEN_GOLDEN_FIXTURE_H_
