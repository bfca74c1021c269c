#include "runtime/communicator.h"
#include "runtime/mpi/mpi_communicator.h"

#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/data_parallel.h"
#include "tests/sanitizers.h"

namespace kiln::runtime {
namespace {

TEST(LocalCommunicatorTest, IsAWorldOfOneThatLeavesDataAlone) {
  std::unique_ptr<Communicator> comm = MakeLocalCommunicator();
  EXPECT_EQ(comm->rank(), 0);
  EXPECT_EQ(comm->world_size(), 1);
  std::vector<float> v = {1.5f, -2.0f};
  ASSERT_TRUE(comm->AllReduceMean(v.data(), v.size()).ok());
  EXPECT_EQ(v, (std::vector<float>{1.5f, -2.0f}));
  absl::StatusOr<std::vector<std::string>> all = comm->AllGather("abc");
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(*all, std::vector<std::string>{"abc"});
  EXPECT_TRUE(comm->Barrier().ok());
  EXPECT_FALSE(comm->Broadcast(v.data(), 4, 1).ok());
}

TEST(DataParallelTest, LocalBatchMustDivide) {
  EXPECT_EQ(*LocalBatch(64, 2), 32);
  absl::StatusOr<int64_t> bad = LocalBatch(63, 2);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("must divide by the 2 ranks"), std::string::npos);
}

TEST(DataParallelTest, SharesAreEqualDisjointAndCoverEverySample) {
  std::vector<int64_t> order = {4, 0, 3, 1, 2};  // 5 samples over 2 ranks: one padded by wrap.
  EXPECT_EQ(RankShare(order, 2, 0), (std::vector<int64_t>{4, 3, 2}));
  EXPECT_EQ(RankShare(order, 2, 1), (std::vector<int64_t>{0, 1, 4}));
  EXPECT_EQ(RankShare(order, 1, 0), order);
  for (int world : {2, 3, 4, 7}) {
    std::vector<int> seen(order.size(), 0);
    size_t count = RankShare(order, world, 0).size();
    for (int r = 0; r < world; ++r) {
      std::vector<int64_t> s = RankShare(order, world, r);
      EXPECT_EQ(s.size(), count) << world;
      for (int64_t i : s) ++seen[i];
    }
    for (int c : seen) EXPECT_GE(c, 1) << world;
  }
}

TEST(DataParallelTest, EvaluationShardsSplitTheTestSetOnce) {
  EXPECT_EQ(RankShareSize(3210, 4), 803);
  EXPECT_EQ(RankShareSize(0, 4), 0);
  for (int64_t samples : {0, 1, 3, 501, 10000}) {
    for (int world : {1, 2, 3, 4, 7}) {
      int64_t next = 0;
      for (int r = 0; r < world; ++r) {
        const SampleRange shard = EvaluationShard(samples, world, r);
        EXPECT_EQ(shard.begin, next) << samples << " " << world << " " << r;
        EXPECT_LE(shard.size(), samples / world + 1);
        EXPECT_GE(shard.size(), samples / world);
        next = shard.end;
      }
      EXPECT_EQ(next, samples) << samples << " " << world;
    }
  }
}

TEST(DataParallelTest, OneRankPrintsItsOwnErrors) {
  std::unique_ptr<Communicator> comm = MakeLocalCommunicator();
  absl::Status failed = absl::NotFoundError("no data");
  absl::Status agreed = AgreeOnStatus(*comm, failed);
  EXPECT_EQ(agreed.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(agreed.message(), "no data");
  EXPECT_TRUE(ReportedByEveryRank(agreed));
  EXPECT_FALSE(ReportedByEveryRank(failed));
  EXPECT_TRUE(AgreeOnStatus(*comm, absl::OkStatus()).ok());
  std::string printed;
  auto print = [&](const absl::Status& s) {
    printed = std::string(s.message());
    return s.ok() ? 0 : 1;
  };
  EXPECT_EQ(FinishRank(*comm, failed, print), 1);
  EXPECT_EQ(printed, "no data");
  EXPECT_EQ(FinishRank(*comm, absl::OkStatus(), print), 0);
}

TEST(DataParallelTest, OneRankAlwaysAgrees) {
  std::unique_ptr<Communicator> comm = MakeLocalCommunicator();
  EXPECT_TRUE(CheckRanksAgree(*comm, {"0.1", 7, 100, 64, 1000}).ok());
  EXPECT_TRUE(CheckSameParameters(*comm, 123, 0).ok());
  EXPECT_NE(HashBytes("a"), HashBytes("b"));
}

// Run by MpiCommunicatorTest under mpirun; a no-op when run directly.
TEST(MpiWorker, AveragesAndGathersInRankOrder) {
  if (!LaunchedUnderMpi()) GTEST_SKIP() << "only meaningful under mpirun";
  absl::StatusOr<std::unique_ptr<Communicator>> comm = MakeMpiCommunicator();
  ASSERT_TRUE(comm.ok()) << comm.status();
  Communicator& c = **comm;
  const int r = c.rank(), n = c.world_size();
  std::vector<float> v(7);
  for (int i = 0; i < 7; ++i) v[i] = static_cast<float>(r * 10 + i);
  ASSERT_TRUE(c.AllReduceMean(v.data(), v.size()).ok());
  for (int i = 0; i < 7; ++i) EXPECT_FLOAT_EQ(v[i], 10.0f * (n - 1) / 2.0f + i);
  double d = r + 1;
  ASSERT_TRUE(c.AllReduceSum(&d, 1).ok());
  EXPECT_EQ(d, n * (n + 1) / 2.0);
  int x = r == 0 ? 42 : 0;
  ASSERT_TRUE(c.Broadcast(&x, sizeof x, 0).ok());
  EXPECT_EQ(x, 42);
  absl::StatusOr<std::vector<std::string>> all = c.AllGather(std::string(1, 'a' + r));
  ASSERT_TRUE(all.ok());
  for (int i = 0; i < n; ++i) EXPECT_EQ((*all)[i], std::string(1, 'a' + i));
  EXPECT_TRUE(c.Barrier().ok());

  EXPECT_TRUE(CheckRanksAgree(c, {"0.1", 7, 100, 64, 1000}).ok());
  EXPECT_TRUE(CheckSameParameters(c, 99, 0).ok());
  // Rank 1 given another model: every rank gets the same clear error.
  absl::Status other = CheckRanksAgree(c, {"0.1", r == 1 ? 8u : 7u, 100, 64, 1000});
  EXPECT_EQ(other.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(other.message().find("rank 0 has graph hash"), std::string::npos) << other;
  absl::Status diverged = CheckSameParameters(c, r == n - 1 ? 1 : 2, 3);
  EXPECT_EQ(diverged.code(), absl::StatusCode::kInternal);
  EXPECT_TRUE(ReportedByEveryRank(diverged));

  // A failure on rank 1 alone reaches every rank, named by its rank, printed once.
  absl::Status agreed =
      AgreeOnStatus(c, r == 1 ? absl::NotFoundError("no data") : absl::OkStatus());
  EXPECT_EQ(agreed.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(agreed.message(), "rank 1: no data");
  EXPECT_TRUE(ReportedByEveryRank(agreed));
  EXPECT_TRUE(AgreeOnStatus(c, absl::OkStatus()).ok());
  int printed = 0;
  EXPECT_EQ(FinishRank(c, agreed, [&](const absl::Status&) { return ++printed; }), 1);
  EXPECT_EQ(printed, r == 0 ? 1 : 0);
}

std::string SelfPath() {
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, n) : std::string();
}

void RunUnderMpirun(int ranks, const std::string& extra) {
  if (!MpiAvailable()) GTEST_SKIP() << "kiln built without MPI";
  // Open MPI keeps allocations for the process's lifetime by design, which LeakSanitizer would
  // report in every rank; the multi-process cases run in the normal build (scripts/test.sh).
  if (kiln::testing::kAddressSanitizer) GTEST_SKIP() << "Open MPI under AddressSanitizer";
  if (std::system("command -v mpirun >/dev/null 2>&1") != 0) GTEST_SKIP() << "no mpirun";
  setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
  setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
  const std::string cmd = "timeout 60 mpirun -np " + std::to_string(ranks) + " " + extra + " " +
                          SelfPath() + " --gtest_filter=MpiWorker.* >/dev/null 2>&1";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
}

TEST(MpiCommunicatorTest, TwoRanks) { RunUnderMpirun(2, ""); }
TEST(MpiCommunicatorTest, FourRanksOversubscribed) { RunUnderMpirun(4, "--oversubscribe"); }

}  // namespace
}  // namespace kiln::runtime
