#include "runtime/thread_pool.h"

#include <algorithm>
#include <chrono>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace kiln::runtime {
namespace {

constexpr int kChunkBits = 16;
constexpr uint64_t kChunkMask = (uint64_t{1} << kChunkBits) - 1;
constexpr int kMaxThreads = static_cast<int>(kChunkMask);

uint64_t Sequence(uint64_t word) { return word >> (2 * kChunkBits); }
int NumChunks(uint64_t word) { return static_cast<int>((word >> kChunkBits) & kChunkMask); }
int NextChunk(uint64_t word) { return static_cast<int>(word & kChunkMask); }
uint64_t JobWord(uint64_t sequence, int num_chunks, int next_chunk) {
  return (sequence << (2 * kChunkBits)) | (static_cast<uint64_t>(num_chunks) << kChunkBits) |
         static_cast<uint64_t>(next_chunk);
}

// How long an idle worker keeps spinning, then yielding, before it sleeps. Spinning covers the
// gaps between kernels of one step and between steps; yielding covers batch gathering and
// short evaluations; after that the worker sleeps until the next dispatch.
constexpr auto kSpinFor = std::chrono::microseconds(200);
constexpr auto kYieldFor = std::chrono::milliseconds(5);
// Pause iterations the caller spins on running chunks before it starts yielding its core.
constexpr int kCallerSpins = 2048;

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

int ResolveThreadCount(int requested) {
  if (requested > 0) return std::min(requested, kMaxThreads);
  const unsigned hardware = std::thread::hardware_concurrency();
  return hardware == 0 ? 1 : static_cast<int>(std::min<unsigned>(hardware, kMaxThreads));
}

}  // namespace

void FlushDenormalsToZero() {
  // MXCSR FTZ (bit 15) and DAZ (bit 6). Optimizer moments of inactive units decay geometrically
  // into the subnormal range, where every operation on them is ~100x slower.
  _mm_setcsr(_mm_getcsr() | 0x8040);
}

ThreadPool::ThreadPool(int num_threads)
    : num_threads_(ResolveThreadCount(num_threads)), parallel_{this, &ThreadPool::RunThunk} {
  FlushDenormalsToZero();
  threads_.reserve(num_threads_ - 1);
  for (int worker = 1; worker < num_threads_; ++worker) {
    threads_.emplace_back([this] { WorkerLoop(); });
  }
}

ThreadPool::~ThreadPool() {
  const uint64_t sequence = Sequence(job_word_.load(std::memory_order_relaxed)) + 1;
  job_word_.store(JobWord(sequence, 0, 0), std::memory_order_seq_cst);
  job_word_.notify_all();
  for (std::thread& thread : threads_) thread.join();
}

void ThreadPool::RunThunk(void* pool, KilnTaskFn fn, void** slots, int64_t num_tasks) {
  static_cast<ThreadPool*>(pool)->Run(fn, slots, num_tasks);
}

void ThreadPool::Run(KilnTaskFn fn, void** slots, int64_t num_tasks) {
  if (num_tasks <= 0) return;
  const int num_chunks = static_cast<int>(std::min<int64_t>(num_threads_, num_tasks));
  if (num_chunks == 1) {
    fn(slots, 0, num_tasks);
    return;
  }
  fn_ = fn;
  slots_ = slots;
  num_tasks_ = num_tasks;
  done_by_workers_.store(0, std::memory_order_relaxed);
  const uint64_t sequence = Sequence(job_word_.load(std::memory_order_relaxed)) + 1;
  // Published with chunk 0 already claimed by the caller. seq_cst pairs with the sleeper's
  // seq_cst increment in AwaitChange: either we see the sleeper and wake it, or it sees the new
  // word before blocking.
  uint64_t word = JobWord(sequence, num_chunks, 1);
  job_word_.store(word, std::memory_order_seq_cst);
  if (sleepers_.load(std::memory_order_seq_cst) > 0) job_word_.notify_all();

  RunChunk(0, num_chunks);
  const int run_by_caller = 1 + ClaimAndRun(word, /*worker=*/false);
  const int run_by_workers = num_chunks - run_by_caller;
  for (int spins = 0; done_by_workers_.load(std::memory_order_acquire) != run_by_workers; ++spins) {
    // A worker preempted mid-chunk (machine oversubscribed) should get the core back.
    if (spins < kCallerSpins) {
      CpuRelax();
    } else {
      std::this_thread::yield();
    }
  }
}

void ThreadPool::RunChunk(int chunk, int num_chunks) {
  const int64_t begin = num_tasks_ * chunk / num_chunks;
  const int64_t end = num_tasks_ * (chunk + 1) / num_chunks;
  fn_(slots_, begin, end);
}

int ThreadPool::ClaimAndRun(uint64_t& word, bool worker) {
  int ran = 0;
  while (NextChunk(word) < NumChunks(word)) {
    // On failure `word` is reloaded: another thread claimed a chunk, or (for a worker) the
    // caller has published a newer job, whose chunks are just as good to claim.
    if (!job_word_.compare_exchange_weak(word, word + 1, std::memory_order_acquire,
                                         std::memory_order_acquire)) {
      continue;
    }
    RunChunk(NextChunk(word), NumChunks(word));
    ++ran;
    if (worker) done_by_workers_.fetch_add(1, std::memory_order_release);
    word = job_word_.load(std::memory_order_acquire);
  }
  return ran;
}

uint64_t ThreadPool::AwaitChange(uint64_t seen) {
  using Clock = std::chrono::steady_clock;
  const Clock::time_point start = Clock::now();
  for (int spins = 0;; ++spins) {
    const uint64_t word = job_word_.load(std::memory_order_acquire);
    if (word != seen) return word;
    if (spins % 256 != 255) {
      CpuRelax();
      continue;
    }
    const Clock::duration idle = Clock::now() - start;
    if (idle < kSpinFor) continue;
    if (idle < kYieldFor) {
      std::this_thread::yield();
      continue;
    }
    sleepers_.fetch_add(1, std::memory_order_seq_cst);
    job_word_.wait(seen, std::memory_order_seq_cst);
    sleepers_.fetch_sub(1, std::memory_order_relaxed);
    return job_word_.load(std::memory_order_acquire);
  }
}

void ThreadPool::WorkerLoop() {
  FlushDenormalsToZero();
  uint64_t word = 0;
  for (;;) {
    word = AwaitChange(word);
    ClaimAndRun(word, /*worker=*/true);
    if (NumChunks(word) == 0) return;
  }
}

}  // namespace kiln::runtime
