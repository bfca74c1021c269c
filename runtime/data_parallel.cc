#include "runtime/data_parallel.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

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

uint64_t HashBytes(std::string_view bytes, uint64_t seed) {
  uint64_t h = seed;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

absl::Status CheckRanksAgree(Communicator& comm, const RankFingerprint& mine) {
  absl::StatusOr<std::vector<std::string>> all = comm.AllGather(Encode(mine));
  if (!all.ok()) return all.status();
  const RankFingerprint first = Decode((*all)[0]);
  for (int r = 1; r < comm.world_size(); ++r) {
    const RankFingerprint f = Decode((*all)[r]);
    auto mismatch = [&](std::string_view what, const std::string& a, const std::string& b) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "data-parallel ranks disagree: rank 0 has %s %s, rank %d has %s; every rank must run "
          "the same kiln, model, batch_size and data set",
          what, a, r, b));
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
      return absl::InternalError(absl::StrFormat(
          "after epoch %d rank %d's parameters differ from rank 0's; data-parallel ranks must "
          "stay bit-identical (a kiln bug: please report it)",
          epoch, r));
    }
  }
  return absl::OkStatus();
}

}  // namespace kiln::runtime
