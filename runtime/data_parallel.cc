#include "runtime/data_parallel.h"

#include <algorithm>
#include <cstring>
#include <iostream>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "absl/strings/cord.h"
#include "absl/strings/str_format.h"
#include "runtime/batcher.h"
#include "runtime/random.h"
#include "support/status.h"

namespace kiln::runtime {
namespace {

// Fixed-size encoding so AllGather sees equal sizes on every rank.
std::string Encode(const RankFingerprint& f) {
  std::string out(64 + 32, '\0');
  std::strncpy(out.data(), f.kiln_version.c_str(), 63);
  const int64_t fields[4] = {static_cast<int64_t>(f.graph_hash), f.parameter_bytes,
                             f.global_batch, f.dataset_size};
  std::memcpy(out.data() + 64, fields, sizeof fields);
  return out;
}

RankFingerprint Decode(const std::string& s) {
  RankFingerprint f;
  f.kiln_version = std::string(s.c_str(), strnlen(s.data(), 64));
  int64_t fields[4];
  std::memcpy(fields, s.data() + 64, sizeof fields);
  f.graph_hash = static_cast<uint64_t>(fields[0]);
  f.parameter_bytes = fields[1];
  f.global_batch = fields[2];
  f.dataset_size = fields[3];
  return f;
}

}  // namespace

absl::StatusOr<int64_t> LocalBatch(int64_t global_batch, int world) {
  if (world < 1) return absl::InvalidArgumentError("world size must be at least 1");
  if (global_batch % world != 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "batch_size %d is the global batch and must divide by the %d ranks (each rank takes "
        "batch_size / ranks samples)",
        global_batch, world));
  }
  return global_batch / world;
}

std::vector<int64_t> RankShare(const std::vector<int64_t>& order, int world, int rank) {
  const int64_t n = static_cast<int64_t>(order.size());
  if (n == 0 || world < 1) return {};
  const int64_t per_rank = (n + world - 1) / world;
  std::vector<int64_t> share;
  share.reserve(per_rank);
  for (int64_t i = rank; i < per_rank * world; i += world) share.push_back(order[i % n]);
  return share;
}

int64_t RankShareSize(int64_t samples, int world) {
  if (samples <= 0 || world < 1) return 0;
  return (samples + world - 1) / world;
}

SampleRange EvaluationShard(int64_t samples, int world, int rank) {
  if (samples <= 0 || world < 1) return {};
  const int64_t base = samples / world, extra = samples % world;
  const int64_t begin = rank * base + std::min<int64_t>(rank, extra);
  return {begin, begin + base + (rank < extra ? 1 : 0)};
}

absl::StatusOr<RankPass> PlanRankPass(const TrainOptions& options, bool training,
                                      int64_t samples, int64_t epoch, int world, int rank) {
  const bool global = training || options.eval_batch_size <= 0;
  int64_t batch = global ? options.batch_size : options.eval_batch_size;
  if (batch <= 0) {
    return absl::InvalidArgumentError(absl::StrFormat("batch size %d is not positive", batch));
  }
  // batch_size is the global batch: each rank runs its part of it.
  if (world > 1 && global) {
    KILN_ASSIGN_OR_RETURN(batch, LocalBatch(batch, world));
  }
  RankPass pass;
  if (training) {
    pass.order = options.shuffle ? ShuffledOrder(samples, options.seed, epoch)
                                 : IdentityOrder(samples);
    if (world > 1) pass.order = RankShare(pass.order, world, rank);
  } else {
    const SampleRange shard = EvaluationShard(samples, world, rank);
    for (int64_t i = shard.begin; i < shard.end; ++i) pass.order.push_back(i);
  }
  const int64_t mine = static_cast<int64_t>(pass.order.size());
  // A batch larger than the samples is all of them, one step (the tool compiles that entry).
  pass.batch_size = mine > 0 ? std::min(batch, mine) : batch;
  return pass;
}

uint64_t RankSeed(uint64_t seed, int rank) {
  return rank == 0 ? seed : Mix64(seed ^ (0x9e3779b97f4a7c15ull * static_cast<uint64_t>(rank)));
}

