#include "runtime/batcher.h"

#include <algorithm>
#include <cassert>
#include <cstring>
#include <numeric>
#include <utility>

#include "runtime/random.h"

namespace kiln::runtime {

std::vector<int64_t> IdentityOrder(int64_t n) {
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), int64_t{0});
  return order;
}

std::vector<int64_t> ShuffledOrder(int64_t n, uint64_t seed, int64_t epoch) {
  std::vector<int64_t> order = IdentityOrder(n);
  Rng rng(DeriveSeed(seed, kShuffleStream, static_cast<uint64_t>(epoch)));
  // Durstenfeld's Fisher–Yates: position i takes a uniform pick among the not-yet-placed [0, i].
  for (int64_t i = n - 1; i > 0; --i) {
    const int64_t j = static_cast<int64_t>(rng.Below(static_cast<uint64_t>(i) + 1));
    std::swap(order[i], order[j]);
  }
  return order;
}

Batcher::Batcher(const Dataset& data, int64_t batch_size, std::vector<int64_t> order)
    : data_(data), batch_size_(batch_size), order_(std::move(order)) {
  assert(batch_size_ > 0);
  if (!data.pixels.empty()) decoder_ = PixelDecoder::Create(data.pixel_transform);
}

int64_t Batcher::num_batches() const {
  const int64_t n = static_cast<int64_t>(order_.size());
  return (n + batch_size_ - 1) / batch_size_;
}

int64_t Batcher::BatchRows(int64_t index) const {
  const int64_t n = static_cast<int64_t>(order_.size());
  return std::min(batch_size_, n - index * batch_size_);
}

namespace {

// Rows copied together by CopyRows.
constexpr int kInterleavedRows = 4;
// Floats of one piece: a 64-byte cache line.
constexpr int64_t kPieceFloats = 16;

// Copies `count` <= kInterleavedRows rows of `dim` floats from `rows` to consecutive rows of `dst`,
// a line of each row in turn. The rows are scattered over a data set far larger than L2, so the
// copy waits on their lines: one memcpy per row keeps only that row's misses in flight, four rows
// at once four times as many. W3's gather (938 batches of 64 rows of 784 floats, AVX-512 Xeon):
// 25-26 -> 18-19 ms an epoch; 8 or 16 rows at once measured like 4.
void CopyRows(const float* const* rows, int count, int64_t dim, float* dst) {
  int64_t at = 0;
  for (; at + kPieceFloats <= dim; at += kPieceFloats) {
    for (int i = 0; i < count; ++i) {
      std::memcpy(dst + i * dim + at, rows[i] + at, kPieceFloats * sizeof(float));
    }
  }
  for (int i = 0; i < count; ++i) {
    std::memcpy(dst + i * dim + at, rows[i] + at, (dim - at) * sizeof(float));
  }
}

// How far ahead a row of pixels is prefetched before it is decoded. A row (Fashion-MNIST: 13
// lines) decodes faster than its lines come from memory, so without it the decoder would wait
// on each row in turn. W3's epoch, 2 threads (measured with an AVX-512 variant of the decoder):
// 12.7-13.0 ms of gathers without, 11.0 with 8 rows ahead; 16 and 32 rows measured slower.
constexpr int64_t kPrefetchRowsAhead = 8;

void PrefetchBytes(const void* data, int64_t bytes) {
  const char* begin = static_cast<const char*>(data);
  for (int64_t at = 0; at < bytes; at += 64) __builtin_prefetch(begin + at, /*rw=*/0, 3);
  __builtin_prefetch(begin + bytes - 1, /*rw=*/0, 3);
}

}  // namespace

void Batcher::GatherRows(int64_t index, int64_t begin, int64_t end,
                         const BatchBuffers& out) const {
  const int64_t dim = data_.feature_dim;
  const int64_t target_dim = data_.target_dim;
  const int64_t* samples = order_.data() + index * batch_size_;
  if (!data_.pixels.empty()) {
    for (int64_t r = begin; r < end; ++r) {
      if (r + kPrefetchRowsAhead < end) {
        PrefetchBytes(data_.pixels.data() + samples[r + kPrefetchRowsAhead] * dim, dim);
      }
      if (decoder_) {
        decoder_->Decode(data_.pixels.data() + samples[r] * dim, dim, out.features + r * dim);
      } else {
        data_.CopyFeatures(samples[r], 1, out.features + r * dim);  // Exact, one at a time.
      }
    }
  } else {
    for (int64_t r = begin; r < end; r += kInterleavedRows) {
      const int count = static_cast<int>(std::min<int64_t>(kInterleavedRows, end - r));
      const float* rows[kInterleavedRows];
      for (int i = 0; i < count; ++i) rows[i] = data_.row(samples[r + i]);
      CopyRows(rows, count, dim, out.features + r * dim);
    }
  }
  for (int64_t r = begin; r < end; ++r) {
    out.labels[r] = data_.labels[samples[r]];
    if (out.targets != nullptr) {
      std::memcpy(out.targets + r * target_dim, data_.target_row(samples[r]),
                  target_dim * sizeof(float));
    }
  }
}

void Batcher::PrefetchPages(int64_t index, int64_t begin, int64_t end) const {
  if (index >= num_batches()) return;
  // Pixels sit on 2 MiB pages (Fashion-MNIST's 47 MB: within the TLB's reach), so there are no
  // page walks to hide. Prefetching the next batch's first rows here instead made the step that
  // follows slower: W3, six alternating runs of 7 epochs, steps 360-372 ms an epoch against
  // 359-374 without (medians 371, 360) for 0.4 ms less of gathers.
  if (!data_.pixels.empty()) return;
  constexpr uintptr_t kPage = 4096;
  const uintptr_t row_bytes = data_.feature_dim * sizeof(float);
  const int64_t* samples = order_.data() + index * batch_size_;
  for (int64_t r = begin; r < std::min(end, BatchRows(index)); ++r) {
    const uintptr_t row = reinterpret_cast<uintptr_t>(data_.row(samples[r]));
    for (uintptr_t at = row; at < row + row_bytes; at = (at | (kPage - 1)) + 1) {
      __builtin_prefetch(reinterpret_cast<const void*>(at), /*rw=*/0, /*locality=*/2);
    }
  }
}

// A pool task over the rows of one batch: slots hold the batcher, the buffers and the index.
void Batcher::GatherTask(void** slots, int64_t begin, int64_t end) {
  const auto* batcher = static_cast<const Batcher*>(slots[0]);
  const auto* out = static_cast<const BatchBuffers*>(slots[1]);
  const int64_t index = *static_cast<const int64_t*>(slots[2]);
  batcher->GatherRows(index, begin, end, *out);
  batcher->PrefetchPages(index + 1, begin, end);
}

int64_t Batcher::Gather(int64_t index, const BatchBuffers& out, ThreadPool* pool) const {
  const int64_t rows = BatchRows(index);
  const int64_t row_bytes =
      (data_.feature_dim + (out.targets != nullptr ? data_.target_dim : 0)) * sizeof(float);
  if (pool == nullptr || pool->num_threads() == 1 || rows * row_bytes < kParallelGatherBytes) {
    GatherRows(index, 0, rows, out);
    PrefetchPages(index + 1, 0, rows);
    return rows;
  }
  void* slots[] = {const_cast<Batcher*>(this), const_cast<BatchBuffers*>(&out), &index};
  pool->Run(&Batcher::GatherTask, slots, rows);
  return rows;
}

}  // namespace kiln::runtime
