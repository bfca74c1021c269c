// Compiles any primitive-op graph (named outputs, optional updates) through the same passes and
// CPU backend as a model, and runs it on host data. Tests use it for gradient checks, PyTorch
// parity of single ops, and fused-kernel-vs-reference comparisons.
//
//   KILN_ASSIGN_OR_RETURN(auto runner, GraphRunner::Compile(std::move(graph)));
//   runner->SetInput("x", {1, 2, 3});
//   KILN_RETURN_IF_ERROR(runner->Run());
//   std::vector<double> y = runner->Read("y");
#ifndef KILN_TOOLS_GRAPH_RUNNER_H_
#define KILN_TOOLS_GRAPH_RUNNER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "codegen/cpu/cpu_backend.h"
#include "ir/graph.h"
#include "ir/kernel_program.h"
#include "runtime/communicator.h"
#include "runtime/executable.h"
#include "runtime/thread_pool.h"
#include "tools/compile_pipeline.h"

namespace kiln::tools {

class GraphRunner {
 public:
  static absl::StatusOr<std::unique_ptr<GraphRunner>> Compile(
      ir::Graph graph, const CompileOptions& options = CompileOptions());

  // Fill an input, parameter or state tensor (values converted to its element type).
  absl::Status Set(const std::string& name, const std::vector<double>& values);
  absl::Status Run();
  // Run with the graph's collectives (all_reduce) calling `comm`.
  absl::Status RunWith(runtime::Communicator& comm);
  // An output (after Run) or a persistent tensor, as doubles.
  absl::StatusOr<std::vector<double>> Read(const std::string& name) const;

  const ir::KernelProgram& program() const { return program_; }
  // The host side, for running the same program on another backend (the CUDA tests).
  runtime::Executable& executable() { return *executable_; }
  const runtime::Entry& entry() const { return *entry_; }
  // The buffer an output lives in: outputs merged by simplification share the first one's.
  std::string OutputBuffer(const std::string& name) const;

 private:
  GraphRunner() = default;
  absl::StatusOr<runtime::BufferView> Find(const std::string& name) const;

  ir::KernelProgram program_;
  cpu::HostProgram host_;
  runtime::Executable* executable_ = nullptr;  // host_.executable.
  runtime::Entry* entry_ = nullptr;
  std::unique_ptr<runtime::ThreadPool> pool_;
};

}  // namespace kiln::tools

#endif  // KILN_TOOLS_GRAPH_RUNNER_H_
