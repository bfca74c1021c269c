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
            "independent[d0:128] steps[] rows[] slab[] chunk[d1.. 10/10] pushes=1 levels=0");
}

TEST(SummationPlanTest, LongVectorIsSplitIntoChunks) {
  EXPECT_EQ(Plan({1000000}, {true}),
            "independent[] steps[chunks:3907] rows[] slab[] chunk[d0.. 1000000/256] pushes=3907 "
            "levels=12");
}

TEST(SummationPlanTest, ColumnsCascadeOnePerColumnInBlocksOfRows) {
  // A bias gradient: each step adds 16 rows across the columns, then pushes one sum per column.
  EXPECT_EQ(Plan({60000, 256}, {true, false}),
            "independent[] steps[d0/16] rows[d0%16] slab[d1:256] chunk[] pushes=3750 levels=12");
  // A short column is one block: no cascade at all.
  EXPECT_EQ(Plan({10, 32}, {true, false}),
            "independent[] steps[] rows[d0:10] slab[d1:32] chunk[] pushes=1 levels=0");
  // A max-pool pick [N, OH, OW, KH, KW, C] over its 2x2 windows: both window dims are rows of
  // one block, so no cascade.
  EXPECT_EQ(Plan({64, 7, 7, 2, 2, 64}, {false, false, false, true, true, false}),
            "independent[d0:64 d1:7 d2:7] steps[] rows[d3:2 d4:2] slab[d5:64] chunk[] pushes=1 "
            "levels=0");
  // Reduced dims apart: the innermost one (d2) goes in blocks inside the steps over d0.
  EXPECT_EQ(Plan({3, 4, 40, 8}, {true, false, true, false}),
            "independent[] steps[d0:3 d2/16] rows[d2%16] slab[d1:4 d3:8] chunk[] pushes=9 "
            "levels=4");
}

TEST(SummationPlanTest, BatchNormChannels) {
  // [N, C, 28, 28] over (N, H, W): each 28x28 plane in chunks of 256, one cascade per channel.
  EXPECT_EQ(Plan({128, 64, 28, 28}, {true, false, true, true}),
            "independent[] steps[d0:128 chunks:4] rows[] slab[d1:64] chunk[d2.. 784/256] "
            "pushes=512 levels=10");
}

TEST(SummationPlanTest, WideSlabIsTiledToTheScratchBudget) {
  // 100,000 columns x 9 levels would not fit kLevelScratchFloats: tiles of 910 columns.
  EXPECT_EQ(Plan({5000, 100000}, {true, false}),
            "independent[d1/910] steps[d0/16] rows[d0%16] slab[d1%910] chunk[] pushes=313 "
            "levels=9");
}

TEST(SummationPlanTest, RankZeroIsOneElement) {
  EXPECT_EQ(Plan({}, {}), "independent[] steps[] rows[] slab[] chunk[] pushes=1 levels=0");
}

TEST(SummationPlanTest, ParallelLoop) {
  using Parallel = SummationPlan::Parallel;
  EXPECT_EQ(PlanSummation({128, 10}, {false, true}).parallel, Parallel::kIndependent);
  EXPECT_EQ(PlanSummation({128, 10}, {true, false}).parallel, Parallel::kSlab);
  EXPECT_EQ(PlanSummation({128, 10}, {true, true}).parallel, Parallel::kNone);
}

}  // namespace
}  // namespace kiln::codegen
