#include "codegen/cuda/program_emitter.h"

#include <cctype>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "ir/op_registry.h"
#include "support/status.h"

namespace kiln::cuda {
namespace {

bool IsIdentChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

// Counts of each `v<digits>` identifier in `text`.
std::map<std::string, int> CountValueNames(const std::string& text) {
  std::map<std::string, int> counts;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != 'v' || (i > 0 && IsIdentChar(text[i - 1]))) continue;
    size_t end = i + 1;
    while (end < text.size() && std::isdigit(static_cast<unsigned char>(text[end]))) ++end;
    if (end == i + 1 || (end < text.size() && IsIdentChar(text[end]))) continue;
    ++counts[text.substr(i, end - i)];
    i = end - 1;
  }
  return counts;
}

// The value a line defines ("v7" for "  const float v7 = ...;"), or "".
std::string DefinedValue(absl::string_view line) {
  size_t start = line.find_first_not_of(' ');
  if (start == absl::string_view::npos || line.substr(start, 6) != "const ") return "";
  size_t eq = line.find(" = ");
  if (eq == absl::string_view::npos) return "";
  size_t name = line.rfind(' ', eq - 1);
  std::string id(line.substr(name + 1, eq - name - 1));
  if (id.size() < 2 || id[0] != 'v') return "";
  for (size_t i = 1; i < id.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(id[i]))) return "";
  }
  return id;
}

}  // namespace

std::string RemoveUnusedValues(const std::string& source) {
  std::vector<std::string> lines = absl::StrSplit(source, '\n');
  for (bool changed = true; changed;) {
    changed = false;
    std::map<std::string, int> counts = CountValueNames(absl::StrJoin(lines, "\n"));
    std::vector<std::string> kept;
    for (std::string& line : lines) {
      std::string id = DefinedValue(line);
      if (!id.empty() && counts[id] == 1) {
        changed = true;
        continue;
      }
      kept.push_back(std::move(line));
    }
    lines = std::move(kept);
  }
  return absl::StrJoin(lines, "\n");
}

DeviceMemoryPlan PlanDeviceMemory(const ir::BufferAssignment& memory) {
  DeviceMemoryPlan plan;
  plan.arena_bytes = memory.arena_bytes;
  for (const ir::Buffer& buffer : memory.buffers) {
    bool in_arena = buffer.kind == ir::BufferKind::kOutput || buffer.kind == ir::BufferKind::kTemp;
    plan.buffers.push_back({buffer.name, buffer.kind, buffer.type.bytes(),
                            in_arena ? buffer.offset : -1});
  }
  return plan;
}

absl::StatusOr<CudaProgram> EmitCudaProgram(const ir::KernelProgram& program,
                                            const std::string& prefix) {
  CudaProgram result;
  result.memory = PlanDeviceMemory(program.memory);
  result.source = KernelPreamble();
  for (const ir::Kernel& kernel : program.kernels) {
    std::string name = prefix.empty() ? kernel.name : absl::StrCat(prefix, "_", kernel.name);
    KILN_ASSIGN_OR_RETURN(CudaKernel emitted,
                          EmitCudaKernel(program.graph, kernel, program.memory, name));
    if (ir::OpOf(program.graph.node(kernel.root)).Has(ir::kCollective)) {
      emitted.all_reduce_slot = program.memory.node_buffer[kernel.root];
    }
    absl::StrAppend(&result.source, "\n", emitted.source);
    result.kernels.push_back(std::move(emitted));
  }
  return result;
}

}  // namespace kiln::cuda
