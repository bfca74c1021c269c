// The summation plan's loop groups for the layouts kiln's graphs produce (see
// codegen/summation_plan.h for what the groups mean; "d2/9" is dim 2's loop over blocks of 9,
// "d2%9" the loop within one block).
#include "codegen/summation_plan.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace kiln::codegen {
namespace {

std::string Plan(const ir::Shape& shape, const std::vector<bool>& reduced) {
  return PlanSummation(shape, reduced).ToString();
}

TEST(SummationPlanTest, ShortRowsAreOneChunkEach) {
  // softmax over 10 classes: one push per output, no levels.
  EXPECT_EQ(Plan({128, 10}, {false, true}),
            "independent[d0:128] steps[] slab[] chunk[d1.. 10/10] pushes=1 levels=0");
}

TEST(SummationPlanTest, LongVectorIsSplitIntoChunks) {
  EXPECT_EQ(Plan({1000000}, {true}),
            "independent[] steps[chunks:3907] slab[] chunk[d0.. 1000000/256] pushes=3907 "
            "levels=12");
}

TEST(SummationPlanTest, ColumnsCascadeOnePerColumn) {
  // A bias gradient: each row pushes one element per column.
  EXPECT_EQ(Plan({60000, 256}, {true, false}),
            "independent[] steps[d0:60000] slab[d1:256] chunk[] pushes=60000 levels=16");
}

TEST(SummationPlanTest, BatchNormChannels) {
  // [N, C, 28, 28] over (N, H, W): each 28x28 plane in chunks of 256, one cascade per channel.
  EXPECT_EQ(Plan({128, 64, 28, 28}, {true, false, true, true}),
            "independent[] steps[d0:128 chunks:4] slab[d1:64] chunk[d2.. 784/256] pushes=512 "
            "levels=10");
}

TEST(SummationPlanTest, WideSlabIsTiledToTheScratchBudget) {
  // 100,000 columns x 13 levels would not fit kLevelScratchFloats: tiles of 630 columns.
  EXPECT_EQ(Plan({5000, 100000}, {true, false}),
            "independent[d1/630] steps[d0:5000] slab[d1%630] chunk[] pushes=5000 levels=13");
}

TEST(SummationPlanTest, RankZeroIsOneElement) {
  EXPECT_EQ(Plan({}, {}), "independent[] steps[] slab[] chunk[] pushes=1 levels=0");
}

TEST(SummationPlanTest, ParallelLoop) {
  using Parallel = SummationPlan::Parallel;
  EXPECT_EQ(PlanSummation({128, 10}, {false, true}).parallel, Parallel::kIndependent);
  EXPECT_EQ(PlanSummation({128, 10}, {true, false}).parallel, Parallel::kSlab);
  EXPECT_EQ(PlanSummation({128, 10}, {true, true}).parallel, Parallel::kNone);
}

}  // namespace
}  // namespace kiln::codegen
