#include "codegen/summation_plan.h"

#include <algorithm>
#include <bit>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace kiln::codegen {
namespace {

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

SumLoop Whole(int dim, int64_t size) { return SumLoop{.dim = dim, .extent = size}; }

int64_t Product(const std::vector<SumLoop>& loops) {
  int64_t n = 1;
  for (const SumLoop& loop : loops) n *= loop.extent;
  return n;
}

std::string LoopsText(const std::vector<SumLoop>& loops) {
  return absl::StrJoin(loops, " ", [](std::string* out, const SumLoop& loop) {
    if (loop.dim == kChunkBlocks) return absl::StrAppend(out, "chunks:", loop.extent);
    absl::StrAppend(out, "d", loop.dim);
    if (loop.tiles) return absl::StrAppend(out, "/", loop.tile_size);
    if (loop.within_tile) return absl::StrAppend(out, "%", loop.tile_size);
    absl::StrAppend(out, ":", loop.extent);
  });
}

}  // namespace

SummationPlan PlanSummation(const ir::Shape& shape, const std::vector<bool>& reduced) {
  SummationPlan plan;
  const int rank = static_cast<int>(shape.size());

  // The chunk run: the innermost reduced dims, contiguous in memory.
  plan.chunk_first_dim = rank;
  while (plan.chunk_first_dim > 0 && reduced[plan.chunk_first_dim - 1]) {
    plan.chunk_run *= shape[--plan.chunk_first_dim];
  }
  plan.chunk_size = std::min(plan.chunk_run, kChunkElements);

  // The other dims in memory order: kept dims before the first reduced one are independent,
  // reduced dims are steps, kept dims after a reduced one are the slab.
  bool seen_reduced = false;
  for (int d = 0; d < plan.chunk_first_dim; ++d) {
    seen_reduced = seen_reduced || reduced[d];
    std::vector<SumLoop>& group =
        reduced[d] ? plan.steps : (seen_reduced ? plan.slab : plan.independent);
    group.push_back(Whole(d, shape[d]));
  }
  if (plan.chunk_run > plan.chunk_size) {
    plan.steps.push_back(Whole(kChunkBlocks, CeilDiv(plan.chunk_run, plan.chunk_size)));
  }
  // No chunk run (the innermost dim is kept): the innermost step dims go in blocks of rows.
  // Whole dims while they fit one block together (a pooling window's KH x KW: no cascade at
  // all); else the innermost dim split into blocks.
  if (plan.chunk_run == 1 && !plan.steps.empty() && !plan.slab.empty()) {
    int64_t block = 1;
    while (!plan.steps.empty() && block * plan.steps.back().extent <= kRowBlock) {
      block *= plan.steps.back().extent;
      plan.rows.insert(plan.rows.begin(), plan.steps.back());
      plan.steps.pop_back();
    }
    if (plan.rows.empty()) {
      const SumLoop last = plan.steps.back();
      plan.steps.back() = SumLoop{.dim = last.dim, .extent = CeilDiv(last.extent, kRowBlock),
                                  .tile_size = kRowBlock, .tiles = true};
      plan.rows.push_back(SumLoop{.dim = last.dim, .extent = kRowBlock, .tile_size = kRowBlock,
                                  .within_tile = true});
    }
  }

  plan.pushes = Product(plan.steps);
  plan.levels = plan.pushes > 1 ? std::bit_width(static_cast<uint64_t>(plan.pushes)) : 0;
  plan.slab_size = Product(plan.slab);

  // Keep the levels within the scratch budget: move outer slab dims out to the independent
  // loops, and if one dim alone is too wide, tile it.
  while (plan.levels > 0 && plan.levels * plan.slab_size > kLevelScratchFloats) {
    SumLoop outer = plan.slab.front();
    plan.slab.erase(plan.slab.begin());
    plan.slab_size /= outer.extent;
    int64_t tile = kLevelScratchFloats / (plan.levels * plan.slab_size);
    if (tile >= 2) {
      plan.independent.push_back(SumLoop{.dim = outer.dim, .extent = CeilDiv(outer.extent, tile),
                                         .tile_size = tile, .tiles = true});
      plan.slab.insert(plan.slab.begin(), SumLoop{.dim = outer.dim, .extent = tile,
                                                  .tile_size = tile, .within_tile = true});
      plan.slab_size *= tile;
    } else {
      plan.independent.push_back(outer);
    }
  }

  if (!plan.independent.empty()) {
    plan.parallel = SummationPlan::Parallel::kIndependent;
  } else if (!plan.slab.empty()) {
    plan.parallel = SummationPlan::Parallel::kSlab;
  }
  return plan;
}

std::string SummationPlan::ToString() const {
  std::string chunk =
      chunk_run > 1 ? absl::StrCat("d", chunk_first_dim, ".. ", chunk_run, "/", chunk_size) : "";
  return absl::StrCat("independent[", LoopsText(independent), "] steps[", LoopsText(steps),
                      "] rows[", LoopsText(rows), "] slab[", LoopsText(slab), "] chunk[", chunk,
                      "] pushes=", pushes, " levels=", levels);
}

}  // namespace kiln::codegen
