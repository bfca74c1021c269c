#include "runtime/communicator.h"

#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"

namespace kiln::runtime {
namespace {

void AllReduceMeanHook(void* comm, float* data, int64_t count) {
  absl::Status status =
      static_cast<Communicator*>(comm)->AllReduceMean(std::span<float>(data, count));
  if (status.ok()) return;
  std::fprintf(stderr, "kiln: all_reduce failed: %s\n", std::string(status.message()).c_str());
  std::abort();
}

}  // namespace

absl::Status LocalCommunicator::Broadcast(std::span<std::byte>, int root) {
  if (root == 0) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("broadcast from rank ", root, " in a job of one rank"));
}

KilnParallel BindCommunicator(const KilnParallel& base, Communicator& comm) {
  KilnParallel table = base;
  table.comm = &comm;
  table.all_reduce_mean = &AllReduceMeanHook;
  return table;
}

}  // namespace kiln::runtime
