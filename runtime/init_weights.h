// Starting a run from named tensors trained elsewhere (`kiln train --init-weights FILE`): a kiln
// checkpoint, or a PyTorch state_dict written in the same format by
// scripts/export_pytorch_weights.py. Like load_state_dict, tensors are matched by name; unlike a
// resumed run, only the model's parameters and running statistics are taken (no optimizer state,
// no epoch count), so the loaded model can be trained with another optimizer, head or data set.
//
//   KILN_ASSIGN_OR_RETURN(InitWeightsReport report,
//                         LoadInitialWeights("resnet18.kckpt", {"conv1.weight", ...},
//                                            {"fc.0.weight", ...}, *executable));
//   std::cout << FormatInitWeightsReport("resnet18.kckpt", report);
#ifndef KILN_RUNTIME_INIT_WEIGHTS_H_
#define KILN_RUNTIME_INIT_WEIGHTS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/executable.h"

namespace kiln::runtime {

struct InitWeightsReport {
  int64_t tensors_loaded = 0;
  int64_t values_loaded = 0;
  std::vector<std::string> kept;     // Model tensors left at their initializers, as asked.
  std::vector<std::string> ignored;  // Tensors of the file the model does not take.
};

// Loads each tensor named in `load` (persistent tensors of `executable`) from the file at `path`
// (read and checked as a checkpoint: magic, version, size, CRC-32). `keep` lists the model
// tensors that are deliberately not loaded; they are reported, and the file may lack them. Errors
// are one line, and on error nothing has been written:
//   "w.kckpt: no tensor 'layer1.0.conv1.weight' (the model's f32[64,64,3,3]); exclude it with
//    init_exclude to keep its initializer"
//   "w.kckpt: tensor 'fc.weight' has shape [10,512], the model expects [512,10]"
//   "w.kckpt: checksum mismatch (file is corrupt)"
absl::StatusOr<InitWeightsReport> LoadInitialWeights(const std::string& path,
                                                     const std::vector<std::string>& load,
                                                     const std::vector<std::string>& keep,
                                                     Executable& executable);

// "kiln: loaded 102 tensors (11181642 values) from w.kckpt; kept the initializers of 6 (fc.0.weight,
// ...); ignored 2 tensors of the file (fc.weight, fc.bias)" — lists shortened after 4 names.
std::string FormatInitWeightsReport(const std::string& path, const InitWeightsReport& report);

}  // namespace kiln::runtime

#endif  // KILN_RUNTIME_INIT_WEIGHTS_H_
