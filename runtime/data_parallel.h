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
#include <functional>
#include <streambuf>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/communicator.h"
#include "runtime/dataset.h"
#include "runtime/executable.h"
#include "runtime/trainer.h"

namespace kiln::runtime {

// batch_size in a recipe is the global batch: each of `world` ranks takes global/world samples.
// An error when it does not divide.
absl::StatusOr<int64_t> LocalBatch(int64_t global_batch, int world);

// Rank `rank`'s share of one epoch's order, as PyTorch's DistributedSampler takes it: the order
// is padded by wrapping around to a multiple of `world`, then rank r takes elements r, r+world,
// ... So shares are disjoint (but for the padding), every rank gets the same count and so runs
// the same number of steps, and together they cover every sample.
std::vector<int64_t> RankShare(const std::vector<int64_t>& order, int world, int rank);

// How many samples RankShare gives each rank: ceil(samples / world).
int64_t RankShareSize(int64_t samples, int world);

// Rank `rank`'s contiguous part of a data set evaluated by `world` ranks: samples [begin, end),
// the remainder spread over the first ranks. No padding: evaluation totals are summed across
// ranks, so each test sample must count once.
struct SampleRange {
  int64_t begin = 0;
  int64_t end = 0;
  int64_t size() const { return end - begin; }
};
SampleRange EvaluationShard(int64_t samples, int world, int rank);

// The samples one rank visits in one pass over a data set of `samples` samples, and the batch it
// runs them at. Training: the epoch's seeded order (the identity with shuffle off), this rank's
// RankShare of it, at the local batch (batch_size / world). Evaluation: this rank's contiguous
// EvaluationShard, at the local batch, or at eval_batch_size when that is set. The batch is capped
// at the samples (a set smaller than a batch is one step). One process: world 1, rank 0. Both
// trainers plan their passes here, so a CPU and a CUDA rank visit the same samples.
struct RankPass {
  std::vector<int64_t> order;
  int64_t batch_size = 0;
};
absl::StatusOr<RankPass> PlanRankPass(const TrainOptions& options, bool training,
                                      int64_t samples, int64_t epoch, int world, int rank);

// The seed of a rank's dropout keys (StepKey): rank 0 keeps the single-process keys, the others
// get streams of their own, so ranks do not drop the same units of different samples.
uint64_t RankSeed(uint64_t seed, int rank);

// After a training epoch: this rank's sum of batch loss x rows over its `rows` samples, summed
// over the ranks (the padding that evens out the shares too) and rescaled to the data set's
// `samples`, so that dividing by `samples` gives the epoch's mean loss as one process has it.
absl::StatusOr<double> SumEpochLossOverRanks(Communicator& comm, double loss_sum, int64_t rows,
                                             int64_t samples);

// After an evaluation: what one rank added up over its shard, summed over every rank's shard in
// place. `per_class_requested` is TrainOptions::per_class_accuracy; result's class counts are
// padded to the data's classes before they are summed (every rank sends the same length), and
// left empty when no rank could count classes.
struct EvaluationSums {
  double loss_sum = 0.0;     // Batch loss x rows.
  double correct_sum = 0.0;  // Correct predictions.
  bool has_accuracy = false;
  bool per_class = false;
};
absl::Status SumEvaluationOverRanks(Communicator& comm, const Dataset& data,
                                    bool per_class_requested, EvaluationSums& sums,
                                    Evaluation& result);

// Data parallelism after an epoch, on the host copy of the persistent tensors: rank 0's running
// statistics to every rank (BroadcastPersistent kNonTrainable), then the parameter hash check.
absl::Status SyncRanksAfterEpoch(Communicator& comm, Executable& executable, int64_t epoch);

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

// Makes a rank-local failure everyone's: every rank passes its own status, and every rank gets
// back the first failing rank's error ("rank 2: ..." unless it is rank 0), marked so that the
// caller prints it once (rank 0) and every rank exits cleanly instead of leaving the others
// waiting in a collective.
absl::Status AgreeOnStatus(Communicator& comm, const absl::Status& mine);
// The same where `data_parallel` may be null (one process): then `mine` itself.
absl::Status AgreeOnStatus(Communicator* data_parallel, const absl::Status& mine);

// Whether `status` is the same error on every rank (AgreeOnStatus's, CheckRanksAgree's,
// CheckSameParameters'), so rank 0 alone needs to print it and no rank needs to abort the job.
bool ReportedByEveryRank(const absl::Status& status);
absl::Status MarkReportedByEveryRank(absl::Status status);

// How a rank ends: `print` (which prints an error and returns the exit code, as a tool's
// ExitStatus) is called for a success, for an error when this is rank 0 or the world is one
// process, and for an error only this rank has, prefixed with the rank. An error every rank has
// (ReportedByEveryRank) makes the other ranks return 1 silently; one only this rank has ends
// the whole job (Communicator::Abort), since the others may wait for this rank in a collective.
int FinishRank(Communicator& comm, const absl::Status& status,
               const std::function<int(const absl::Status&)>& print);

// The bytes of the trainable parameters (RankFingerprint::parameter_bytes).
int64_t ParameterBytes(const Executable& executable);

// A hash of the trainable parameters' bytes (CheckSameParameters' argument).
uint64_t ParameterHash(const Executable& executable);

// Copies rank 0's persistent tensors to every rank: all of them (start-up: parameters, optimizer
// state, running statistics), or only those that are not parameters (after an epoch: batch norm's
// running statistics follow each rank's own batches, and, as DDP's broadcast_buffers, rank 0's
// are the model's; optimizer state is identical on every rank already).
enum class PersistentSet { kAll, kNonTrainable };
absl::Status BroadcastPersistent(Communicator& comm, Executable& executable, PersistentSet set);

// Start-up of a data-parallel run, after rank 0 has initialized, loaded --init-weights or resumed
// into `executable` and `run`: checks that the ranks agree (CheckRanksAgree), then broadcasts
// rank 0's persistent tensors and where the run starts (first_epoch, history), and sets
// run.comm = &comm.
absl::Status JoinDataParallelRun(Communicator& comm, const RankFingerprint& fingerprint,
                                 Executable& executable, TrainOptions& run);

// The start of a training run on this rank, after the program is loaded: `load` runs on rank 0
// alone (it loads --init-weights and the checkpoint to resume into `executable` and `run`). With
// `data_parallel` (a world of several ranks) a failure on any rank becomes every rank's
// (AgreeOnStatus), the ranks are checked and joined (JoinDataParallelRun), and ranks other than
// 0 drop their outputs (log, metrics, checkpoints): rank 0 alone writes. Null: one process.
absl::Status StartRun(Communicator* data_parallel, const RankFingerprint& fingerprint,
                      Executable& executable, TrainOptions& run,
                      const std::function<absl::Status()>& load);

// "all-reduce: 0.41 ms per step (1 call of 235146 values), 9% of training time\n": what this
// rank's gradient averaging cost in the epochs of `history` from `first_epoch` on ("" when
// nothing was averaged).
std::string AllReduceSummary(const Communicator& comm, const std::vector<EpochMetrics>& history,
                             int64_t first_epoch);

// While alive, discards what this process writes to std::cout unless it is rank 0: under data
// parallelism only rank 0 prints (errors go to stderr, each with its rank).
class StdoutOnRankZero {
 public:
  explicit StdoutOnRankZero(const Communicator& comm);
  ~StdoutOnRankZero();
  StdoutOnRankZero(const StdoutOnRankZero&) = delete;
  StdoutOnRankZero& operator=(const StdoutOnRankZero&) = delete;

 private:
  struct Discard : std::streambuf {
    int overflow(int c) override { return traits_type::not_eof(c); }
  } discard_;
  std::streambuf* saved_ = nullptr;
};

}  // namespace kiln::runtime

#endif  // KILN_RUNTIME_DATA_PARALLEL_H_
