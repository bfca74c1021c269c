/* The C calling convention between generated code and the runtime. Generated entry points and
 * kernels follow it whether they come from the JIT or from an AOT object file. Plain C so that
 * codegen can declare the same signatures in LLVM IR. */
#ifndef KILN_RUNTIME_KERNEL_ABI_H_
#define KILN_RUNTIME_KERNEL_ABI_H_

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A kernel processes tasks [begin, end) of its iteration space. */
typedef void (*KilnTaskFn)(void** slots, int64_t begin, int64_t end);

/* Runs fn over [0, num_tasks) split across the runtime's threads; returns when all are done.
 * Generated entry points call it once per parallel kernel. */
typedef struct KilnParallel {
  void* pool;
  void (*run)(void* pool, KilnTaskFn fn, void** slots, int64_t num_tasks);
} KilnParallel;

/* A generated entry point: one training step or one evaluation batch. */
typedef void (*KilnEntryFn)(void** slots, const KilnParallel* parallel);

#ifdef __cplusplus
}
#endif

#endif /* KILN_RUNTIME_KERNEL_ABI_H_ */
