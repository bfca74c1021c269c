#include "runtime/csv_reader.h"

#include <algorithm>
#include <charconv>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "support/file_io.h"
#include "support/source_location.h"
#include "support/status.h"

namespace kiln::runtime {
namespace {

struct Cell {
  std::string_view text;
  int64_t column = 1;  // 1-based character column of the first non-space character.
};

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r'; }

// Splits one line at commas, trimming spaces around each cell.
std::vector<Cell> SplitLine(std::string_view line) {
  std::vector<Cell> cells;
  size_t start = 0;
  while (true) {
    const size_t comma = std::min(line.find(',', start), line.size());
    size_t begin = start, end = comma;
    while (begin < end && IsSpace(line[begin])) ++begin;
    while (end > begin && IsSpace(line[end - 1])) --end;
    cells.push_back({line.substr(begin, end - begin), static_cast<int64_t>(begin) + 1});
    if (comma == line.size()) return cells;
    start = comma + 1;
  }
}

std::string Unquote(std::string_view name) {
  if (name.size() >= 2 && name.front() == '"' && name.back() == '"') {
    name = name.substr(1, name.size() - 2);
  }
  return std::string(name);
}

bool IsBlank(std::string_view line) {
  return std::all_of(line.begin(), line.end(), [](char c) { return IsSpace(c); });
}

absl::StatusOr<double> ParseNumber(const Cell& cell) {
  double value = 0.0;
  std::string_view text = cell.text;
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc() || end != text.data() + text.size()) {
    return absl::InvalidArgumentError("");
  }
  return value;
}

// Index of each wanted column in the header, or a did-you-mean error.
absl::StatusOr<std::vector<size_t>> ColumnIndices(const std::vector<std::string>& header,
                                                  const std::vector<std::string>& wanted,
                                                  const std::string& path) {
  std::vector<size_t> indices;
  for (const std::string& name : wanted) {
    const auto it = std::find(header.begin(), header.end(), name);
    if (it == header.end()) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: no column '%s'%s (columns: %s)", path, name, DidYouMean(name, header),
          absl::StrJoin(header, ", ")));
    }
    indices.push_back(static_cast<size_t>(it - header.begin()));
  }
  return indices;
}

}  // namespace

absl::StatusOr<CsvTable> ParseCsv(const std::string& text, const std::string& path,
                                  const std::vector<std::string>& features,
                                  const std::string& label) {
  std::vector<std::string_view> lines;
  std::string_view rest = text;
  while (!rest.empty()) {
    const size_t newline = std::min(rest.find('\n'), rest.size());
    lines.push_back(rest.substr(0, newline));
    rest.remove_prefix(std::min(newline + 1, rest.size()));
  }
  size_t header_line = 0;
  while (header_line < lines.size() && IsBlank(lines[header_line])) ++header_line;
  if (header_line == lines.size()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: empty file (expected a header row)", path));
  }
  std::vector<std::string> header;
  for (const Cell& cell : SplitLine(lines[header_line])) header.push_back(Unquote(cell.text));

  CsvTable table;
  table.label_name = label.empty() ? header.back() : label;
  table.feature_names = features;
  if (features.empty()) {
    for (const std::string& name : header) {
      if (name != table.label_name) table.feature_names.push_back(name);
    }
  }
  KILN_ASSIGN_OR_RETURN(std::vector<size_t> feature_columns,
                        ColumnIndices(header, table.feature_names, path));
  KILN_ASSIGN_OR_RETURN(std::vector<size_t> label_column,
                        ColumnIndices(header, {table.label_name}, path));

  for (size_t i = header_line + 1; i < lines.size(); ++i) {
    if (IsBlank(lines[i])) continue;
    const std::vector<Cell> cells = SplitLine(lines[i]);
    if (cells.size() != header.size()) {
      return absl::InvalidArgumentError(absl::StrFormat("%s:%d: %d cells, but the header has %d",
                                                        path, i + 1, cells.size(), header.size()));
    }
    auto number = [&](size_t column) -> absl::StatusOr<double> {
      absl::StatusOr<double> value = ParseNumber(cells[column]);
      if (value.ok()) return value;
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s:%d:%d: cannot parse '%s' as a number (column '%s')", path, i + 1,
          cells[column].column, cells[column].text, header[column]));
    };
    for (size_t column : feature_columns) {
      KILN_ASSIGN_OR_RETURN(double value, number(column));
      table.features.push_back(static_cast<float>(value));
    }
    KILN_ASSIGN_OR_RETURN(double value, number(label_column[0]));
    table.label.push_back(value);
    ++table.rows;
  }
  return table;
}

absl::StatusOr<CsvTable> ReadCsv(const std::string& path, const std::vector<std::string>& features,
                                 const std::string& label) {
  // Only regular files: a device such as /dev/zero would otherwise be read until memory ran out.
  KILN_ASSIGN_OR_RETURN(std::string text, ReadWholeFile(path));
  return ParseCsv(text, path, features, label);
}

}  // namespace kiln::runtime
