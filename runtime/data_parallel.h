// What data-parallel training needs besides the gradient all-reduce: each rank's share of an
// epoch, the local batch, and the checks that keep ranks from silently diverging.
//
//   ASSIGN_OR_RETURN(int64_t local, LocalBatch(global_batch, comm.world_size()));
//   std::vector<int64_t> mine = RankShare(ShuffledOrder(n, seed, epoch), comm.world_size(),
//                                         comm.rank());
//   RETURN_IF_ERROR(CheckRanksAgree(comm, fingerprint));
#ifndef KILN_RUNTIME_DATA_PARALLEL_H_
#define KILN_RUNTIME_DATA_PARALLEL_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/communicator.h"

namespace kiln::runtime {

// batch_size in a recipe is the global batch: each of `world` ranks takes global/world samples.
// An error when it does not divide.
absl::StatusOr<int64_t> LocalBatch(int64_t global_batch, int world);

// Rank `rank`'s share of one epoch's order, as PyTorch's DistributedSampler takes it: the order
// is padded by wrapping around to a multiple of `world`, then rank r takes elements r, r+world,
// ... So shares are disjoint (but for the padding), every rank gets the same count and so runs
// the same number of steps, and together they cover every sample.
std::vector<int64_t> RankShare(const std::vector<int64_t>& order, int world, int rank);

// What every rank must agree on before the first step.
struct RankFingerprint {
  std::string kiln_version;
  uint64_t graph_hash = 0;       // Of the compiled step graph.
  int64_t parameter_bytes = 0;   // Sum over all parameters.
  int64_t global_batch = 0;
  int64_t dataset_size = 0;      // Training samples.
};

// Compares every rank's fingerprint with rank 0's; on any difference, every rank returns the same
// FailedPrecondition naming the field and the first differing rank.
absl::Status CheckRanksAgree(Communicator& comm, const RankFingerprint& mine);

// A 64-bit FNV-1a hash of bytes, for parameter and graph hashes.
uint64_t HashBytes(std::string_view bytes, uint64_t seed = 0xcbf29ce484222325ull);

// After each epoch: every rank hashes its parameters; an Internal error on every rank when any
// two differ (data-parallel ranks must hold bit-identical parameters).
absl::Status CheckSameParameters(Communicator& comm, uint64_t parameter_hash, int64_t epoch);

}  // namespace kiln::runtime

#endif  // KILN_RUNTIME_DATA_PARALLEL_H_
