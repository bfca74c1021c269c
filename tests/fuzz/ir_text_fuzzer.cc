// Fuzzes the IR text parser, then the verifier and printer on whatever it accepts.
#include <cstdint>

#include "fuzz_input.h"
#include "ir/parser.h"
#include "ir/printer.h"
#include "ir/verifier.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto graph = kiln::ir::ParseGraph(kiln::fuzz::AsString(data, size), "fuzz.kir");
  if (!graph.ok()) return 0;
  (void)kiln::ir::VerifyGraph(*graph);
  (void)kiln::ir::PrintGraph(*graph);
  return 0;
}
