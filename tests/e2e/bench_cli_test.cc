// End-to-end: `kiln bench` on a small model with a tiny time budget prints the per-kernel
// table with the fused-vs-unfused comparison, writes its JSON, and --compare exits 1 against a
// base that was ten times faster and 0 against one that was ten times slower.
#include <cstdlib>
#include <regex>
#include <string>

#include "gtest/gtest.h"
#include "tests/e2e/kiln_process.h"

namespace kiln {
namespace {

using e2e::Describe;
using e2e::ReadFile;
using e2e::RunKiln;
using e2e::RunResult;
using e2e::TempDir;

constexpr char kModel[] = "examples/binary_classifier.kiln";

// Every p10/p50/p90 time of `json` multiplied by `factor`.
std::string ScaleTimes(const std::string& json, double factor) {
  const std::regex time("(\"p(10|50|90)_us\": )([0-9.eE+-]+)");
  std::string out;
  auto begin = std::sregex_iterator(json.begin(), json.end(), time);
  size_t last = 0;
  for (auto it = begin; it != std::sregex_iterator(); ++it) {
    out += json.substr(last, it->position() - last);
    out += (*it)[1].str() + std::to_string(std::stod((*it)[3].str()) * factor);
    last = it->position() + it->length();
  }
  return out + json.substr(last);
}

class BenchCliTest : public testing::Test {
 protected:
  // No calibration figures from the machine's own cache leak into the test.
  void SetUp() override { setenv("XDG_CACHE_HOME", dir_.File("cache").c_str(), 1); }

  RunResult Bench(std::vector<std::string> extra) {
    std::vector<std::string> args = {"bench", kModel, "--budget-ms", "2", "--threads", "1"};
    args.insert(args.end(), extra.begin(), extra.end());
    return RunKiln(args);
  }

  TempDir dir_;
};

TEST_F(BenchCliTest, PrintsTheTableAndWritesJson) {
  const std::string json = dir_.File("bench.json");
  RunResult r = Bench({"--json", json});
  ASSERT_TRUE(r.exited) << Describe(r);
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  for (const char* text :
       {"method: ", "cold caches", "kernel ", "phase", "p10-p90 us", "forward", "backward",
        "optimizer", "fused vs unfused", "correctness gate", "kiln bench --calibrate"}) {
    EXPECT_NE(r.out.find(text), std::string::npos) << text << "\n" << r.out;
  }
  const std::string report = ReadFile(json);
  EXPECT_NE(report.find("\"schema\": \"kiln-bench/1\""), std::string::npos) << report;
  EXPECT_NE(report.find("\"unfused_us\""), std::string::npos) << report;
}

TEST_F(BenchCliTest, CompareFailsOnASlowdownAndPassesAgainstASlowerBase) {
  const std::string json = dir_.File("bench.json");
  RunResult first = Bench({"--warm", "--json", json});
  ASSERT_EQ(first.exit_code, 0) << Describe(first);
  const std::string base = ReadFile(json);
  dir_.Write("faster.json", ScaleTimes(base, 0.1));
  dir_.Write("slower.json", ScaleTimes(base, 10.0));

  RunResult slowed = Bench({"--warm", "--no-unfused", "--compare", dir_.File("faster.json")});
  ASSERT_TRUE(slowed.exited) << Describe(slowed);
  EXPECT_EQ(slowed.exit_code, 1) << Describe(slowed);
  EXPECT_NE(slowed.out.find("SLOWER"), std::string::npos) << slowed.out;

  RunResult fine = Bench({"--warm", "--no-unfused", "--compare", dir_.File("slower.json")});
  EXPECT_EQ(fine.exit_code, 0) << Describe(fine);
  EXPECT_NE(fine.out.find("no kernel slower"), std::string::npos) << fine.out;
}

TEST_F(BenchCliTest, CalibrateStoresTheMachineFigures) {
  RunResult r = RunKiln({"bench", "--calibrate", "--threads", "1"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_NE(r.out.find("GFLOP/s FP32"), std::string::npos) << r.out;
  const std::string stored = ReadFile(dir_.File("cache") + "/kiln/machine.json");
  EXPECT_NE(stored.find("\"gflops\""), std::string::npos) << stored;
  RunResult bench = Bench({"--no-unfused"});
  ASSERT_EQ(bench.exit_code, 0) << Describe(bench);
  EXPECT_NE(bench.out.find("measured by --calibrate"), std::string::npos) << bench.out;
  EXPECT_NE(bench.out.find("%roof"), std::string::npos) << bench.out;
}

// Code for another CPU than this one (here AVX2 on whatever this machine has) is timed as such and
// keeps its own roofline: the native figures do not stand in for it, nor its for them.
TEST_F(BenchCliTest, AnotherCpusCodeHasItsOwnCalibration) {
  RunResult calibrate = RunKiln({"bench", "--calibrate", "--threads", "1", "--cpu", "x86-64-v3"});
  ASSERT_EQ(calibrate.exit_code, 0) << Describe(calibrate);
  EXPECT_NE(calibrate.out.find("calibrating x86-64-v3 code on "), std::string::npos)
      << calibrate.out;
  const std::string stored = ReadFile(dir_.File("cache") + "/kiln/machine.json");
  EXPECT_NE(stored.find("x86-64-v3 code on "), std::string::npos) << stored;

  RunResult avx2 = Bench({"--no-unfused", "--cpu", "x86-64-v3"});
  ASSERT_EQ(avx2.exit_code, 0) << Describe(avx2);
  EXPECT_NE(avx2.out.find("target: x86-64-v3 code on "), std::string::npos) << avx2.out;
  EXPECT_NE(avx2.out.find("measured by --calibrate"), std::string::npos) << avx2.out;

  RunResult native = Bench({"--no-unfused"});
  ASSERT_EQ(native.exit_code, 0) << Describe(native);
  EXPECT_EQ(native.out.find("x86-64-v3"), std::string::npos) << native.out;
  EXPECT_NE(native.out.find("not calibrated for 1 threads on this CPU: run `kiln bench "
                            "--calibrate --threads 1` for"),
            std::string::npos)
      << native.out;

  RunResult unknown = Bench({"--no-unfused", "--cpu", "no-such-cpu"});
  ASSERT_TRUE(unknown.exited) << Describe(unknown);
  EXPECT_EQ(unknown.exit_code, 1) << Describe(unknown);
  EXPECT_NE(unknown.err.find("no-such-cpu"), std::string::npos) << Describe(unknown);
}

}  // namespace
}  // namespace kiln
