// The training section of a model file: data, optimizer, schedule. Produced by the frontend,
// consumed by the training-step builder (optimizer) and by the runtime (data, epochs).
#ifndef KILN_IR_TRAIN_CONFIG_H_
#define KILN_IR_TRAIN_CONFIG_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "support/source_location.h"

namespace kiln::ir {

struct DataConfig {
  std::string source = "fashion_mnist";  // "fashion_mnist" | "mnist" | "idx"
  std::string path;                      // Directory with the IDX files; "" = the source's default.
  double scale = 1.0;                    // Applied first: x * scale.
  std::vector<double> mean;              // Then (x - mean) / std; empty = no normalization.
  std::vector<double> std;
  int64_t train_limit = 0;               // Use only the first N samples (0 = all).
  int64_t test_limit = 0;
  bool shuffle = true;
  SourceLoc loc;
};

struct OptimizerConfig {
  std::string kind = "sgd";              // "sgd" | "adam"
  // PyTorch's names and defaults: lr, momentum, dampening, nesterov, weight_decay, beta1, beta2,
  // eps. Only keys the optimizer knows are accepted by the frontend.
  std::map<std::string, double> hparams;
  double Get(const std::string& key, double fallback) const {
    auto it = hparams.find(key);
    return it == hparams.end() ? fallback : it->second;
  }
  SourceLoc loc;
};

struct TrainConfig {
  DataConfig data;
  OptimizerConfig optimizer;
  int64_t batch_size = 64;
  int64_t epochs = 1;
  uint64_t seed = 0;
  std::vector<std::string> metrics = {"loss", "accuracy"};
};

}  // namespace kiln::ir

#endif  // KILN_IR_TRAIN_CONFIG_H_
