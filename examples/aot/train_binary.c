/* A C program that trains W2's binary classifier (examples/binary_classifier.kiln) through the
 * library `kiln build --lib` writes, on data it makes itself: no kiln data loader, no Python.
 *
 *   build/tools/kiln build examples/binary_classifier.kiln --lib -o out
 *   cc -std=c11 -O2 -I out examples/aot/train_binary.c out/libbinary_classifier.a \
 *      -lstdc++ -lm -lz -o train_binary
 *   ./train_binary out/model.ckpt
 *
 * The data: 10 features drawn uniformly from [-1, 1]; the label says whether a fixed weighted
 * sum of them is positive (a linearly separable rule the network learns in a few epochs).
 * Prints the loss per epoch and the held-out accuracy, saves a checkpoint, then loads it into a
 * second trainer placed in memory this program owns and checks that both predict the same. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "binary_classifier.h"

#define TRAIN_BATCHES 9
#define BATCH BINARY_CLASSIFIER_BATCH_SIZE
#define FEATURES BINARY_CLASSIFIER_FEATURES

static unsigned long long rng_state = 0x9E3779B97F4A7C15ull;
static float Uniform(void) { /* xorshift64*: [-1, 1) */
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return (float)((rng_state * 2685821657736338717ull) >> 40) / (float)(1 << 24) * 2.0f - 1.0f;
}

static void MakeBatch(float* x, float* y) {
  static const float kWeights[FEATURES] = {1.0f, -2.0f, 0.5f, 1.5f, -1.0f,
                                           0.25f, 2.0f, -0.5f, 1.0f, -1.5f};
  for (int i = 0; i < BATCH; ++i) {
    float sum = 0.0f;
    for (int f = 0; f < FEATURES; ++f) {
      x[i * FEATURES + f] = Uniform();
      sum += kWeights[f] * x[i * FEATURES + f];
    }
    y[i] = sum > 0.0f ? 1.0f : 0.0f;
  }
}

static int Check(kiln_status status, const char* what) {
  if (status == KILN_OK) return 1;
  fprintf(stderr, "train_binary: %s: %s\n", what, kiln_last_error());
  return 0;
}

int main(int argc, char** argv) {
  const char* checkpoint = argc > 1 ? argv[1] : "binary_classifier.ckpt";
  static float train_x[TRAIN_BATCHES][BATCH * FEATURES], train_y[TRAIN_BATCHES][BATCH];
  static float test_x[BATCH * FEATURES], test_y[BATCH];
  for (int b = 0; b < TRAIN_BATCHES; ++b) MakeBatch(train_x[b], train_y[b]);
  MakeBatch(test_x, test_y);

  kiln_trainer* trainer = NULL;
  if (!Check(kiln_create(/*seed=*/0, /*threads=*/1, &trainer), "create")) return 1;
  for (int epoch = 1; epoch <= 30; ++epoch) {
    float total = 0.0f, loss = 0.0f;
    for (int b = 0; b < TRAIN_BATCHES; ++b) {
      if (!Check(kiln_train_step(trainer, train_x[b], train_y[b], &loss), "train step")) return 1;
      total += loss;
    }
    if (epoch % 10 == 0) printf("epoch %d train_loss %.4f\n", epoch, total / TRAIN_BATCHES);
  }
  float test_loss = 0.0f, correct = 0.0f;
  if (!Check(kiln_eval_step(trainer, test_x, test_y, &test_loss, &correct), "eval step")) return 1;
  printf("test_loss %.4f test_acc %.4f\n", test_loss, correct / BATCH);
  if (!Check(kiln_save(trainer, checkpoint), "save")) return 1;

  /* A second trainer in memory this program owns, loaded from the checkpoint. */
  const size_t bytes = kiln_memory_bytes();
  void* memory = aligned_alloc(64, (bytes + 63) / 64 * 64);
  kiln_trainer* loaded = NULL;
  if (!Check(kiln_create_in(memory, bytes, /*seed=*/1, 1, &loaded), "create_in")) return 1;
  if (!Check(kiln_load(loaded, checkpoint), "load")) return 1;
  static float p1[BATCH * BINARY_CLASSIFIER_OUTPUTS], p2[BATCH * BINARY_CLASSIFIER_OUTPUTS];
  if (!Check(kiln_predict(trainer, test_x, p1, NULL), "predict")) return 1;
  if (!Check(kiln_predict(loaded, test_x, p2, NULL), "predict (loaded)")) return 1;
  const int same = memcmp(p1, p2, sizeof(p1)) == 0;
  printf("%d tensors; the loaded trainer predicts %s\n", kiln_tensor_count(loaded),
         same ? "the same" : "DIFFERENTLY");
  kiln_destroy(loaded);
  free(memory);
  kiln_destroy(trainer);
  return same ? 0 : 1;
}
