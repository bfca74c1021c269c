// What an AOT-built program knows about its model besides the generated code: the compiled
// program's description (buffers, entry points, kernels, persistent tensors and their
// initializers), the training recipe, and the target it was compiled for. `kiln build` encodes
// it into the program as data; the program decodes it at start. Versioned and checksummed, so a
// damaged binary is one clear error rather than a wrong run.
//
//   std::string bytes = EncodeBundle(bundle);              // kiln build
//   KILN_ASSIGN_OR_RETURN(ModelBundle b, DecodeBundle(bytes));  // the program's main
//
// Layout (runtime/byte_codec.h fields): "KILNBNDL" u32 version, the fields in the order of
// EncodeBundle, then u32 crc32c of everything before it.
#ifndef KILN_RUNTIME_MODEL_BUNDLE_H_
#define KILN_RUNTIME_MODEL_BUNDLE_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "runtime/program.h"
#include "runtime/train_recipe.h"

namespace kiln::runtime {

inline constexpr uint32_t kBundleVersion = 2;  // 2: TrainRecipe::data_parallel_ranks.

struct ModelBundle {
  std::string kiln_version;     // Of the kiln that built the program.
  std::string target_cpu;       // The LLVM CPU the code was compiled for ("znver3", "x86-64-v3").
  std::string target_features;  // Its feature string ("+avx2,+fma,...").
  ProgramSpec program;
  TrainRecipe recipe;
};

std::string EncodeBundle(const ModelBundle& bundle);

// Errors: "model description: not a kiln bundle", "...: version 7, this runtime reads 1",
// "...: checksum mismatch (the program file is damaged)".
absl::StatusOr<ModelBundle> DecodeBundle(std::string_view bytes);

}  // namespace kiln::runtime

#endif  // KILN_RUNTIME_MODEL_BUNDLE_H_
