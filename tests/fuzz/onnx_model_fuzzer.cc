// Fuzzes kiln import: the ONNX protobuf decoder, tensor conversion (dims, sizes, types), the
// topological sort and every op emitter. Any input must give a model or a one-line error.
#include <cstdint>

#include "fuzz_input.h"
#include "interop/onnx/onnx_importer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto imported = kiln::interop::ImportOnnx(kiln::fuzz::AsString(data, size), {});
  if (imported.ok()) (void)kiln::interop::EncodeWeights("fuzz", imported->weights);
  return 0;
}
