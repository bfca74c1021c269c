// The runtime's parallel-for: a fixed set of threads that run a generated kernel's tasks
// [0, num_tasks) in contiguous chunks, one chunk per thread. The calling thread is worker 0.
//
//   ThreadPool pool;                       // One thread per hardware core.
//   entry_fn(slots, pool.parallel());      // Generated code calls pool.Run via KilnParallel.
//
// Kernels take microseconds and a step launches dozens, so a dispatch must cost far less than a
// kernel: idle workers spin on a generation counter, then yield, and only sleep (futex, through
// std::atomic::wait) after a few milliseconds without work, so an idle pool costs no CPU.
//
// The split is static (chunk i always covers the same tasks) but chunks are claimed, not
// assigned: the caller takes chunk 0, workers claim the rest, and the caller runs any chunk no
// worker has claimed by the time it is free. A worker that is descheduled (a busy machine, more
// threads than cores) then delays nothing; the caller only waits for chunks already running.
// Run is not reentrant and must be called from one thread at a time.
#ifndef KILN_RUNTIME_THREAD_POOL_H_
#define KILN_RUNTIME_THREAD_POOL_H_

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#include "runtime/kernel_abi.h"

namespace kiln::runtime {

// Sets flush-to-zero and denormals-are-zero for the calling thread, as XLA does on CPU: kiln's
// generated code runs with subnormal floats treated as zero. Every pool thread (the creating
// thread included) calls it.
void FlushDenormalsToZero();

class ThreadPool {
 public:
  // num_threads counts the caller; 0 means one per hardware core. 1 runs everything inline.
  explicit ThreadPool(int num_threads = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int num_threads() const { return num_threads_; }

  // The C view generated code receives; valid for the pool's lifetime.
  const KilnParallel* parallel() const { return &parallel_; }

  // Runs fn over [0, num_tasks) and returns when every task is done. Chunk i of n covers
  // [i * num_tasks / n, (i + 1) * num_tasks / n); n = min(num_threads, num_tasks).
  void Run(KilnTaskFn fn, void** slots, int64_t num_tasks);

 private:
  static void RunThunk(void* pool, KilnTaskFn fn, void** slots, int64_t num_tasks);
  void WorkerLoop();
  // Blocks until the job word differs from `seen`; returns the new word.
  uint64_t AwaitChange(uint64_t seen);
  // Claims and runs chunks of the job in `word` until none is left; returns how many it ran and
  // leaves the last word it saw in `word`. Workers count each chunk in done_by_workers_.
  int ClaimAndRun(uint64_t& word, bool worker);
  void RunChunk(int chunk, int num_chunks);

  const int num_threads_;
  KilnParallel parallel_;
  std::vector<std::thread> threads_;

  // The job word packs (sequence << 32) | (num_chunks << 16) | next_chunk. A thread claims
  // chunk next_chunk by incrementing it with a compare-exchange, and only then reads the job
  // fields: the caller cannot rewrite them until every claimed chunk is done, so a late worker
  // never sees a half-written job. num_chunks == 0 asks the workers to exit.
  alignas(64) std::atomic<uint64_t> job_word_{0};
  std::atomic<int> sleepers_{0};
  KilnTaskFn fn_ = nullptr;
  void** slots_ = nullptr;
  int64_t num_tasks_ = 0;
  // Chunks finished by workers in the current job.
  alignas(64) std::atomic<int> done_by_workers_{0};
};

}  // namespace kiln::runtime

#endif  // KILN_RUNTIME_THREAD_POOL_H_
