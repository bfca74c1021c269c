#include "tools/graphviz.h"

#include <fcntl.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "support/file_io.h"
#include "support/status.h"

extern char** environ;

namespace kiln::tools {
namespace {

namespace fs = std::filesystem;

// The first executable `dot` along PATH, as the shell would find it.
std::optional<std::string> FindDot() {
  const char* path = std::getenv("PATH");
  if (path == nullptr) return std::nullopt;
  for (absl::string_view dir : absl::StrSplit(path, ':', absl::SkipEmpty())) {
    const std::string candidate = absl::StrCat(dir, "/dot");
    if (access(candidate.c_str(), X_OK) == 0 && fs::is_regular_file(candidate)) return candidate;
  }
  return std::nullopt;
}

// A private temporary directory, removed with the object.
class ScratchDir {
 public:
  ScratchDir() {
    std::string pattern = (fs::temp_directory_path() / "kiln_dot_XXXXXX").string();
    if (mkdtemp(pattern.data()) != nullptr) path_ = pattern;
  }
  ~ScratchDir() {
    std::error_code ignored;
    if (!path_.empty()) fs::remove_all(path_, ignored);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

}  // namespace

absl::StatusOr<std::string> RenderDotToSvg(const std::string& dot_text) {
  const std::optional<std::string> dot = FindDot();
  if (!dot) return absl::FailedPreconditionError(kDotMissing);
  // Files rather than pipes: dot reads all of its input before writing, and files need no
  // second thread to keep both pipes moving.
  ScratchDir scratch;
  if (scratch.path().empty()) return absl::InternalError("cannot create a temporary directory");
  const std::string input = (scratch.path() / "graph.dot").string();
  const std::string output = (scratch.path() / "graph.svg").string();
  const std::string errors = (scratch.path() / "stderr").string();
  KILN_RETURN_IF_ERROR(WriteFileAtomically(input, dot_text));

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, errors.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0600);
  std::vector<std::string> args = {*dot, "-Tsvg", "-o", output, input};
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  const int spawned = posix_spawn(&pid, dot->c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (spawned != 0) {
    return absl::UnavailableError(absl::StrCat("cannot run ", *dot, ": ", strerror(spawned)));
  }
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return absl::InternalError("lost the dot process");
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    absl::StatusOr<std::string> complaint = ReadWholeFile(errors);
    std::string first_line =
        complaint.ok()
            ? std::string(absl::StripAsciiWhitespace(complaint->substr(0, complaint->find('\n'))))
            : "";
    return absl::InternalError(
        absl::StrCat("dot failed", first_line.empty() ? "" : ": ", first_line));
  }
  return ReadWholeFile(output);
}

}  // namespace kiln::tools
