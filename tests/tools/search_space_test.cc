// kiln tune's --space parsing and seeded sampling (tools/tune/search_space.h).
#include "tools/tune/search_space.h"

#include <cmath>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace kiln::tools {
namespace {

TEST(SearchSpaceTest, ParsesEachKind) {
  auto choice = ParseSearchDimension("hidden=choice(4, 8,16)");
  ASSERT_TRUE(choice.ok()) << choice.status();
  EXPECT_EQ(choice->name, "hidden");
  EXPECT_EQ(choice->choices, (std::vector<std::string>{"4", "8", "16"}));
  auto lr = ParseSearchDimension("lr=loguniform(1e-4,1e-1)");
  ASSERT_TRUE(lr.ok()) << lr.status();
  EXPECT_EQ(lr->kind, SearchDimension::Kind::kLogUniform);
  EXPECT_EQ(lr->low, 1e-4);
  EXPECT_EQ(lr->high, 1e-1);
  EXPECT_TRUE(ParseSearchDimension("p=uniform(0,1)").ok());
  EXPECT_TRUE(ParseSearchDimension("batch_size=randint(16,128)").ok());
}

TEST(SearchSpaceTest, RejectsMalformedDimensions) {
  EXPECT_FALSE(ParseSearchDimension("hidden").ok());
  EXPECT_FALSE(ParseSearchDimension("lr=loguniform(0,1)").ok()) << "log of 0";
  EXPECT_FALSE(ParseSearchDimension("lr=uniform(1,1)").ok());
  EXPECT_FALSE(ParseSearchDimension("h=choice(1,,2)").ok());
  EXPECT_EQ(ParseSearchDimension("lr=normal(0,1)").status().message(),
            "--space 'lr=normal(0,1)': unknown kind 'normal' (expected NAME=choice(a,b,..), "
            "uniform(lo,hi), loguniform(lo,hi) or randint(lo,hi))");
}

TEST(SearchSpaceTest, SamplesStayInRangeAndRepeatWithTheSeed) {
  std::vector<SearchDimension> space = {*ParseSearchDimension("hidden=choice(4,8,16)"),
                                        *ParseSearchDimension("lr=loguniform(1e-4,1e-1)"),
                                        *ParseSearchDimension("b=randint(1,3)")};
  std::mt19937_64 rng(7), again(7);
  std::set<std::string> hidden, b;
  for (int i = 0; i < 200; ++i) {
    std::vector<ModelSetting> s = SampleConfiguration(space, rng);
    std::vector<ModelSetting> t = SampleConfiguration(space, again);
    ASSERT_EQ(s.size(), 3u);
    EXPECT_EQ(s[0].name, "hidden");
    EXPECT_EQ(s[1].value, t[1].value) << "same seed, same draws";
    hidden.insert(s[0].value);
    b.insert(s[2].value);
    const double lr = std::stod(s[1].value);
    EXPECT_GE(lr, 1e-4 * 0.99999);
    EXPECT_LE(lr, 1e-1 * 1.00001);
  }
  EXPECT_EQ(hidden, (std::set<std::string>{"4", "8", "16"}));
  EXPECT_EQ(b, (std::set<std::string>{"1", "2", "3"})) << "randint includes both ends";
}

}  // namespace
}  // namespace kiln::tools
