#include "tools/machine_profile.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/TargetParser/Host.h"
#include "support/file_io.h"
#include "support/status.h"

namespace kiln::tools {
namespace {

constexpr int64_t kFallbackLlcBytes = int64_t{32} << 20;

// "32768K" -> 33554432; 0 when the text is not a size.
int64_t ParseCacheSize(const std::string& line) {
  absl::string_view text = absl::StripAsciiWhitespace(line);
  int64_t scale = 1;
  if (absl::ConsumeSuffix(&text, "K"))
    scale = 1024;
  else if (absl::ConsumeSuffix(&text, "M"))
    scale = 1024 * 1024;
  int64_t value = 0;
  return absl::SimpleAtoi(text, &value) ? value * scale : 0;
}

std::string FirstLineWith(const std::string& path, const std::string& prefix) {
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(prefix, 0) != 0) continue;
    const size_t colon = line.find(':');
    return colon == std::string::npos
               ? ""
               : std::string(absl::StripAsciiWhitespace(line.substr(colon + 1)));
  }
  return "";
}

llvm::json::Object PeakJson(const std::string& cpu, const codegen::MachinePeak& peak) {
  return llvm::json::Object{{"cpu", cpu},
                            {"threads", peak.threads},
                            {"gflops", peak.gflops},
                            {"bandwidth_gbs", peak.bandwidth_gbs},
                            {"method", peak.method}};
}

// The stored entries, or none when the file is missing or not ours.
llvm::json::Array ReadEntries() {
  absl::StatusOr<std::string> text = ReadWholeFile(MachineFilePath());
  if (!text.ok()) return {};
  llvm::Expected<llvm::json::Value> parsed = llvm::json::parse(*text);
  if (!parsed) {
    llvm::consumeError(parsed.takeError());
    return {};
  }
  const llvm::json::Object* root = parsed->getAsObject();
  const llvm::json::Array* entries = root ? root->getArray("machines") : nullptr;
  return entries ? *entries : llvm::json::Array{};
}

bool Matches(const llvm::json::Value& entry, const std::string& cpu, int threads) {
  const llvm::json::Object* o = entry.getAsObject();
  return o != nullptr && o->getString("cpu").value_or("") == cpu &&
         o->getInteger("threads").value_or(-1) == threads;
}

}  // namespace

int64_t LastLevelCacheBytes() {
  int64_t largest = 0;
  for (int index = 0; index < 8; ++index) {
    std::ifstream in(absl::StrCat("/sys/devices/system/cpu/cpu0/cache/index", index, "/size"));
    std::string text;
    if (!std::getline(in, text)) continue;
    largest = std::max(largest, ParseCacheSize(text));
  }
  return largest > 0 ? largest : kFallbackLlcBytes;
}

std::string HostCpuDescription() {
  const std::string model = FirstLineWith("/proc/cpuinfo", "model name");
  const std::string name = llvm::sys::getHostCPUName().str();
  return model.empty() ? name : absl::StrCat(name, " (", model, ")");
}

std::string TargetCpuDescription(const std::string& cpu) {
  if (cpu.empty() || cpu == "native" || cpu == "host") return HostCpuDescription();
  return absl::StrCat(cpu, " code on ", HostCpuDescription());
}

std::string MachineFilePath() {
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  if (xdg != nullptr && *xdg != '\0') return absl::StrCat(xdg, "/kiln/machine.json");
  const char* home = std::getenv("HOME");
  return absl::StrCat(home != nullptr ? home : ".", "/.cache/kiln/machine.json");
}

absl::Status StoreMachinePeak(const std::string& cpu, const codegen::MachinePeak& peak) {
  llvm::json::Array entries;
  for (llvm::json::Value& entry : ReadEntries()) {
    if (!Matches(entry, cpu, peak.threads)) entries.push_back(std::move(entry));
  }
  entries.push_back(PeakJson(cpu, peak));
  std::string text;
  llvm::raw_string_ostream os(text);
  os << llvm::formatv("{0:2}",
                      llvm::json::Value(llvm::json::Object{{"machines", std::move(entries)}}));
  os.flush();
  const std::string path = MachineFilePath();
  std::error_code error;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), error);
  if (error) return absl::UnavailableError(absl::StrCat(path, ": ", error.message()));
  return WriteFileAtomically(path, text + "\n");
}

std::optional<codegen::MachinePeak> LoadMachinePeak(const std::string& cpu, int threads) {
  for (const llvm::json::Value& entry : ReadEntries()) {
    if (!Matches(entry, cpu, threads)) continue;
    const llvm::json::Object& o = *entry.getAsObject();
    codegen::MachinePeak peak;
    peak.threads = threads;
    peak.gflops = o.getNumber("gflops").value_or(0.0);
    peak.bandwidth_gbs = o.getNumber("bandwidth_gbs").value_or(0.0);
    peak.method = o.getString("method").value_or("").str();
    if (peak.gflops > 0 && peak.bandwidth_gbs > 0) return peak;
  }
  return std::nullopt;
}

}  // namespace kiln::tools
