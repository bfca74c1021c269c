// The C library's functions (aot/kiln_trainer.h) over the linked model: one executable, a
// thread pool, and the step state the program's trainer keeps (learning rate, global step for
// the dropout keys). Errors become a status code and a thread-local message.
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "absl/strings/str_format.h"
#include "aot/kiln_trainer.h"
#include "aot/linked_model.h"
#include "runtime/checkpoint.h"
#include "runtime/random.h"
#include "runtime/thread_pool.h"
#include "runtime/trainer.h"

struct kiln_trainer {
  std::unique_ptr<kiln::aot::LinkedModel> model;
  std::unique_ptr<kiln::runtime::MemoryRegion> region;
  std::unique_ptr<kiln::runtime::Executable> executable;
  std::unique_ptr<kiln::runtime::ThreadPool> pool;
  kiln::runtime::Entry* train = nullptr;
  kiln::runtime::Entry* eval = nullptr;
  float learning_rate = 0.0f;
  uint64_t seed = 0;
  int64_t global_step = 0;
};

namespace {

using kiln::runtime::BufferView;
using kiln::runtime::Entry;

thread_local std::string last_error;

// The checkpoint setting holding a library trainer's step count.
constexpr char kLibrarySteps[] = "library steps";

kiln_status Fail(kiln_status code, std::string message) {
  last_error = std::move(message);
  return code;
}

kiln_status Fail(const absl::Status& status) {
  kiln_status code = KILN_INTERNAL;
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kResourceExhausted:
      code = KILN_INVALID_ARGUMENT;
      break;
    case absl::StatusCode::kNotFound:
      code = KILN_NOT_FOUND;
      break;
    case absl::StatusCode::kDataLoss:
    case absl::StatusCode::kFailedPrecondition:
      code = KILN_DATA_ERROR;
      break;
    default:
      break;
  }
  return Fail(code, std::string(status.message()));
}

kiln_status Ok() {
  last_error.clear();
  return KILN_OK;
}

// Copies the features and labels into the entry's inputs (labels: i64 or f32, as it takes).
// Predictions need no labels: with `labels_needed` false, null labels are left as they are.
kiln_status FeedBatch(const kiln_trainer& t, Entry& entry, const float* features,
                      const void* labels, bool labels_needed = true) {
  const kiln::runtime::ProgramSpec& program = t.executable->program();
  absl::StatusOr<BufferView> x = entry.Input(program.features_input);
  if (!x.ok()) return Fail(x.status());
  std::memcpy(x->data, features, x->num_elements() * sizeof(float));
  if (labels == nullptr && !labels_needed) return KILN_OK;
  if (!program.labels_input.empty() && entry.HasInput(program.labels_input)) {
    if (labels == nullptr) return Fail(KILN_INVALID_ARGUMENT, "labels is NULL");
    absl::StatusOr<BufferView> y = entry.Input(program.labels_input);
    if (!y.ok()) return Fail(y.status());
    const size_t size = y->spec->type == kiln::runtime::ElementType::kF32 ? 4 : 8;
    std::memcpy(y->data, labels, y->num_elements() * size);
  }
  return KILN_OK;
}

void FeedScalars(const kiln_trainer& t, Entry& entry) {
  if (absl::StatusOr<BufferView> lr = entry.Input(kiln::runtime::kLearningRateInput); lr.ok()) {
    *lr->f32() = t.learning_rate;
  }
  if (absl::StatusOr<BufferView> key = entry.Input(kiln::runtime::kRngInput); key.ok()) {
    *key->i64() = kiln::runtime::StepKey(t.seed, t.global_step);
  }
}

kiln_status Create(void* memory, size_t bytes, uint64_t seed, int threads, kiln_trainer** out) {
  if (out == nullptr) return Fail(KILN_INVALID_ARGUMENT, "out is NULL");
  *out = nullptr;
  if (threads < 0) return Fail(KILN_INVALID_ARGUMENT, "threads must be >= 0");
  auto t = std::make_unique<kiln_trainer>();
  absl::StatusOr<std::unique_ptr<kiln::aot::LinkedModel>> model = kiln::aot::LinkedModel::Load();
  if (!model.ok()) return Fail(model.status());
  t->model = *std::move(model);
  if (memory != nullptr) {
    t->region = std::make_unique<kiln::runtime::MemoryRegion>(memory, static_cast<int64_t>(bytes));
  }
  auto executable = kiln::runtime::Executable::Create(t->model->bundle().program,
                                                      t->model->library(), seed, t->region.get());
  if (!executable.ok()) return Fail(executable.status());
  t->executable = *std::move(executable);
  const kiln::runtime::TrainRecipe& recipe = t->model->recipe();
  const int64_t eval_batch = recipe.eval_batch_size > 0 ? recipe.eval_batch_size
                                                        : recipe.batch_size;
  auto train = t->executable->FindEntry(true, recipe.batch_size);
  auto eval = t->executable->FindEntry(false, eval_batch);
  if (!train.ok()) return Fail(train.status());
  if (!eval.ok()) return Fail(eval.status());
  t->train = *train;
  t->eval = *eval;
  t->pool = std::make_unique<kiln::runtime::ThreadPool>(threads);
  t->learning_rate = static_cast<float>(recipe.learning_rate);
  t->seed = seed;
  *out = t.release();
  return Ok();
}

