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
}

int64_t Batcher::num_batches() const {
  const int64_t n = static_cast<int64_t>(order_.size());
  return (n + batch_size_ - 1) / batch_size_;
}

int64_t Batcher::BatchRows(int64_t index) const {
  const int64_t n = static_cast<int64_t>(order_.size());
  return std::min(batch_size_, n - index * batch_size_);
}

int64_t Batcher::Gather(int64_t index, float* features, int64_t* labels) const {
  const int64_t rows = BatchRows(index);
  const int64_t dim = data_.feature_dim;
  const int64_t* samples = order_.data() + index * batch_size_;
  for (int64_t r = 0; r < rows; ++r) {
    std::memcpy(features + r * dim, data_.row(samples[r]), dim * sizeof(float));
    labels[r] = data_.labels[samples[r]];
  }
  return rows;
}

}  // namespace kiln::runtime
