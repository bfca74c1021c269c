// The runtime's parallel-for: a fixed set of threads that run a generated kernel's tasks
// [0, num_tasks) in contiguous chunks, one chunk per thread. The calling thread is worker 0.
//
//   ThreadPool pool;                       // One thread per hardware core.
//   entry_fn(slots, pool.parallel());      // Generated code calls pool.Run via KilnParallel.
//
// Kernels take microseconds and a step launches dozens, so a dispatch must cost far less than a
// kernel: idle workers spin on a generation counter, then yield, and only sleep (futex, through
// std::atomic::wait) after a few milliseconds without work, so an idle pool costs no CPU.
// Run is not reentrant and must be called from one thread at a time.
#ifndef KILN_RUNTIME_THREAD_POOL_H_
#define KILN_RUNTIME_THREAD_POOL_H_

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#include "runtime/kernel_abi.h"

namespace kiln::runtime {

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
  void WorkerLoop(int worker);
  // Blocks until the published job word differs from `seen`; returns the new word.
  uint64_t AwaitJob(uint64_t seen);
  void RunChunk(int chunk, int num_chunks);

  const int num_threads_;
  KilnParallel parallel_;
  std::vector<std::thread> threads_;

  // The job word packs (sequence << 16) | num_chunks, so a worker that is not part of a job
  // learns that from the word itself and never reads job fields the caller may be rewriting.
  // num_chunks == 0 asks the workers to exit.
  alignas(64) std::atomic<uint64_t> job_word_{0};
  std::atomic<int> sleepers_{0};
  // The job itself; written before job_word_ is published, read by participating workers only.
  KilnTaskFn fn_ = nullptr;
  void** slots_ = nullptr;
  int64_t num_tasks_ = 0;
  // Participating workers still running their chunk.
  alignas(64) std::atomic<int> pending_{0};
};

}  // namespace kiln::runtime

#endif  // KILN_RUNTIME_THREAD_POOL_H_