const kiln::runtime::Tensor* FindTensor(const kiln_trainer* t, const char* name) {
  if (t == nullptr || name == nullptr) return nullptr;
  return const_cast<kiln::runtime::Executable&>(*t->executable).FindPersistent(name);
}

}  // namespace

extern "C" {

const char* kiln_last_error(void) { return last_error.c_str(); }

size_t kiln_memory_bytes(void) {
  absl::StatusOr<std::unique_ptr<kiln::aot::LinkedModel>> model = kiln::aot::LinkedModel::Load();
  if (!model.ok()) return 0;
  return static_cast<size_t>(kiln::runtime::Executable::MemoryBytes((*model)->bundle().program));
}

kiln_status kiln_create(uint64_t seed, int threads, kiln_trainer** out) {
  return Create(nullptr, 0, seed, threads, out);
}

kiln_status kiln_create_in(void* memory, size_t bytes, uint64_t seed, int threads,
                           kiln_trainer** out) {
  if (memory == nullptr) return Fail(KILN_INVALID_ARGUMENT, "memory is NULL");
  return Create(memory, bytes, seed, threads, out);
}

void kiln_destroy(kiln_trainer* trainer) { delete trainer; }

kiln_status kiln_set_threads(kiln_trainer* t, int threads) {
  if (t == nullptr) return Fail(KILN_INVALID_ARGUMENT, "trainer is NULL");
  if (threads < 0) return Fail(KILN_INVALID_ARGUMENT, "threads must be >= 0");
  t->pool = std::make_unique<kiln::runtime::ThreadPool>(threads);
  return Ok();
}

kiln_status kiln_set_lr(kiln_trainer* t, float lr) {
  if (t == nullptr) return Fail(KILN_INVALID_ARGUMENT, "trainer is NULL");
  if (!std::isfinite(lr)) return Fail(KILN_INVALID_ARGUMENT, "the learning rate is not finite");
  t->learning_rate = lr;
  return Ok();
}

kiln_status kiln_train_step(kiln_trainer* t, const float* features, const void* labels,
                            float* loss) {
  if (t == nullptr || features == nullptr) {
    return Fail(KILN_INVALID_ARGUMENT, "trainer or features is NULL");
  }
  if (kiln_status fed = FeedBatch(*t, *t->train, features, labels); fed != KILN_OK) return fed;
  FeedScalars(*t, *t->train);
  t->train->Run(t->pool->parallel());
  ++t->global_step;
  const float value = *t->train->Output(kiln::runtime::kLossOutput)->f32();
  if (loss != nullptr) *loss = value;
  if (!std::isfinite(value)) {
    return Fail(KILN_DATA_ERROR,
                absl::StrFormat("step %d: loss is %f", t->global_step, static_cast<double>(value)));
  }
  return Ok();
}

kiln_status kiln_eval_step(kiln_trainer* t, const float* features, const void* labels,
                           float* loss, float* correct) {
  if (t == nullptr || features == nullptr) {
    return Fail(KILN_INVALID_ARGUMENT, "trainer or features is NULL");
  }
  if (kiln_status fed = FeedBatch(*t, *t->eval, features, labels); fed != KILN_OK) return fed;
  FeedScalars(*t, *t->eval);
  t->eval->Run(t->pool->parallel());
  if (loss != nullptr) *loss = *t->eval->Output(kiln::runtime::kLossOutput)->f32();
  if (correct != nullptr) {
    absl::StatusOr<BufferView> count = t->eval->Output(kiln::runtime::kCorrectOutput);
    *correct = count.ok() ? *count->f32() : NAN;
  }
  return Ok();
}

kiln_status kiln_predict(kiln_trainer* t, const float* features, float* outputs,
                         int64_t* classes) {
  if (t == nullptr || features == nullptr || outputs == nullptr) {
    return Fail(KILN_INVALID_ARGUMENT, "trainer, features or outputs is NULL");
  }
  Entry& entry = *t->eval;
  for (const kiln::runtime::BufferSpec& buffer : entry.spec().buffers) {
    if (buffer.role != kiln::runtime::BufferRole::kInput) continue;
    std::memset(entry.Input(buffer.name)->data, 0, buffer.bytes);
  }
  if (kiln_status fed = FeedBatch(*t, entry, features, nullptr, /*labels_needed=*/false);
      fed != KILN_OK) {
    return fed;
  }
  entry.Run(t->pool->parallel());
  absl::StatusOr<BufferView> values = entry.Output(kiln::runtime::kProbabilitiesOutput);
  if (!values.ok()) values = entry.Output(kiln::runtime::kValueOutput);
  if (!values.ok()) return Fail(values.status());
  std::memcpy(outputs, values->data, values->num_elements() * sizeof(float));
  absl::StatusOr<BufferView> predicted = entry.Output(kiln::runtime::kPredictedOutput);
  if (classes != nullptr && predicted.ok()) {
    std::memcpy(classes, predicted->data, predicted->num_elements() * sizeof(int64_t));
  }
  return Ok();
}

kiln_status kiln_save(kiln_trainer* t, const char* path) {
  if (t == nullptr || path == nullptr) return Fail(KILN_INVALID_ARGUMENT, "trainer or path is NULL");
  const kiln::runtime::TrainRecipe& recipe = t->model->recipe();
  // Checkpoints count steps in whole epochs, which a library caller does not have: the steps
  // taken are kept as a setting, so a loaded trainer's dropout keys go on where they stopped.
  kiln::runtime::CheckpointState state{.model_name = recipe.model_name,
                                       .seed = t->seed,
                                       .settings = kiln::runtime::RunSettingsOf(recipe)};
  state.settings.push_back({kLibrarySteps, std::to_string(t->global_step)});
  absl::Status saved = kiln::runtime::SaveCheckpoint(path, state, *t->executable);
  return saved.ok() ? Ok() : Fail(saved);
}

kiln_status kiln_load(kiln_trainer* t, const char* path) {
  if (t == nullptr || path == nullptr) return Fail(KILN_INVALID_ARGUMENT, "trainer or path is NULL");
  absl::Status loaded = kiln::runtime::LoadWeights(path, t->model->recipe(), *t->executable);
  if (!loaded.ok()) return Fail(loaded);
  absl::StatusOr<kiln::runtime::Checkpoint> checkpoint = kiln::runtime::ReadCheckpoint(path);
  if (!checkpoint.ok()) return Fail(checkpoint.status());
  t->global_step = checkpoint->state.global_step;
  for (const kiln::runtime::RunSetting& setting : checkpoint->state.settings) {
    if (setting.name == kLibrarySteps) t->global_step = std::strtoll(setting.value.c_str(), nullptr, 10);
  }
  return Ok();
}

int kiln_tensor_count(const kiln_trainer* t) {
  return t == nullptr ? 0 : static_cast<int>(t->executable->persistent().size());
}

kiln_status kiln_tensor_info_at(const kiln_trainer* t, int index, kiln_tensor_info* info) {
  if (t == nullptr || info == nullptr || index < 0 || index >= kiln_tensor_count(t)) {
    return Fail(KILN_INVALID_ARGUMENT, absl::StrFormat("no tensor %d", index));
  }
  const kiln::runtime::Tensor& tensor = t->executable->persistent()[index];
  const kiln::runtime::PersistentSpec& spec = t->executable->program().persistent[index];
  *info = {};
  info->name = tensor.name().c_str();
  info->dtype = tensor.type() == kiln::runtime::ElementType::kF32 ? KILN_F32 : KILN_I64;
  info->rank = static_cast<int>(std::min<size_t>(tensor.shape().size(), 8));
  for (int d = 0; d < info->rank; ++d) info->shape[d] = tensor.shape()[d];
  info->bytes = static_cast<size_t>(tensor.bytes());
  info->trainable = spec.trainable ? 1 : 0;
  return Ok();
}

kiln_status kiln_get_tensor(const kiln_trainer* t, const char* name, void* out, size_t bytes) {
  const kiln::runtime::Tensor* tensor = FindTensor(t, name);
  if (tensor == nullptr || out == nullptr) {
    return Fail(KILN_INVALID_ARGUMENT, absl::StrFormat("no tensor '%s'", name ? name : "(null)"));
  }
  if (bytes != static_cast<size_t>(tensor->bytes())) {
    return Fail(KILN_INVALID_ARGUMENT, absl::StrFormat("tensor '%s' has %d bytes, not %d", name,
                                                       tensor->bytes(), bytes));
  }
  std::memcpy(out, tensor->data(), bytes);
  return Ok();
}

kiln_status kiln_set_tensor(kiln_trainer* t, const char* name, const void* data, size_t bytes) {
  const kiln::runtime::Tensor* tensor = FindTensor(t, name);
  if (tensor == nullptr || data == nullptr) {
    return Fail(KILN_INVALID_ARGUMENT, absl::StrFormat("no tensor '%s'", name ? name : "(null)"));
  }
  if (bytes != static_cast<size_t>(tensor->bytes())) {
    return Fail(KILN_INVALID_ARGUMENT, absl::StrFormat("tensor '%s' has %d bytes, not %d", name,
                                                       tensor->bytes(), bytes));
  }
  std::memcpy(tensor->data(), data, bytes);
  return Ok();
}

}  // extern "C"
