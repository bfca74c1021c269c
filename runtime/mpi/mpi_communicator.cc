// The MPI backend of Communicator (kiln_runtime_mpi), compiled only when CMake finds MPI.
// AllReduceMean sums each slice in rank order itself (MPI_Alltoall, then MPI_Allgather) rather
// than trusting MPI_Allreduce's reduction order, so every rank gets bit-identical results on any
// transport and the same run gives the same bits twice.
#include <mpi.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "runtime/mpi/mpi_communicator.h"

#define KILN_MPI_RETURN(expr)          \
  do {                                  \
    absl::Status _s = (expr);           \
    if (!_s.ok()) return _s;            \
  } while (0)

namespace kiln::runtime {
namespace {

absl::Status Check(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return absl::OkStatus();
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, text, &len);
  return absl::InternalError(absl::StrCat("MPI ", what, " failed: ", std::string(text, len)));
}

void FinalizeAtExit() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

class MpiCommunicator final : public Communicator {
 public:
  MpiCommunicator() {
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
    // The ranks that share this machine's memory are the ones that share its GPUs.
    MPI_Comm node = MPI_COMM_NULL;
    if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node) ==
        MPI_SUCCESS) {
      MPI_Comm_rank(node, &local_rank_);
      MPI_Comm_free(&node);
    }
  }
  int rank() const override { return rank_; }
  int world_size() const override { return size_; }
  int local_rank() const override { return local_rank_; }
  std::string backend() const override { return "mpi"; }

  absl::Status AllReduceMean(float* data, size_t count) override {
    if (size_ == 1 || count == 0) return absl::OkStatus();
    // Reduce-scatter-free and deterministic: each rank sums a contiguous slice in rank order,
    // then the slices are gathered back (same traffic as a ring all-reduce). The scratch buffers
    // live as long as the communicator: a step's gradients are the same size every step, and
    // fresh megabytes each call cost page faults and zeroing.
    const size_t per = (count + size_ - 1) / size_;
    const float* send = data;
    if (per * size_ != count) {  // Pad the last slice so that every slice has `per` values.
      padded_.resize(per * size_);
      std::memcpy(padded_.data(), data, count * sizeof(float));
      std::fill(padded_.begin() + count, padded_.end(), 0.0f);
      send = padded_.data();
    }
    slices_.resize(per * size_);
    KILN_MPI_RETURN(Check(MPI_Alltoall(send, static_cast<int>(per), MPI_FLOAT, slices_.data(),
                                       static_cast<int>(per), MPI_FLOAT, MPI_COMM_WORLD),
                          "alltoall"));
    mine_.assign(slices_.begin(), slices_.begin() + per);
    for (int r = 1; r < size_; ++r) {
      const float* slice = slices_.data() + r * per;
      for (size_t i = 0; i < per; ++i) mine_[i] += slice[i];
    }
    const float scale = 1.0f / static_cast<float>(size_);
    for (float& v : mine_) v *= scale;
    float* gathered = per * size_ == count ? data : padded_.data();
    KILN_MPI_RETURN(Check(MPI_Allgather(mine_.data(), static_cast<int>(per), MPI_FLOAT, gathered,
                                        static_cast<int>(per), MPI_FLOAT, MPI_COMM_WORLD),
                          "allgather"));
    if (gathered != data) std::memcpy(data, gathered, count * sizeof(float));
    return absl::OkStatus();
  }

  absl::Status AllReduceSum(double* data, size_t count) override {
    if (size_ == 1 || count == 0) return absl::OkStatus();
    std::vector<double> all(count * size_);
    KILN_MPI_RETURN(Check(MPI_Allgather(data, static_cast<int>(count), MPI_DOUBLE, all.data(),
                                        static_cast<int>(count), MPI_DOUBLE, MPI_COMM_WORLD),
                          "allgather"));
    for (size_t i = 0; i < count; ++i) {
      double s = 0;
      for (int r = 0; r < size_; ++r) s += all[r * count + i];
      data[i] = s;
    }
    return absl::OkStatus();
  }

  absl::Status Broadcast(void* bytes, size_t size, int root) override {
    return Check(MPI_Bcast(bytes, static_cast<int>(size), MPI_BYTE, root, MPI_COMM_WORLD),
                 "broadcast");
  }

  absl::StatusOr<std::vector<std::string>> AllGather(const std::string& bytes) override {
    std::vector<char> all(bytes.size() * size_);
    KILN_MPI_RETURN(Check(MPI_Allgather(bytes.data(), static_cast<int>(bytes.size()), MPI_BYTE,
                                        all.data(), static_cast<int>(bytes.size()), MPI_BYTE,
                                        MPI_COMM_WORLD),
                          "allgather"));
    std::vector<std::string> out;
    for (int r = 0; r < size_; ++r) out.emplace_back(all.data() + r * bytes.size(), bytes.size());
    return out;
  }

  absl::Status Barrier() override { return Check(MPI_Barrier(MPI_COMM_WORLD), "barrier"); }

  [[noreturn]] void Abort(int code) override {
    MPI_Abort(MPI_COMM_WORLD, code);
    std::exit(code);
  }

 private:
  int rank_ = 0;
  int size_ = 1;
  int local_rank_ = 0;
  // AllReduceMean's scratch, reused across calls.
  std::vector<float> padded_, slices_, mine_;
};

}  // namespace

bool MpiAvailable() { return true; }

absl::StatusOr<std::unique_ptr<Communicator>> MakeMpiCommunicator() {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) {
    KILN_MPI_RETURN(Check(MPI_Init(nullptr, nullptr), "init"));
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    std::atexit(FinalizeAtExit);
  }
  return std::unique_ptr<Communicator>(new MpiCommunicator());
}

}  // namespace kiln::runtime
