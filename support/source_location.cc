#include "support/source_location.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace kiln {

std::string SourceFile::Line(int line) const {
  int current = 1;
  size_t start = 0;
  while (current < line) {
    size_t nl = text.find('\n', start);
    if (nl == std::string::npos) return "";
    start = nl + 1;
    ++current;
  }
  size_t end = text.find('\n', start);
  return text.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

std::string SourceLoc::ToString() const {
  if (!known()) return "<unknown>";
  return absl::StrFormat("%s:%d:%d", file->path, line, col);
}

std::string FormatDiagnostic(const SourceLoc& loc, absl::string_view message) {
  if (!loc.known()) return absl::StrCat("error: ", message);
  std::string line = loc.file->Line(loc.line);
  // Keep tabs in the caret line so the caret stays under the column in a terminal.
  std::string pad;
  for (int i = 0; i + 1 < loc.col && i < static_cast<int>(line.size()); ++i) {
    pad += line[i] == '\t' ? '\t' : ' ';
  }
  return absl::StrFormat("%s: error: %s\n  %s\n  %s^", loc.ToString(), message, line, pad);
}

absl::Status ErrorAt(const SourceLoc& loc, absl::string_view message) {
  return absl::InvalidArgumentError(FormatDiagnostic(loc, message));
}

namespace {
int EditDistance(absl::string_view a, absl::string_view b) {
  std::vector<int> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = static_cast<int>(j);
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = static_cast<int>(i);
    for (size_t j = 1; j <= b.size(); ++j) {
      int subst = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, subst});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}
}  // namespace

std::string ClosestMatch(absl::string_view word, const std::vector<std::string>& candidates) {
  std::string best;
  int best_distance = std::max<int>(2, static_cast<int>(word.size()) / 3) + 1;
  for (const std::string& candidate : candidates) {
    int d = EditDistance(word, candidate);
    if (d < best_distance) {
      best_distance = d;
      best = candidate;
    }
  }
  return best;
}

std::string DidYouMean(absl::string_view word, const std::vector<std::string>& candidates) {
  std::string best = ClosestMatch(word, candidates);
  return best.empty() ? "" : absl::StrCat(", did you mean '", best, "'?");
}

}  // namespace kiln
