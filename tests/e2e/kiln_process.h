// Running the real `kiln` binary from end-to-end tests: a temporary directory, the child process
// with stdout and stderr captured to files, and how it ended. Each test target defines
// KILN_BINARY (the path of the built `kiln`).
#ifndef KILN_TESTS_E2E_KILN_PROCESS_H_
#define KILN_TESTS_E2E_KILN_PROCESS_H_

#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <cstdint>
#include <vector>

namespace kiln::e2e {

namespace fs = std::filesystem;

struct RunResult {
  bool exited = false;  // False: killed by a signal (a crash).
  int exit_code = -1;   // -1 unless it exited.
  int signal = 0;
  std::string out, err;
};

inline std::string ReadFile(const fs::path& path) {
  std::ifstream file(path, std::ios::binary);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

// A fresh directory under the system temp dir, removed with the object.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "kiln_e2e_XXXXXX").string();
    path_ = mkdtemp(pattern.data()) ? fs::path(pattern) : fs::path();
  }
  ~TempDir() {
    std::error_code ignored;
    if (!path_.empty()) fs::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const fs::path& path() const { return path_; }
  std::string File(const std::string& name) const { return (path_ / name).string(); }
  fs::path Write(const std::string& name, const std::string& contents) const {
    std::ofstream(path_ / name, std::ios::binary) << contents;
    return path_ / name;
  }

 private:
  fs::path path_;
};

// Runs `binary` with `args`; output goes to files, so a chatty child cannot block on a pipe.
// `ulimits`, when given, are bash `ulimit` options applied to the child first ("-f 8": files of
// at most 8 KiB; "-v 4194304": 4 GiB of address space).
inline RunResult RunBinary(const std::string& binary, std::vector<std::string> args,
                           const std::string& ulimits = "") {
  TempDir capture;
  const fs::path out = capture.path() / "stdout", err = capture.path() / "stderr";
  const pid_t pid = fork();
  if (pid == 0) {
    if (!freopen(out.c_str(), "w", stdout) || !freopen(err.c_str(), "w", stderr)) _exit(127);
    std::vector<std::string> command = {binary};
    if (!ulimits.empty()) {
      command = {"/bin/bash", "-c", "ulimit " + ulimits + " && exec \"$0\" \"$@\"", binary};
    }
    command.insert(command.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& arg : command) argv.push_back(arg.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  RunResult result;
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) != pid) return result;
  result.exited = WIFEXITED(status);
  result.exit_code = result.exited ? WEXITSTATUS(status) : -1;
  result.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  result.out = ReadFile(out);
  result.err = ReadFile(err);
  return result;
}

// Runs KILN_BINARY (the test target's `kiln`) with `args`, as RunBinary.
inline RunResult RunKiln(std::vector<std::string> args, const std::string& ulimits = "") {
  return RunBinary(KILN_BINARY, std::move(args), ulimits);
}

// Where Debian's dataset-fashion-mnist puts the real data set; tests that train on it skip
// when it is missing.
inline constexpr char kFashionMnistDir[] = "/usr/share/datasets/fashion-mnist";
inline bool HaveFashionMnist() {
  return fs::exists(fs::path(kFashionMnistDir) / "train-images-idx3-ubyte.gz");
}

// `kiln train ARGS... --metrics-out FILE`: the run and the metrics JSON it wrote ("" if none).
struct TrainRun {
  RunResult run;
  std::string metrics;
};
inline TrainRun TrainWithMetrics(std::vector<std::string> args) {
  TempDir dir;
  const std::string metrics = dir.File("metrics.json");
  args.insert(args.begin(), "train");
  args.insert(args.end(), {"--metrics-out", metrics});
  RunResult run = RunKiln(std::move(args));
  return {std::move(run), ReadFile(metrics)};
}

// Exited normally with status 0.
inline bool Succeeded(const RunResult& r) { return r.exited && r.exit_code == 0; }

// How the run ended and what it printed, for failure messages.
inline std::string Describe(const RunResult& r) {
  return (r.exited ? "exit " + std::to_string(r.exit_code) : "signal " + std::to_string(r.signal)) +
         "\n--- stdout ---\n" + r.out + "--- stderr ---\n" + r.err;
}

// The first number after "key": in a metrics JSON file (NaN when absent).
inline double JsonNumber(const std::string& json, const std::string& key) {
  std::smatch match;
  std::regex pattern("\"" + key + "\"\\s*:\\s*([-+0-9.eE]+)");
  if (!std::regex_search(json, match, pattern)) return NAN;
  return std::stod(match[1]);
}

// Big-endian 32-bit header words of an IDX file: the magic, then each dim.
inline std::string IdxHeader(uint32_t magic, const std::vector<uint32_t>& dims) {
  std::string bytes;
  auto put = [&](uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) bytes.push_back(static_cast<char>(v >> shift));
  };
  put(magic);
  for (uint32_t d : dims) put(d);
  return bytes;
}

}  // namespace kiln::e2e

#endif  // KILN_TESTS_E2E_KILN_PROCESS_H_
