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
  /* Collectives of a data-parallel job, filled by the runtime from a Communicator
   * (runtime/communicator.h, BindCommunicator): replaces data[0, count) on every rank by its mean
   * over the ranks. Generated code calls it after the kernel of each all_reduce op, on that op's
   * buffer. Null (a single process, or a table built before collectives existed): skipped, which
   * is the mean over one rank. */
  void* comm;
  void (*all_reduce_mean)(void* comm, float* data, int64_t count);
} KilnParallel;

/* A generated entry point: one training step or one evaluation batch. */
typedef void (*KilnEntryFn)(void** slots, const KilnParallel* parallel);

/* What `kiln build` links into a program or library besides the generated functions: a table of
 * every generated function by name (the runtime's KernelLibrary over linked code) and the model
 * bundle (runtime/model_bundle.h), under these symbol names. */
typedef struct KilnSymbol {
  const char* name;
  void* address;
} KilnSymbol;

#define KILN_AOT_SYMBOLS "kiln_aot_symbols"           /* const KilnSymbol[]  */
#define KILN_AOT_SYMBOL_COUNT "kiln_aot_symbol_count" /* const int64_t      */
#define KILN_AOT_BUNDLE "kiln_aot_bundle"             /* const char[]       */
#define KILN_AOT_BUNDLE_SIZE "kiln_aot_bundle_size"   /* const int64_t      */

#ifdef __cplusplus
}
#endif

#endif /* KILN_RUNTIME_KERNEL_ABI_H_ */
