// WindowGeometry::WithoutDeadTaps: the trimmed window reads exactly the input positions the
// full window reads inside the input, at every output position.
#include "ir/ops/window_geometry.h"

#include <set>
#include <tuple>
#include <vector>

#include "gtest/gtest.h"

namespace kiln::ir {
namespace {

// A window over one spatial dim (the other is 1 wide).
absl::StatusOr<WindowGeometry> Geometry(int64_t in, int64_t kernel, int64_t stride, int64_t pad,
                                        int64_t dilation) {
  Attrs attrs;
  attrs.Set("kernel", std::vector<int64_t>{kernel, 1});
  attrs.Set("stride", std::vector<int64_t>{stride, 1});
  attrs.Set("padding", std::vector<int64_t>{pad, 0});
  attrs.Set("dilation", std::vector<int64_t>{dilation, 1});
  return WindowGeometry::FromAttrs(attrs, in, 1);
}

TEST(WindowGeometryTest, ThreeByThreeWithPaddingOneOnOnePixelKeepsTheCentre) {
  Attrs attrs;
  attrs.Set("kernel", std::vector<int64_t>{3, 3});
  attrs.Set("padding", std::vector<int64_t>{1, 1});
  const WindowGeometry::Trimmed t = WindowGeometry::FromAttrs(attrs, 1, 1)->WithoutDeadTaps();
  EXPECT_EQ(t.first_h, 1);
  EXPECT_EQ(t.first_w, 1);
  EXPECT_EQ(t.geometry.kernel_h, 1);
  EXPECT_EQ(t.geometry.kernel_w, 1);
  EXPECT_EQ(t.geometry.pad_h, 0);
  EXPECT_EQ(t.geometry.pad_w, 0);
  EXPECT_EQ(t.geometry.out_h, 1);
}

TEST(WindowGeometryTest, StrideTwoOnTwoPixelsDropsTheFirstTap) {
  const WindowGeometry::Trimmed t = Geometry(2, 3, 2, 1, 1)->WithoutDeadTaps();
  EXPECT_EQ(t.first_h, 1);
  EXPECT_EQ(t.geometry.kernel_h, 2);
  EXPECT_EQ(t.geometry.pad_h, 0);
}

TEST(WindowGeometryTest, EveryTapLiveKeepsTheWindow) {
  const WindowGeometry g = *Geometry(2, 3, 1, 1, 1);  // ResNet-18's layer3: 3x3 on 2x2.
  const WindowGeometry::Trimmed t = g.WithoutDeadTaps();
  EXPECT_EQ(t.first_h, 0);
  EXPECT_EQ(t.geometry.kernel_h, 3);
  EXPECT_EQ(t.geometry.pad_h, 1);
}

// Every (output position, tap of the full kernel, input position) read inside the input; the
// trimmed window's tap k is the full kernel's tap first + k.
std::set<std::tuple<int64_t, int64_t, int64_t>> Reads(const WindowGeometry& g, int64_t first) {
  std::set<std::tuple<int64_t, int64_t, int64_t>> reads;
  for (int64_t o = 0; o < g.out_h; ++o) {
    for (int64_t k = 0; k < g.kernel_h; ++k) {
      const int64_t at = o * g.stride_h - g.pad_h + k * g.dilation_h;
      if (at >= 0 && at < g.in_h) reads.insert({o, first + k, at});
    }
  }
  return reads;
}

TEST(WindowGeometryTest, TrimmedWindowReadsWhatTheFullOneReads) {
  int trimmed = 0;
  for (int64_t in = 1; in <= 6; ++in) {
    for (int64_t kernel = 1; kernel <= 7; ++kernel) {
      for (int64_t stride = 1; stride <= 3; ++stride) {
        for (int64_t pad = 0; pad <= 4; ++pad) {
          for (int64_t dilation = 1; dilation <= 2; ++dilation) {
            absl::StatusOr<WindowGeometry> g = Geometry(in, kernel, stride, pad, dilation);
            if (!g.ok()) continue;
            const WindowGeometry::Trimmed t = g->WithoutDeadTaps();
            SCOPED_TRACE(testing::Message() << "in " << in << " kernel " << kernel << " stride "
                                            << stride << " pad " << pad << " dilation "
                                            << dilation);
            EXPECT_EQ(t.geometry.out_h, g->out_h);
            EXPECT_GE(t.geometry.pad_h, 0);
            EXPECT_LE(t.first_h + t.geometry.kernel_h, kernel);
            EXPECT_EQ(Reads(t.geometry, t.first_h), Reads(*g, 0));
            if (t.geometry.kernel_h < kernel) ++trimmed;
          }
        }
      }
    }
  }
  EXPECT_GT(trimmed, 0);
}

}  // namespace
}  // namespace kiln::ir