absl::StatusOr<double> SumEpochLossOverRanks(Communicator& comm, double loss_sum, int64_t rows,
                                             int64_t samples) {
  double totals[2] = {loss_sum, static_cast<double>(rows)};
  KILN_RETURN_IF_ERROR(comm.AllReduceSum(totals, 2));
  return totals[0] * static_cast<double>(samples) / std::max(totals[1], 1.0);
}

namespace {

// The number of classes among `data`'s labels (the largest + 1), so that every rank's per-class
// counts have the same length before they are summed.
int64_t ClassCount(const Dataset& data) {
  int64_t classes = 0;
  for (int64_t label : data.labels) classes = std::max(classes, label + 1);
  return classes;
}

}  // namespace

absl::Status SumEvaluationOverRanks(Communicator& comm, const Dataset& data,
                                    bool per_class_requested, EvaluationSums& sums,
                                    Evaluation& result) {
  const int64_t classes = per_class_requested ? ClassCount(data) : 0;
  // A rank with an empty shard knows nothing of the outputs: flags are summed too.
  std::vector<double> totals = {sums.loss_sum, sums.correct_sum, sums.has_accuracy ? 1.0 : 0.0,
                                sums.per_class ? 1.0 : 0.0};
  totals.resize(4 + 2 * classes, 0.0);
  if (sums.per_class) {
    for (size_t c = 0; c < result.class_total.size() && c < static_cast<size_t>(classes); ++c) {
      totals[4 + c] = static_cast<double>(result.class_total[c]);
      totals[4 + classes + c] = static_cast<double>(result.class_correct[c]);
    }
  }
  KILN_RETURN_IF_ERROR(comm.AllReduceSum(totals.data(), totals.size()));
  sums.loss_sum = totals[0];
  sums.correct_sum = totals[1];
  sums.has_accuracy = totals[2] > 0;
  sums.per_class = totals[3] > 0;
  result.class_total.clear();
  result.class_correct.clear();
  if (sums.per_class) {
    for (int64_t c = 0; c < classes; ++c) {
      result.class_total.push_back(static_cast<int64_t>(totals[4 + c]));
      result.class_correct.push_back(static_cast<int64_t>(totals[4 + classes + c]));
    }
  }
  return absl::OkStatus();
}

