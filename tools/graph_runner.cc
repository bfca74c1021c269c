#include "tools/graph_runner.h"

#include "absl/strings/str_cat.h"
#include "codegen/cpu/llvm_target.h"
#include "codegen/cpu/program_emitter.h"
#include "support/status.h"

namespace kiln::tools {

absl::StatusOr<std::unique_ptr<GraphRunner>> GraphRunner::Compile(ir::Graph graph,
                                                                  const CompileOptions& options) {
  std::unique_ptr<GraphRunner> runner(new GraphRunner);
  KILN_ASSIGN_OR_RETURN(runner->program_, LowerToKernels(std::move(graph), options));
  auto context = std::make_unique<llvm::LLVMContext>();
  auto module = std::make_unique<llvm::Module>("graph_runner", *context);
  runtime::ProgramSpec spec;
  KILN_ASSIGN_OR_RETURN(runtime::EntrySpec entry,
                        cpu::EmitEntryPoint(*module, runner->program_, "graph_runner_entry"));
  entry.training = true;
  spec.entries.push_back(std::move(entry));
  spec.persistent = PersistentTensors(runner->program_.graph);
  KILN_ASSIGN_OR_RETURN(auto target, cpu::CreateHostTargetMachine());
  KILN_RETURN_IF_ERROR(cpu::OptimizeModule(*module, *target));
  KILN_ASSIGN_OR_RETURN(runner->jit_, cpu::CpuJit::Create());
  KILN_RETURN_IF_ERROR(runner->jit_->AddModule(std::move(module), std::move(context)));
  KILN_ASSIGN_OR_RETURN(runner->executable_,
                        runtime::Executable::Create(std::move(spec), *runner->jit_, 0));
  KILN_ASSIGN_OR_RETURN(runner->entry_, runner->executable_->FindEntry(true, 0));
  runner->pool_ = std::make_unique<runtime::ThreadPool>();
  return runner;
}

absl::StatusOr<runtime::BufferView> GraphRunner::Find(const std::string& name) const {
  if (runtime::Tensor* t = executable_->FindPersistent(name)) {
    static thread_local runtime::BufferSpec spec;
    spec.name = t->name();
    spec.type = t->type();
    spec.shape = t->shape();
    return runtime::BufferView{&spec, t->data()};
  }
  // A graph output that is a view (reshape) of another value has no buffer of its own: read the
  // buffer the memory plan gave its node.
  ir::NodeId output = program_.graph.Output(name);
  if (output != ir::kNoNode && program_.memory.node_buffer[output] >= 0) {
    return entry_->Buffer(program_.memory.buffers[program_.memory.node_buffer[output]].name);
  }
  return entry_->Buffer(name);
}

absl::Status GraphRunner::Set(const std::string& name, const std::vector<double>& values) {
  KILN_ASSIGN_OR_RETURN(runtime::BufferView view, Find(name));
  if (static_cast<int64_t>(values.size()) != view.num_elements()) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": expected ", view.num_elements(),
                                                   " values, got ", values.size()));
  }
  for (size_t i = 0; i < values.size(); ++i) {
    if (view.spec->type == runtime::ElementType::kI64) {
      view.i64()[i] = static_cast<int64_t>(values[i]);
    } else {
      view.f32()[i] = static_cast<float>(values[i]);
    }
  }
  return absl::OkStatus();
}

absl::Status GraphRunner::Run() {
  entry_->Run(pool_->parallel());
  return absl::OkStatus();
}

absl::StatusOr<std::vector<double>> GraphRunner::Read(const std::string& name) const {
  KILN_ASSIGN_OR_RETURN(runtime::BufferView view, Find(name));
  std::vector<double> values(view.num_elements());
  for (size_t i = 0; i < values.size(); ++i) {
    values[i] = view.spec->type == runtime::ElementType::kI64 ? view.i64()[i] : view.f32()[i];
  }
  return values;
}

std::string GraphRunner::OutputBuffer(const std::string& name) const {
  const ir::Graph& graph = program_.graph;
  const ir::NodeId id = graph.Output(name);
  if (id == ir::kNoNode) return name;
  if (program_.memory.node_buffer[id] >= 0) {
    return program_.memory.buffers[program_.memory.node_buffer[id]].name;
  }
  for (const auto& [first, node] : graph.outputs) {
    if (node == id) return first;
  }
  return name;
}

}  // namespace kiln::tools
