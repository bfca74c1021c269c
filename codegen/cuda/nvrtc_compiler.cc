#include "codegen/cuda/nvrtc_compiler.h"

#include <nvrtc.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "support/status.h"

namespace kiln::cuda {
namespace {

absl::Status NvrtcError(nvrtcResult result, const std::string& what) {
  return absl::InternalError(absl::StrCat(what, ": ", nvrtcGetErrorString(result)));
}

// FNV-1a, 64-bit, from a given basis; two different bases give a 128-bit key.
uint64_t Fnv1a(const std::string& data, uint64_t hash) {
  for (unsigned char c : data) {
    hash ^= c;
    hash *= 0x100000001b3ull;
  }
  return hash;
}

absl::StatusOr<std::string> ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(path.string());
  std::stringstream data;
  data << in.rdbuf();
  return data.str();
}

// Best effort: a cache that cannot be written only costs the next compile.
void WriteFileAtomically(const std::filesystem::path& path, const std::string& data) {
  static std::atomic<int> counter{0};
  std::error_code error;
  std::filesystem::create_directories(path.parent_path(), error);
  if (error) return;
  std::filesystem::path temp = path;
  temp += absl::StrCat(".tmp.", getpid(), ".", counter++);
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    out.write(data.data(), static_cast<std::streamsize>(data.size()));
    if (!out.good()) {
      std::filesystem::remove(temp, error);
      return;
    }
  }
  std::filesystem::rename(temp, path, error);
  if (error) std::filesystem::remove(temp, error);
}

bool IsCubinArch(const std::string& arch) { return arch.rfind("sm_", 0) == 0; }

}  // namespace

std::vector<std::string> NvrtcCommandLine(const NvrtcOptions& options) {
  std::vector<std::string> line = {absl::StrCat("--gpu-architecture=", options.arch),
                                   "-default-device", "--std=c++17",
                                   options.fmad ? "--fmad=true" : "--fmad=false"};
  line.insert(line.end(), options.extra_options.begin(), options.extra_options.end());
  return line;
}

absl::StatusOr<std::string> NvrtcVersion() {
  int major = 0, minor = 0;
  if (nvrtcResult r = nvrtcVersion(&major, &minor); r != NVRTC_SUCCESS) {
    return NvrtcError(r, "nvrtcVersion");
  }
  return absl::StrCat(major, ".", minor);
}

std::string DefaultCacheDir() {
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg != nullptr && *xdg != '\0') {
    return (std::filesystem::path(xdg) / "kiln" / "cuda").string();
  }
  const char* home = std::getenv("HOME");
  return (std::filesystem::path(home != nullptr ? home : "/tmp") / ".cache" / "kiln" / "cuda")
      .string();
}

std::string CacheKey(const std::string& source, const NvrtcOptions& options,
                     const std::string& nvrtc_version) {
  // NUL separators keep ("ab", "c") and ("a", "bc") apart.
  std::string material = absl::StrCat(nvrtc_version, std::string(1, '\0'),
                                      absl::StrJoin(NvrtcCommandLine(options), " "),
                                      std::string(1, '\0'), source);
  return absl::StrFormat("%016x%016x", Fnv1a(material, 0xcbf29ce484222325ull),
                         Fnv1a(material, 0x84222325cbf29ce4ull));
}

absl::StatusOr<CompiledCuda> CompileCuda(const std::string& source, const NvrtcOptions& options,
                                         const std::string& program_name) {
  KILN_ASSIGN_OR_RETURN(std::string version, NvrtcVersion());
  CompiledCuda result;
  result.is_cubin = IsCubinArch(options.arch);
  result.cache_key = CacheKey(source, options, version);
  std::filesystem::path cache_file =
      std::filesystem::path(options.cache_dir.empty() ? DefaultCacheDir() : options.cache_dir) /
      absl::StrCat(result.cache_key, result.is_cubin ? ".cubin" : ".ptx");
  if (options.use_cache) {
    if (absl::StatusOr<std::string> cached = ReadFile(cache_file); cached.ok()) {
      result.binary = *std::move(cached);
      result.from_cache = true;
      return result;
    }
  }

  nvrtcProgram program;
  if (nvrtcResult r = nvrtcCreateProgram(&program, source.c_str(), program_name.c_str(), 0,
                                         nullptr, nullptr);
      r != NVRTC_SUCCESS) {
    return NvrtcError(r, "nvrtcCreateProgram");
  }
  std::vector<std::string> line = NvrtcCommandLine(options);
  std::vector<const char*> argv;
  for (const std::string& option : line) argv.push_back(option.c_str());
  nvrtcResult compiled = nvrtcCompileProgram(program, static_cast<int>(argv.size()), argv.data());
  size_t log_size = 0;
  nvrtcGetProgramLogSize(program, &log_size);
  std::string log(log_size, '\0');
  if (log_size > 0) nvrtcGetProgramLog(program, log.data());
  while (!log.empty() && (log.back() == '\0' || log.back() == '\n')) log.pop_back();
  result.log = log;

  absl::Status status;
  if (compiled != NVRTC_SUCCESS) {
    status = absl::InternalError(absl::StrCat("NVRTC failed to compile ", program_name, " (",
                                              absl::StrJoin(line, " "), "):\n", log));
  } else if (options.warnings_as_errors && !log.empty()) {
    status = absl::InternalError(
        absl::StrCat("NVRTC warnings in ", program_name, " (warnings are errors):\n", log));
  } else {
    size_t size = 0;
    nvrtcResult got = result.is_cubin ? nvrtcGetCUBINSize(program, &size)
                                      : nvrtcGetPTXSize(program, &size);
    if (got == NVRTC_SUCCESS) {
      result.binary.resize(size);
      got = result.is_cubin ? nvrtcGetCUBIN(program, result.binary.data())
                            : nvrtcGetPTX(program, result.binary.data());
    }
    if (got != NVRTC_SUCCESS) status = NvrtcError(got, "reading NVRTC's output");
  }
  nvrtcDestroyProgram(&program);
  KILN_RETURN_IF_ERROR(status);
  if (options.use_cache && log.empty()) WriteFileAtomically(cache_file, result.binary);
  return result;
}

}  // namespace kiln::cuda
