// A position in a model file, carried by every AST and IR node so errors can point at the user's
// source rather than at kiln's.
#ifndef KILN_SUPPORT_SOURCE_LOCATION_H_
#define KILN_SUPPORT_SOURCE_LOCATION_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace kiln {

// The text of one model file, shared by every location that points into it.
struct SourceFile {
  std::string path;
  std::string text;
  // Returns line `line` (1-based) without its newline, or "" if out of range.
  std::string Line(int line) const;
};

struct SourceLoc {
  std::shared_ptr<const SourceFile> file;
  int line = 0;  // 1-based; 0 means "unknown".
  int col = 0;   // 1-based.

  bool known() const { return file != nullptr && line > 0; }
  // "path:line:col" or "<unknown>".
  std::string ToString() const;
};

// Formats "path:line:col: error: message" followed by the source line and a caret under the
// column. Without a known location it is just "error: message".
std::string FormatDiagnostic(const SourceLoc& loc, absl::string_view message);

// An InvalidArgument status whose message is FormatDiagnostic(loc, message).
absl::Status ErrorAt(const SourceLoc& loc, absl::string_view message);

// Levenshtein-closest candidate within a small edit distance, or "" if none is close.
std::string ClosestMatch(absl::string_view word, const std::vector<std::string>& candidates);

// ", did you mean 'x'?" or "" — appended to unknown-name errors.
std::string DidYouMean(absl::string_view word, const std::vector<std::string>& candidates);

}  // namespace kiln

#endif  // KILN_SUPPORT_SOURCE_LOCATION_H_
