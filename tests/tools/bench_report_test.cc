// `kiln bench`'s report: percentiles, the roofline bound, the JSON schema (every key present
// with its type, and a round trip), --compare's rule for a slowdown beyond the noise, and the
// fused-vs-unfused agreement gate.
#include "tools/bench_report.h"

#include <cmath>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "llvm/Support/JSON.h"

namespace kiln::tools {
namespace {

BenchReport SampleReport() {
  BenchReport r;
  r.model = "tiny";
  r.mode = "train";
  r.batch_size = 4;
  r.device = "2 threads";
  r.threads = 2;
  r.target = "znver3";
  r.version = "0.5.0";
  r.method = "test";
  r.have_roofline = true;
  r.roofline = {100.0, 10.0};
  r.roofline_source = "test";
  r.step_us = {9.0, 10.0, 11.0, 20, 10.4};
  BenchKernel matmul{.name = "k0_matmul_add_relu",
                     .phase = "forward",
                     .ops = {"matmul", "add", "relu"},
                     .launch = "4 tasks*",
                     .time_us = {90.0, 100.0, 110.0, 20},
                     .flops = 2e6,
                     .bytes = 1e5};
  matmul.unfused_kernels = 3;
  matmul.unfused_us = 150.0;
  matmul.unfused_bytes = 2e5;
  BenchKernel adam{.name = "k1_mul_add",
                   .phase = "optimizer",
                   .ops = {"mul", "add"},
                   .launch = "1 tasks",
                   .time_us = {9.0, 10.0, 11.0, 20},
                   .flops = 1e3,
                   .bytes = 1e4};
  r.kernels = {matmul, adam};
  r.have_unfused = true;
  r.unfused_step_us = {14.0, 15.0, 16.0, 20};
  r.unfused_kernel_count = 5;
  r.unfused_kernel_sum_us = 170.0;
  return r;
}

TEST(BenchReportTest, SpreadIsNearestRankPercentiles) {
  std::vector<double> samples;
  for (int i = 10; i >= 1; --i) samples.push_back(i);
  const Spread s = SpreadOf(samples);
  EXPECT_EQ(s.p10, 1.0);
  EXPECT_EQ(s.p50, 5.0);
  EXPECT_EQ(s.p90, 9.0);
  EXPECT_EQ(s.runs, 10);
  EXPECT_EQ(s.mean, 5.5);
}

TEST(BenchReportTest, RooflineIsTheSmallerOfPeakAndIntensityTimesBandwidth) {
  const Roofline roof{100.0, 10.0};
  EXPECT_EQ(roof.BoundGflops(20.0), 100.0);  // 20 FLOP/byte x 10 GB/s = 200 > peak.
  EXPECT_FALSE(roof.MemoryBound(20.0));
  EXPECT_EQ(roof.BoundGflops(0.5), 5.0);
  EXPECT_TRUE(roof.MemoryBound(0.5));
}

TEST(BenchReportTest, JsonHasEveryKeyWithItsType) {
  llvm::Expected<llvm::json::Value> parsed = llvm::json::parse(BenchReportToJson(SampleReport()));
  ASSERT_TRUE(static_cast<bool>(parsed));
  const llvm::json::Object* root = parsed->getAsObject();
  ASSERT_NE(root, nullptr);
  for (const char* key :
       {"schema", "model", "mode", "device", "target", "version", "method", "roofline_source"}) {
    EXPECT_TRUE(root->getString(key).has_value()) << key;
  }
  for (const char* key : {"batch_size", "threads", "evict_bytes", "budget_ms", "kernel_sum_us"}) {
    EXPECT_TRUE(root->getNumber(key).has_value()) << key;
  }
  EXPECT_TRUE(root->getBoolean("cold_cache").has_value());
  for (const char* key : {"step", "roofline", "unfused"})
    EXPECT_NE(root->getObject(key), nullptr) << key;
  const llvm::json::Array* kernels = root->getArray("kernels");
  ASSERT_NE(kernels, nullptr);
  ASSERT_EQ(kernels->size(), 2u);
  const llvm::json::Object& k = *(*kernels)[0].getAsObject();
  for (const char* key : {"name", "phase", "launch", "bound"}) {
    EXPECT_TRUE(k.getString(key).has_value()) << key;
  }
  for (const char* key : {"flops", "bytes", "gflops", "gbs", "intensity", "roofline_gflops",
                          "roofline_percent", "unfused_kernels", "unfused_us", "unfused_bytes"}) {
    EXPECT_TRUE(k.getNumber(key).has_value()) << key;
  }
  ASSERT_NE(k.getArray("ops"), nullptr);
  EXPECT_EQ(k.getArray("ops")->size(), 3u);
  const llvm::json::Object* time = k.getObject("time");
  ASSERT_NE(time, nullptr);
  for (const char* key : {"p10_us", "p50_us", "p90_us", "runs", "mean_us"}) {
    EXPECT_TRUE(time->getNumber(key).has_value()) << key;
  }
  EXPECT_EQ(k.getNumber("gflops").value_or(0), 20.0);       // 2e6 flops in 100 us.
  EXPECT_EQ(k.getString("bound").value_or(""), "compute");  // AI 20 x 10 GB/s > 100.
}

TEST(BenchReportTest, JsonRoundTripKeepsWhatCompareReads) {
  absl::StatusOr<BenchReport> back = BenchReportFromJson(BenchReportToJson(SampleReport()));
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_EQ(back->kernels.size(), 2u);
  EXPECT_EQ(back->kernels[0].name, "k0_matmul_add_relu");
  EXPECT_EQ(back->kernels[0].time_us.p90, 110.0);
  EXPECT_EQ(back->step_us.mean, 10.4);
  EXPECT_EQ(back->kernels[1].time_us.runs, 20);
  EXPECT_FALSE(BenchReportFromJson("{\"schema\": \"other\"}").ok());
  EXPECT_FALSE(BenchReportFromJson("not json").ok());
}

TEST(BenchReportTest, CompareFlagsAnInjectedSlowdownAndPassesAnIdenticalRerun) {
  const BenchReport now = SampleReport();
  EXPECT_TRUE(FindRegressions(now, now).empty());

  BenchReport faster_base = now;  // The base ran twice as fast with tight ranges.
  for (BenchKernel& k : faster_base.kernels) {
    k.time_us = {k.time_us.p50 / 2 * 0.99, k.time_us.p50 / 2, k.time_us.p50 / 2 * 1.01, 20};
  }
  const std::vector<Regression> slower = FindRegressions(faster_base, now);
  ASSERT_EQ(slower.size(), 2u);
  EXPECT_EQ(slower[0].name, "k0_matmul_add_relu");
}

TEST(BenchReportTest, CompareIgnoresMovesWithinTheNoise) {
  BenchReport now = SampleReport();
  now.kernels[1].time_us = {10.5, 11.0, 11.5, 20};
  BenchReport base = now;
  // Median 15% lower but the ranges overlap: noise.
  base.kernels[0].time_us = {80.0, 85.0, 95.0, 20};
  // Ranges apart but the median moved only 8%.
  base.kernels[1].time_us = {9.9, 10.2, 10.4, 20};
  EXPECT_TRUE(FindRegressions(base, now).empty());
}

TEST(BenchReportTest, AgreementGatePassesRoundingAndFailsARealDifference) {
  const std::vector<float> unfused = {3.0f, -4.0f, 0.0f, 0.0f};  // L2 norm 5.
  std::vector<float> fused = unfused;
  fused[1] += 5e-7f;  // Reassociation-sized: 1e-7 of the tensor's norm.
  StepDifference same;
  same.Add("out.weight", fused.data(), unfused.data(), 4);
  EXPECT_TRUE(CheckAgreement(same, 1e-4).ok());
  EXPECT_TRUE(CheckAgreement(same, kGateRelativeLimit).ok());

  std::vector<float> wrong = unfused;
  wrong[2] = 0.25f;  // 5e-2 of the norm: five times kiln bench's limit.
  StepDifference d = same;
  d.Add("fc1.weight.m", wrong.data(), unfused.data(), 4);
  const absl::Status status = CheckAgreement(d, kGateRelativeLimit);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(d.where, "fc1.weight.m");
  EXPECT_NEAR(d.rel, 5e-2, 1e-7);
  EXPECT_NEAR(d.abs, 0.25, 1e-7);
  EXPECT_NE(std::string(status.message()).find("'fc1.weight.m' differs by"), std::string::npos)
      << status;
}

TEST(BenchReportTest, AgreementGateFailsOnNaN) {
  const std::vector<float> unfused = {1.0f, 2.0f};
  const std::vector<float> fused = {1.0f, std::nanf("")};
  StepDifference d;
  d.Add("loss", fused.data(), unfused.data(), 2);
  EXPECT_FALSE(CheckAgreement(d, 1e-4).ok());
  EXPECT_EQ(d.where, "loss");
}

}  // namespace
}  // namespace kiln::tools
