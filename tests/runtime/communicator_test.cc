#include "runtime/communicator.h"

#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "gtest/gtest.h"

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
}

std::string SelfPath() {
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, n) : std::string();
}

void RunUnderMpirun(int ranks, const std::string& extra) {
  if (!MpiAvailable()) GTEST_SKIP() << "kiln built without MPI";
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
