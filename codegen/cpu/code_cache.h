// A persistent cache of compiled code on disk, shared by every kiln process (kiln train, bench,
// build, compile). An entry is an object file keyed by everything that shapes it: the LLVM IR it
// was compiled from, the target CPU and features, and the versions of kiln and LLVM.
//
//   KILN_ASSIGN_OR_RETURN(std::optional<CodeCache> cache, CodeCache::FromEnvironment());
//   std::string key = CodeKey{.ir = text, .cpu = "znver3", ...}.Digest();
//   if (cache) if (std::optional<std::string> object = cache->Load(key)) ...
//
// Each file carries a checksum of its contents: a truncated or corrupted entry reads as a miss and
// is compiled and written again. Writers write a temporary file and rename it over the entry, so
// two processes storing the same entry at once leave one whole file, never a mix.
#ifndef KILN_CODEGEN_CPU_CODE_CACHE_H_
#define KILN_CODEGEN_CPU_CODE_CACHE_H_

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace kiln::cpu {

// What a compiled object depends on. Digest() is the entry's name: a change to any field misses.
struct CodeKey {
  std::string ir;      // The module before optimization: its bitcode, or a digest of it.
  std::string triple;  // The target: triple, CPU name and feature string.
  std::string cpu;
  std::string features;
  std::string kiln_version;  // support/version.h: a new compiler may generate other code.
  std::string llvm_version;

  // The SHA-256 of every field, as 64 hex digits.
  std::string Digest() const;
};

// The key fields this build fills in itself: kiln's version and LLVM's.
CodeKey KeyForThisCompiler(std::string ir, std::string triple, std::string cpu,
                           std::string features);

class CodeCache {
 public:
  // The cache directory the environment selects: $KILN_CACHE_DIR; else $XDG_CACHE_HOME/kiln/code;
  // else ~/.cache/kiln/code. Empty when caching is off: KILN_CACHE_DIR=off (or empty), or no
  // home directory to put it in.
  static std::optional<CodeCache> FromEnvironment();

  explicit CodeCache(std::string directory) : directory_(std::move(directory)) {}
  const std::string& directory() const { return directory_; }

  // The object stored under `digest`, or nothing when absent, unreadable or failing its checksum.
  std::optional<std::string> Load(std::string_view digest) const;

  // Writes `object` under `digest` atomically (temporary file + rename). A cache that cannot be
  // written only costs the next run a compile, so callers may ignore the error.
  absl::Status Store(std::string_view digest, std::string_view object) const;

  // Where the entry for `digest` lives (for tests and diagnostics).
  std::string PathOf(std::string_view digest) const;

 private:
  std::string directory_;
};

}  // namespace kiln::cpu

#endif  // KILN_CODEGEN_CPU_CODE_CACHE_H_
