#include "codegen/cpu/code_cache.h"

#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Config/llvm-config.h"
#include "llvm/Support/SHA256.h"
#include "support/file_io.h"
#include "support/version.h"

namespace kiln::cpu {
namespace {

// An entry file: the magic, the payload size (8 bytes, little-endian), the payload's SHA-256 (32
// bytes), the payload. The magic names the format, so a later layout can never be misread.
constexpr std::string_view kMagic = "KILNOBJ1";
constexpr size_t kHeaderBytes = 8 + 8 + 32;

std::array<uint8_t, 32> Sha256(std::string_view data) {
  return llvm::SHA256::hash(
      llvm::ArrayRef<uint8_t>(reinterpret_cast<const uint8_t*>(data.data()), data.size()));
}

std::string Hex(const std::array<uint8_t, 32>& bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (uint8_t byte : bytes) {
    out += kDigits[byte >> 4];
    out += kDigits[byte & 15];
  }
  return out;
}

std::string Header(std::string_view object) {
  std::string header(kMagic);
  uint64_t size = object.size();
  for (int i = 0; i < 8; ++i) header += static_cast<char>((size >> (8 * i)) & 0xff);
  std::array<uint8_t, 32> sum = Sha256(object);
  header.append(reinterpret_cast<const char*>(sum.data()), sum.size());
  return header;
}

const char* NonEmptyEnv(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : nullptr;
}

}  // namespace

std::string CodeKey::Digest() const {
  // Length-prefixed fields: no two different keys concatenate to the same bytes.
  llvm::SHA256 hash;
  for (const std::string* field : {&ir, &triple, &cpu, &features, &kiln_version, &llvm_version}) {
    std::string length = absl::StrCat(field->size(), ":");
    hash.update(llvm::StringRef(length));
    hash.update(llvm::StringRef(*field));
  }
  return Hex(hash.final());
}

CodeKey KeyForThisCompiler(std::string ir, std::string triple, std::string cpu,
                           std::string features) {
  return CodeKey{std::move(ir),       std::move(triple), std::move(cpu),
                 std::move(features), kKilnVersion,      LLVM_VERSION_STRING};
}

std::optional<CodeCache> CodeCache::FromEnvironment() {
  if (const char* dir = std::getenv("KILN_CACHE_DIR")) {
    if (*dir == '\0' || std::string_view(dir) == "off") return std::nullopt;
    return CodeCache(dir);
  }
  if (const char* xdg = NonEmptyEnv("XDG_CACHE_HOME"))
    return CodeCache(absl::StrCat(xdg, "/kiln/code"));
  if (const char* home = NonEmptyEnv("HOME"))
    return CodeCache(absl::StrCat(home, "/.cache/kiln/code"));
  return std::nullopt;
}

std::string CodeCache::PathOf(std::string_view digest) const {
  return absl::StrCat(directory_, "/", absl::string_view(digest.data(), digest.size()), ".o");
}

std::optional<std::string> CodeCache::Load(std::string_view digest) const {
  absl::StatusOr<std::string> read = ReadWholeFile(PathOf(digest));
  if (!read.ok()) return std::nullopt;
  const std::string& file = *read;
  if (file.size() < kHeaderBytes || std::string_view(file).substr(0, kMagic.size()) != kMagic) {
    return std::nullopt;
  }
  std::string object = file.substr(kHeaderBytes);
  if (Header(object) != std::string_view(file).substr(0, kHeaderBytes)) return std::nullopt;
  return object;
}

absl::Status CodeCache::Store(std::string_view digest, std::string_view object) const {
  std::error_code error;
  std::filesystem::create_directories(directory_, error);
  if (error) return absl::UnavailableError(absl::StrCat(directory_, ": ", error.message()));
  // Not WriteFileAtomically: its fsyncs would cost a cold compile hundreds of them, and a cache
  // entry torn by a crash fails its checksum and is rebuilt. The temporary name is unique per
  // process and per call, so concurrent writers never share a temporary file.
  static std::atomic<uint64_t> counter{0};
  const std::string path = PathOf(digest);
  const std::string temporary = absl::StrCat(path, ".tmp.", getpid(), ".", counter++);
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out << Header(object) << object;
    out.close();
    if (!out) {
      std::filesystem::remove(temporary, error);
      return absl::UnavailableError(absl::StrCat(temporary, ": write failed"));
    }
  }
  std::filesystem::rename(temporary, path, error);  // Atomic on POSIX: readers see old or new.
  if (error) {
    std::string message = error.message();
    std::filesystem::remove(temporary, error);
    return absl::UnavailableError(absl::StrCat(path, ": ", message));
  }
  return absl::OkStatus();
}

}  // namespace kiln::cpu
