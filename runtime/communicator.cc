#include "runtime/communicator.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace kiln::runtime {
namespace {

class LocalCommunicator final : public Communicator {
 public:
  int rank() const override { return 0; }
  int world_size() const override { return 1; }
  int local_rank() const override { return 0; }
  std::string backend() const override { return "local"; }
  absl::Status AllReduceMean(float*, size_t) override { return absl::OkStatus(); }
  absl::Status AllReduceSum(double*, size_t) override { return absl::OkStatus(); }
  absl::Status Broadcast(void*, size_t, int root) override {
    if (root != 0) return absl::InvalidArgumentError("broadcast root must be 0 in a world of 1");
    return absl::OkStatus();
  }
  absl::StatusOr<std::vector<std::string>> AllGather(const std::string& bytes) override {
    return std::vector<std::string>{bytes};
  }
  absl::Status Barrier() override { return absl::OkStatus(); }
  [[noreturn]] void Abort(int code) override { std::exit(code); }
};

int EnvInt(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? 0 : std::atoi(v);
}

}  // namespace

std::unique_ptr<Communicator> MakeLocalCommunicator() {
  return std::make_unique<LocalCommunicator>();
}

bool LaunchedUnderMpi() {
  return EnvInt("OMPI_COMM_WORLD_SIZE") > 1 || EnvInt("PMI_SIZE") > 1 ||
         EnvInt("PMIX_SIZE") > 1 || EnvInt("SLURM_NTASKS") > 1;
}

namespace {

void AllReduceMeanHook(void* comm, float* data, int64_t count) {
  Communicator& communicator = *static_cast<Communicator*>(comm);
  const auto start = std::chrono::steady_clock::now();
  const absl::Status status = communicator.AllReduceMean(data, static_cast<size_t>(count));
  communicator.CountGradientAllReduce(
      count, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  if (status.ok()) return;
  std::fprintf(stderr, "kiln: rank %d: all_reduce failed: %.*s\n", communicator.rank(),
               static_cast<int>(status.message().size()), status.message().data());
  communicator.Abort(1);
}

}  // namespace

KilnParallel BindCommunicator(const KilnParallel& base, Communicator& comm) {
  KilnParallel table = base;
  table.comm = &comm;
  table.all_reduce_mean = &AllReduceMeanHook;
  return table;
}

}  // namespace kiln::runtime