uint64_t HashBytes(std::string_view bytes, uint64_t seed) {
  uint64_t h = seed;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

namespace {

constexpr char kEveryRankPayload[] = "kiln.dev/reported-by-every-rank";

// AgreeOnStatus's fixed-size record (AllGather needs equal sizes): the code, then the message.
constexpr size_t kStatusRecordBytes = 2048;

std::string EncodeStatus(const absl::Status& status) {
  std::string record(kStatusRecordBytes, '\0');
  const int32_t code = static_cast<int32_t>(status.code());
  std::memcpy(record.data(), &code, sizeof code);
  // An OK status's message is empty with a null data(), which memcpy must not be given.
  const absl::string_view message = status.message();
  if (!message.empty()) {
    std::memcpy(record.data() + sizeof code, message.data(),
                std::min(message.size(), kStatusRecordBytes - sizeof code - 1));
  }
  return record;
}

absl::Status DecodeStatus(const std::string& record, int rank) {
  int32_t code = 0;
  std::memcpy(&code, record.data(), sizeof code);
  if (code == 0) return absl::OkStatus();
  const char* message = record.data() + sizeof code;
  const std::string text(message, strnlen(message, kStatusRecordBytes - sizeof code));
  return absl::Status(static_cast<absl::StatusCode>(code),
                      rank == 0 ? text : absl::StrCat("rank ", rank, ": ", text));
}

}  // namespace

absl::Status MarkReportedByEveryRank(absl::Status status) {
  if (!status.ok()) status.SetPayload(kEveryRankPayload, absl::Cord("1"));
  return status;
}

bool ReportedByEveryRank(const absl::Status& status) {
  return !status.ok() && status.GetPayload(kEveryRankPayload).has_value();
}

absl::Status AgreeOnStatus(Communicator& comm, const absl::Status& mine) {
  absl::StatusOr<std::vector<std::string>> all = comm.AllGather(EncodeStatus(mine));
  if (!all.ok()) return all.status();
  for (int r = 0; r < comm.world_size(); ++r) {
    absl::Status status = DecodeStatus((*all)[r], r);
    if (!status.ok()) return MarkReportedByEveryRank(std::move(status));
  }
  return absl::OkStatus();
}

int FinishRank(Communicator& comm, const absl::Status& status,
               const std::function<int(const absl::Status&)>& print) {
  if (status.ok() || comm.world_size() == 1) return print(status);
  if (ReportedByEveryRank(status)) return comm.rank() == 0 ? print(status) : 1;
  print(comm.rank() == 0 ? status
                         : absl::Status(status.code(),
                                        absl::StrCat("rank ", comm.rank(), ": ", status.message())));
  comm.Abort(1);
  return 1;  // Not reached: Abort ends the process.
}

int64_t ParameterBytes(const Executable& executable) {
  const std::vector<PersistentSpec>& specs = executable.program().persistent;
  int64_t bytes = 0;
  for (size_t i = 0; i < specs.size(); ++i) {
    if (specs[i].trainable) bytes += executable.persistent()[i].bytes();
  }
  return bytes;
}

absl::Status AgreeOnStatus(Communicator* data_parallel, const absl::Status& mine) {
  return data_parallel == nullptr ? mine : AgreeOnStatus(*data_parallel, mine);
}

uint64_t ParameterHash(const Executable& executable) {
  const std::vector<PersistentSpec>& specs = executable.program().persistent;
  uint64_t hash = HashBytes("");
  for (size_t i = 0; i < specs.size(); ++i) {
    if (!specs[i].trainable) continue;
    const Tensor& tensor = executable.persistent()[i];
    hash = HashBytes(std::string_view(static_cast<const char*>(tensor.data()), tensor.bytes()),
                     hash);
  }
  return hash;
}

absl::Status BroadcastPersistent(Communicator& comm, Executable& executable, PersistentSet set) {
  const std::vector<PersistentSpec>& specs = executable.program().persistent;
  for (size_t i = 0; i < specs.size(); ++i) {
    if (set == PersistentSet::kNonTrainable && specs[i].trainable) continue;
    Tensor* tensor = executable.FindPersistent(specs[i].name);
    if (tensor == nullptr) {
      return absl::InternalError(absl::StrCat("no persistent tensor '", specs[i].name, "'"));
    }
    KILN_RETURN_IF_ERROR(comm.Broadcast(tensor->data(), tensor->bytes(), /*root=*/0));
  }
  return absl::OkStatus();
}

namespace {

// The run's starting point: first_epoch, then the history's epochs as raw records (every rank
// runs the same kiln binary, so the layout agrees; CheckRanksAgree has compared versions).
absl::Status BroadcastRunStart(Communicator& comm, TrainOptions& run) {
  static_assert(std::is_trivially_copyable_v<EpochMetrics>);
  int64_t header[2] = {run.first_epoch, static_cast<int64_t>(run.history.size())};
  KILN_RETURN_IF_ERROR(comm.Broadcast(header, sizeof header, /*root=*/0));
  run.first_epoch = header[0];
  run.history.resize(header[1]);
  if (header[1] == 0) return absl::OkStatus();
  return comm.Broadcast(run.history.data(), run.history.size() * sizeof(EpochMetrics), 0);
}

}  // namespace

absl::Status JoinDataParallelRun(Communicator& comm, const RankFingerprint& fingerprint,
                                 Executable& executable, TrainOptions& run) {
  KILN_RETURN_IF_ERROR(CheckRanksAgree(comm, fingerprint));
  KILN_RETURN_IF_ERROR(BroadcastPersistent(comm, executable, PersistentSet::kAll));
  KILN_RETURN_IF_ERROR(BroadcastRunStart(comm, run));
  run.comm = &comm;
  return absl::OkStatus();
}

absl::Status StartRun(Communicator* data_parallel, const RankFingerprint& fingerprint,
                      Executable& executable, TrainOptions& run,
                      const std::function<absl::Status()>& load) {
  if (data_parallel == nullptr) return load();
  const absl::Status loaded = data_parallel->rank() == 0 ? load() : absl::OkStatus();
  KILN_RETURN_IF_ERROR(AgreeOnStatus(*data_parallel, loaded));
  KILN_RETURN_IF_ERROR(JoinDataParallelRun(*data_parallel, fingerprint, executable, run));
  if (data_parallel->rank() != 0) {
    run.log = nullptr;
    run.metrics_out.clear();
    run.checkpoint_path.clear();
    run.best_checkpoint_path.clear();
  }
  return absl::OkStatus();
}

std::string AllReduceSummary(const Communicator& comm, const std::vector<EpochMetrics>& history,
                             int64_t first_epoch) {
  int64_t steps = 0;
  double seconds = 0.0;
  for (const EpochMetrics& epoch : history) {
    if (epoch.epoch < first_epoch) continue;
    steps += epoch.steps;
    seconds += epoch.seconds;
  }
  const Communicator::AllReduceTally& tally = comm.gradient_all_reduces();
  if (steps == 0 || tally.calls == 0) return "";
  return absl::StrFormat(
      "all-reduce: %.2f ms per step (%d call%s of %d values), %.0f%% of training time\n",
      1e3 * tally.seconds / steps, tally.calls / steps, tally.calls == steps ? "" : "s",
      tally.values / tally.calls, seconds > 0 ? 100.0 * tally.seconds / seconds : 0.0);
}

StdoutOnRankZero::StdoutOnRankZero(const Communicator& comm)
    : saved_(comm.rank() != 0 ? std::cout.rdbuf(&discard_) : nullptr) {}

StdoutOnRankZero::~StdoutOnRankZero() {
  if (saved_ != nullptr) std::cout.rdbuf(saved_);
}

absl::Status CheckRanksAgree(Communicator& comm, const RankFingerprint& mine) {
  absl::StatusOr<std::vector<std::string>> all = comm.AllGather(Encode(mine));
  if (!all.ok()) return all.status();
  const RankFingerprint first = Decode((*all)[0]);
  for (int r = 1; r < comm.world_size(); ++r) {
    const RankFingerprint f = Decode((*all)[r]);
    auto mismatch = [&](std::string_view what, const std::string& a, const std::string& b) {
      return MarkReportedByEveryRank(absl::FailedPreconditionError(absl::StrFormat(
          "data-parallel ranks disagree: rank 0 has %s %s, rank %d has %s; every rank must run "
          "the same kiln, model, batch_size and data set",
          what, a, r, b)));
    };
    if (f.kiln_version != first.kiln_version) {
      return mismatch("kiln version", first.kiln_version, f.kiln_version);
    }
    if (f.graph_hash != first.graph_hash) {
      return mismatch("graph hash", absl::StrFormat("%016x", first.graph_hash),
                      absl::StrFormat("%016x", f.graph_hash));
    }
    if (f.parameter_bytes != first.parameter_bytes) {
      return mismatch("parameter bytes", absl::StrCat(first.parameter_bytes),
                      absl::StrCat(f.parameter_bytes));
    }
    if (f.global_batch != first.global_batch) {
      return mismatch("global batch", absl::StrCat(first.global_batch),
                      absl::StrCat(f.global_batch));
    }
    if (f.dataset_size != first.dataset_size) {
      return mismatch("data set size", absl::StrCat(first.dataset_size),
                      absl::StrCat(f.dataset_size));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckSameParameters(Communicator& comm, uint64_t parameter_hash, int64_t epoch) {
  std::string mine(sizeof parameter_hash, '\0');
  std::memcpy(mine.data(), &parameter_hash, sizeof parameter_hash);
  absl::StatusOr<std::vector<std::string>> all = comm.AllGather(mine);
  if (!all.ok()) return all.status();
  for (int r = 1; r < comm.world_size(); ++r) {
    if ((*all)[r] != (*all)[0]) {
      return MarkReportedByEveryRank(absl::InternalError(absl::StrFormat(
          "after epoch %d rank %d's parameters differ from rank 0's; data-parallel ranks must "
          "stay bit-identical (a kiln bug: please report it)",
          epoch, r)));
    }
  }
  return absl::OkStatus();
}

absl::Status SyncRanksAfterEpoch(Communicator& comm, Executable& executable, int64_t epoch) {
  KILN_RETURN_IF_ERROR(BroadcastPersistent(comm, executable, PersistentSet::kNonTrainable));
  return CheckSameParameters(comm, ParameterHash(executable), epoch);
}

}  // namespace kiln::runtime
