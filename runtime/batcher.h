// Splits a data set into batches: a seeded Fisher–Yates shuffle of the sample order per epoch
// (the same order on every platform, unlike std::shuffle), batches of batch_size with a smaller
// last batch, and a gather of each batch's rows straight into the entry's input buffers.
//
//   Batcher batcher(data, /*batch_size=*/64, SampleOrder(data.num_samples, seed, epoch));
//   for (int64_t b = 0; b < batcher.num_batches(); ++b) {
//     const int64_t rows = batcher.Gather(b, {features, labels}, &pool);
//   }
#ifndef KILN_RUNTIME_BATCHER_H_
#define KILN_RUNTIME_BATCHER_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "runtime/dataset.h"
#include "runtime/pixel_decoder.h"
#include "runtime/thread_pool.h"

namespace kiln::runtime {

// The order samples are visited in during `epoch`: a permutation of [0, n) that depends only on
// (seed, epoch).
std::vector<int64_t> ShuffledOrder(int64_t n, uint64_t seed, int64_t epoch);

// [0, 1, ..., n-1]: evaluation, and training without shuffling.
std::vector<int64_t> IdentityOrder(int64_t n);

// Where a batch goes: features [rows, D], labels [rows], and, when not null, the data's f32
// targets [rows, target_dim].
struct BatchBuffers {
  float* features = nullptr;
  int64_t* labels = nullptr;
  float* targets = nullptr;
};

class Batcher {
 public:
  // Batches visit data's samples in `order` (a permutation, or any list of sample indices).
  Batcher(const Dataset& data, int64_t batch_size, std::vector<int64_t> order);

  int64_t num_batches() const;
  int64_t batch_size() const { return batch_size_; }
  // Rows in batch `index`: batch_size, or fewer for the last one.
  int64_t BatchRows(int64_t index) const;
  // Whether batches are decoded from the data's pixels rather than copied from its features.
  bool decodes_pixels() const { return decoder_.has_value(); }

  // Copies batch `index` into `out`; returns rows. The rows are scattered over a data set far
  // larger than the caches and its TLB reach, so a copy waits on memory and page walks (W3's
  // epoch spent a tenth of its time here): with a pool, a batch of at least kParallelGatherBytes
  // splits its rows across the pool's threads, and every gather ends by prefetching one line of
  // each page the next batch's rows touch, so the step in between hides those page walks. Data
  // held as 8-bit pixels is decoded from them instead, each row prefetched a few rows ahead.
  int64_t Gather(int64_t index, const BatchBuffers& out, ThreadPool* pool = nullptr) const;
  int64_t Gather(int64_t index, float* features, int64_t* labels) const {
    return Gather(index, BatchBuffers{features, labels});
  }

  static constexpr int64_t kParallelGatherBytes = 32 * 1024;

 private:
  // Rows [begin, end) of batch `index`.
  void GatherRows(int64_t index, int64_t begin, int64_t end, const BatchBuffers& out) const;
  // Prefetches the first line of every page rows [begin, end) of batch `index` touch (nothing
  // past the last batch); nothing for data held as pixels.
  void PrefetchPages(int64_t index, int64_t begin, int64_t end) const;
  static void GatherTask(void** slots, int64_t begin, int64_t end);

  const Dataset& data_;
  // Set when the data holds pixels and this CPU decodes them exactly; pixels without it are
  // looked up in the transform's values one by one.
  std::optional<PixelDecoder> decoder_;
  int64_t batch_size_;
  std::vector<int64_t> order_;
};

}  // namespace kiln::runtime

#endif  // KILN_RUNTIME_BATCHER_H_
