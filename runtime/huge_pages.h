// Large, long-lived buffers on 2 MiB pages where the kernel allows it (Linux transparent huge
// pages; Debian's default grants them to regions that ask). With 4 KiB pages a read that jumps
// between rows of a buffer far larger than the TLB's reach pays a page walk per row: a GEMM's B
// panel, a shuffled batch gathered from the data set.
//
//   std::vector<float> features;
//   ResizeOnHugePages(features, num_samples * feature_dim);   // zeros, not yet touched elsewhere
#ifndef KILN_RUNTIME_HUGE_PAGES_H_
#define KILN_RUNTIME_HUGE_PAGES_H_

#include <cstddef>
#include <vector>

namespace kiln::runtime {

// Asks for 2 MiB pages over the 2 MiB-aligned part of [data, data + bytes). Best effort: pages
// already touched stay as they are, and a kernel that refuses leaves ordinary pages.
void AdviseHugePages(void* data, size_t bytes);

// Resizes `values` (empty) to `count` zeros, asking for 2 MiB pages before the zeros touch its
// storage, so that its pages fault in as huge pages.
template <typename T>
void ResizeOnHugePages(std::vector<T>& values, size_t count) {
  // reserve() maps the storage without touching it (the C library maps large blocks afresh);
  // resize() then writes the zeros that fault it in.
  values.reserve(count);
  AdviseHugePages(values.data(), values.capacity() * sizeof(T));
  values.resize(count);
}

}  // namespace kiln::runtime

#endif  // KILN_RUNTIME_HUGE_PAGES_H_
