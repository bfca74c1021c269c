/* The C99 interface of a model library written by `kiln build FILE --lib -o DIR`. DIR/<model>.h
 * begins with the model's sizes as macros (<MODEL>_BATCH_SIZE, <MODEL>_FEATURES, ...) and then
 * holds this text. No C++ types; every function returns a kiln_status, and kiln_last_error()
 * gives the message of the calling thread's last failure.
 *
 *   kiln_trainer* t;
 *   if (kiln_create(0, 0, &t) != KILN_OK) { fprintf(stderr, "%s\n", kiln_last_error()); ... }
 *   float loss;
 *   kiln_train_step(t, features, labels, &loss);   // exactly <MODEL>_BATCH_SIZE samples
 *   kiln_save(t, "model.ckpt");                    // kiln train's checkpoint format
 *   kiln_destroy(t);
 *
 * Link: cc app.c DIR/lib<model>.a -lstdc++ -lm -lz (one kiln model library per program). */
#ifndef KILN_TRAINER_H_
#define KILN_TRAINER_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum kiln_status {
  KILN_OK = 0,
  KILN_INVALID_ARGUMENT = 1, /* a null pointer, a wrong size, an unknown tensor name */
  KILN_NOT_FOUND = 2,        /* a missing file */
  KILN_DATA_ERROR = 3,       /* a corrupt or mismatched checkpoint, a non-finite loss */
  KILN_INTERNAL = 4
} kiln_status;

typedef enum kiln_dtype { KILN_F32 = 0, KILN_I64 = 1 } kiln_dtype;

typedef struct kiln_trainer kiln_trainer;

/* One persistent tensor: a parameter (trainable) or optimizer state / running statistics. */
typedef struct kiln_tensor_info {
  const char* name; /* valid while the trainer lives */
  kiln_dtype dtype;
  int rank;
  int64_t shape[8];
  size_t bytes;
  int trainable;
} kiln_tensor_info;

/* The calling thread's last error message ("" when none). */
const char* kiln_last_error(void);

/* Bytes of tensor memory (parameters, optimizer state, inputs and the step arenas) a trainer
 * needs: what kiln_create_in must be given, 64-byte aligned. */
size_t kiln_memory_bytes(void);

/* A trainer with its parameters initialized from `seed`; threads 0: one per core. */
kiln_status kiln_create(uint64_t seed, int threads, kiln_trainer** out);
/* The same with every tensor in `memory` (kiln_memory_bytes() bytes, 64-byte aligned), which
 * the caller owns and must keep until kiln_destroy. */
kiln_status kiln_create_in(void* memory, size_t bytes, uint64_t seed, int threads,
                           kiln_trainer** out);
void kiln_destroy(kiln_trainer* trainer);

kiln_status kiln_set_threads(kiln_trainer* trainer, int threads);
kiln_status kiln_set_lr(kiln_trainer* trainer, float lr);

/* One optimizer step on <MODEL>_BATCH_SIZE samples: features f32 [batch, <MODEL>_FEATURES];
 * labels int64_t [batch] class indices, or float [batch, <MODEL>_LABEL_VALUES] when
 * <MODEL>_LABELS_F32 is 1. Writes the batch-mean loss. */
kiln_status kiln_train_step(kiln_trainer* trainer, const float* features, const void* labels,
                            float* loss);
/* Loss and (classifiers) the count of correct predictions of <MODEL>_EVAL_BATCH_SIZE samples;
 * `correct` may be NULL. */
kiln_status kiln_eval_step(kiln_trainer* trainer, const float* features, const void* labels,
                           float* loss, float* correct);
/* For <MODEL>_EVAL_BATCH_SIZE samples: outputs f32 [batch, <MODEL>_OUTPUTS] (class
 * probabilities, or the regression values) and, for classifiers, classes [batch] (may be NULL). */
kiln_status kiln_predict(kiln_trainer* trainer, const float* features, float* outputs,
                         int64_t* classes);

/* kiln train's checkpoint format: kiln train --init-weights and PROGRAM eval read it. */
kiln_status kiln_save(kiln_trainer* trainer, const char* path);
kiln_status kiln_load(kiln_trainer* trainer, const char* path);

int kiln_tensor_count(const kiln_trainer* trainer);
kiln_status kiln_tensor_info_at(const kiln_trainer* trainer, int index, kiln_tensor_info* info);
/* Copy a persistent tensor out or in; `bytes` must be its size. */
kiln_status kiln_get_tensor(const kiln_trainer* trainer, const char* name, void* out,
                            size_t bytes);
kiln_status kiln_set_tensor(kiln_trainer* trainer, const char* name, const void* data,
                            size_t bytes);

#ifdef __cplusplus
}
#endif

#endif /* KILN_TRAINER_H_ */
