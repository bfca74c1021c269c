// Seeded 64-bit random numbers that give the same sequence on every platform and standard
// library: data shuffles, parameter initialization and per-step dropout keys all come from here.
//
//   Rng rng(DeriveSeed(seed, kShuffleStream, epoch));
//   uint64_t j = rng.Below(i + 1);
#ifndef KILN_RUNTIME_RANDOM_H_
#define KILN_RUNTIME_RANDOM_H_

#include <cstdint>

namespace kiln::runtime {

// Independent streams derived from one train seed. Values are arbitrary but fixed forever:
// changing one changes every result trained with that seed.
inline constexpr uint64_t kShuffleStream = 0x53485546464c45ull;  // "SHUFFLE"
inline constexpr uint64_t kInitStream = 0x494e4954ull;           // "INIT"
inline constexpr uint64_t kStepKeyStream = 0x535445504b4559ull;  // "STEPKEY"

// splitmix64's finalizer: a bijection on 64-bit values with good avalanche.
uint64_t Mix64(uint64_t x);

// A seed for stream `stream`, element `index` of the generator seeded with `seed`.
uint64_t DeriveSeed(uint64_t seed, uint64_t stream, uint64_t index);

// The random key a training step receives as "kiln.rng": a hash of (seed, global step), so a
// resumed run draws the same dropout masks as an uninterrupted one.
int64_t StepKey(uint64_t seed, int64_t global_step);

// splitmix64 (Steele, Lea, Flood 2014). Small state, passes BigCrush, trivially seekable.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}

  uint64_t Next();
  // Uniform in [0, n), unbiased (Lemire's multiply-and-reject). n must be positive.
  uint64_t Below(uint64_t n);
  // Uniform in [0, 1) with 53 random bits.
  double Uniform01();
  // Standard normal by the Box–Muller transform; both values of each pair are used.
  double Normal();

 private:
  uint64_t state_;
  bool has_spare_normal_ = false;
  double spare_normal_ = 0.0;
};

}  // namespace kiln::runtime

#endif  // KILN_RUNTIME_RANDOM_H_
