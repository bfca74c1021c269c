#include "tools/version_line.h"

#include "absl/strings/str_cat.h"
#include "support/version.h"

// Set by tools/CMakeLists.txt from `git rev-parse` at configure time; empty outside git.
#ifndef KILN_GIT_COMMIT
#define KILN_GIT_COMMIT ""
#endif

namespace kiln::tools {

std::string VersionLine() {
  const std::string commit = KILN_GIT_COMMIT;
  if (commit.empty()) return absl::StrCat(kKilnVersion, " (commit unknown: built outside git)");
  return absl::StrCat(kKilnVersion, " (commit ", commit, " at configure time)");
}

}  // namespace kiln::tools
