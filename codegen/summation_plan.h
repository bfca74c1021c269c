// How a sum reduction walks its operand so that rounding error grows with log(n), not n.
//
// A float32 sum folded left to right gains about n/2 ulps of error over n terms (a batch mean of
// 100,000 values: 1e-4 relative); PyTorch's cascade summation stays near one ulp. The plan splits
// the reduced elements of each output into *chunks* of at most kChunkElements, summed directly
// (the vectorizer spreads a chunk over many accumulators), and folds the chunk sums pairwise with
// a binary counter: partial sums of 1, 2, 4, ... chunks sit in *levels*, and pushing a chunk
// merges equal-sized partials the way a carry ripples through a counter. The error is then about
// log2(chunks) ulps plus a chunk's own few.
//
// Loops run in four groups, outermost first:
//   independent  kept dims outside the cascade; each iteration owns its own outputs and levels.
//   steps        reduced dims whose iterations push one chunk per output, and the loop over a
//                long run's chunks.
//   rows         when the innermost dim is kept (a bias gradient's columns): a block of at most
//                kRowBlock rows of the innermost reduced dim, inside a step, each row added into
//                the step's partial sums across the slab (a flat, vectorizable loop). Without it
//                every row would be a push, and the counter and carry per row would cost more
//                than the row's additions.
//   slab         kept dims inside the steps: one cascade per slab element, all sharing the step
//                counter, so a carry is the same for every element and runs as a flat loop.
//   chunk        the innermost run of reduced dims, contiguous in memory, walked as one flat
//                range (one long vectorizable loop, whatever the dims' sizes) in blocks of at
//                most kChunkElements.
// A wide kept dim may be split between independent (a loop over tiles) and slab (one tile) when
// the levels of the whole slab would not fit the scratch budget.
//
// The plan is backend-neutral: the CPU emitter follows it; any backend that folds one output's
// elements in one thread can.
#ifndef KILN_CODEGEN_SUMMATION_PLAN_H_
#define KILN_CODEGEN_SUMMATION_PLAN_H_

#include <cstdint>
#include <string>
#include <vector>

#include "ir/types.h"

namespace kiln::codegen {

// The dim a step loop over the chunk run's blocks names.
constexpr int kChunkBlocks = -1;

// One loop of the plan: over a dim, over the blocks of the chunk run (kChunkBlocks), or over a
// tiled dim's tiles (`tiles`, outer) and one tile (`within_tile`, inner: [tile * tile_size,
// min(that + tile_size, size))).
struct SumLoop {
  int dim = 0;
  int64_t extent = 0;     // Iterations: the dim's size, or its number of tiles or blocks.
  int64_t tile_size = 0;  // Tiled dims only.
  bool tiles = false;
  bool within_tile = false;
};

struct SummationPlan {
  // Each group's loops, outermost first.
  std::vector<SumLoop> independent, steps, rows, slab;
  int chunk_first_dim = 0;  // The chunk run is dims [chunk_first_dim, rank): all reduced.
  int64_t chunk_run = 1;    // Its elements (1 when the innermost dim is kept: no run).
  int64_t chunk_size = 1;   // Elements per chunk: the run, or kChunkElements of it.
  int64_t pushes = 1;       // Chunks per output: the product of the step loops' extents.
  int levels = 0;           // Partial-sum levels a cascade needs: bit_width(pushes); 0 if one push.
  int64_t slab_size = 1;    // Slab elements (cascades) per independent iteration.
  // The loop a task range splits: the first independent loop, else the first slab loop; none
  // for a full reduction, which runs as one task.
  enum class Parallel { kNone, kIndependent, kSlab } parallel = Parallel::kNone;

  std::string ToString() const;  // For tests, e.g. "... chunk[d2..3 784/256] pushes=512 ...".
};

// Elements one chunk sums directly. Small enough that a chunk's own error (a few additions per
// vector accumulator) stays near an ulp; large enough that the cascade's bookkeeping is rare.
constexpr int64_t kChunkElements = 256;
// Rows one step of a column sum adds directly into its partial sums: the counter and carry of the
// cascade are paid once per block, and a block's own error stays a few ulps.
constexpr int64_t kRowBlock = 16;
// Floats of level storage one cascade group may use (levels x slab elements): 32 KiB, on the
// stack of the thread running the task.
constexpr int64_t kLevelScratchFloats = 8192;

// `reduced[d]`: whether operand dim d is summed. Shapes of any rank (rank 0: one element).
SummationPlan PlanSummation(const ir::Shape& shape, const std::vector<bool>& reduced);

}  // namespace kiln::codegen

#endif  // KILN_CODEGEN_SUMMATION_PLAN_H_
