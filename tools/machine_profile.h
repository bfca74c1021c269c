// The machine `kiln bench` runs on: its CPU, last-level cache, and the roofline figures
// `kiln bench --calibrate` measured on it, kept per CPU and thread count in
// $XDG_CACHE_HOME/kiln/machine.json (else ~/.cache/kiln/machine.json).
//
//   KILN_ASSIGN_OR_RETURN(codegen::MachinePeak peak, backend->MeasurePeak(threads));
//   KILN_RETURN_IF_ERROR(StoreMachinePeak(HostCpuDescription(), peak));
//   std::optional<codegen::MachinePeak> stored = LoadMachinePeak(HostCpuDescription(), threads);
#ifndef KILN_TOOLS_MACHINE_PROFILE_H_
#define KILN_TOOLS_MACHINE_PROFILE_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "codegen/backend.h"

namespace kiln::tools {

// The last-level cache from /sys/devices/system/cpu/cpu0/cache/index*/size (the largest level);
// 32 MiB when sysfs does not say.
int64_t LastLevelCacheBytes();

// "znver3 (AMD EPYC 7B13)": LLVM's name for the host CPU and the model name the kernel reports.
std::string HostCpuDescription();

// What code generated for `cpu` (a --cpu value) runs on: the host's description for "native" or
// "host", else "x86-64-v3 code on znver3 (AMD EPYC 7B13)". Calibration figures are kept under it,
// so an AVX2 build's roofline on an AVX-512 machine is its own, not the native one.
std::string TargetCpuDescription(const std::string& cpu);

std::string MachineFilePath();

// Adds or replaces the figures for (cpu, peak.threads), writing the file atomically.
absl::Status StoreMachinePeak(const std::string& cpu, const codegen::MachinePeak& peak);

// The stored figures for (cpu, threads); nullopt when there are none or the file is unreadable.
std::optional<codegen::MachinePeak> LoadMachinePeak(const std::string& cpu, int threads);

}  // namespace kiln::tools

#endif  // KILN_TOOLS_MACHINE_PROFILE_H_
