// Fuzzes the CSV reader with every column a feature and the last the label, and with a named
// label column.
#include <cstdint>

#include "fuzz_input.h"
#include "runtime/csv_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text = kiln::fuzz::AsString(data, size);
  (void)kiln::runtime::ParseCsv(text, "fuzz.csv", {}, "");
  (void)kiln::runtime::ParseCsv(text, "fuzz.csv", {"a", "b"}, "label");
  return 0;
}
