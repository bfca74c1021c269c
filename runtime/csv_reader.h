// Reads a numeric CSV table: a header row of column names, then one sample per line. Features
// and the label are columns chosen by name.
//
//   KILN_ASSIGN_OR_RETURN(CsvTable table, ReadCsv("data.csv", {"a", "b", "c"}, "y"));
//   // table.features: f32 [rows, 3], row-major; table.label: [rows]
//
// Errors are one line each: a missing file, an unknown column ("no column 'ag' in data.csv,
// did you mean 'age'?"), or "data.csv:7:12: cannot parse 'n/a' as a number (column 'b')".
// Cells are separated by commas; spaces around a cell and a \r before the newline are ignored;
// blank lines are skipped. Quoted cells are not supported (the data must be numeric anyway),
// but a quoted header name is unquoted.
#ifndef KILN_RUNTIME_CSV_READER_H_
#define KILN_RUNTIME_CSV_READER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace kiln::runtime {

struct CsvTable {
  std::vector<std::string> feature_names;
  std::string label_name;
  int64_t rows = 0;
  std::vector<float> features;  // [rows, feature_names.size()], row-major.
  std::vector<double> label;    // [rows]
};

// `features` empty: every column except the label, in file order. `label` empty: the last
// column.
absl::StatusOr<CsvTable> ReadCsv(const std::string& path, const std::vector<std::string>& features,
                                 const std::string& label);

// The same from text in memory; `path` only names it in errors.
absl::StatusOr<CsvTable> ParseCsv(const std::string& text, const std::string& path,
                                  const std::vector<std::string>& features,
                                  const std::string& label);

}  // namespace kiln::runtime

#endif  // KILN_RUNTIME_CSV_READER_H_
