#include "tests/codegen/cuda/gpu_test_support.h"

#include <string>

#include "codegen/cpu/cpu_backend.h"
#include "codegen/cuda/cuda_backend.h"
#include "frontend/frontend.h"
#include "support/status.h"

namespace kiln::runtime::testing {

absl::StatusOr<W3Build> BuildW3(const std::vector<tools::EntryRequest>& entries,
                                bool data_parallel) {
  W3Build build;
  KILN_ASSIGN_OR_RETURN(frontend::ModelAst ast,
                        frontend::ParseModelFile("examples/fashion_mlp.kiln"));
  KILN_ASSIGN_OR_RETURN(ir::TrainConfig train, frontend::LowerTrainConfig(ast));
  train.data_parallel = data_parallel;
  tools::CompileOptions options;
  options.entries = entries;
  KILN_ASSIGN_OR_RETURN(build.model, tools::CompileModel(ast, train, options));
  std::vector<const ir::KernelProgram*> programs;
  std::vector<std::string> symbols;
  for (const codegen::CompiledEntry& entry : build.model.entries) {
    programs.push_back(&entry.program);
    symbols.push_back(entry.symbol);
  }
  KILN_ASSIGN_OR_RETURN(build.device,
                        cuda::BuildDeviceProgram(programs, symbols, cuda::NvrtcOptions()));
  KILN_ASSIGN_OR_RETURN(cpu::CpuModule module, cpu::EmitCpuModule(build.model));
  build.spec = module.spec;
  KILN_ASSIGN_OR_RETURN(build.jit, cpu::CpuJit::Create());
  KILN_RETURN_IF_ERROR(build.jit->AddModule(std::move(module.module), std::move(module.context)));
  return build;
}

}  // namespace kiln::runtime::testing
