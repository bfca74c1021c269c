#include "tools/graph_runner.h"

#include "absl/strings/str_cat.h"
#include "support/status.h"

namespace kiln::tools {

absl::StatusOr<std::unique_ptr<GraphRunner>> GraphRunner::Compile(ir::Graph graph,
                                                                  const CompileOptions& options) {
  std::unique_ptr<GraphRunner> runner(new GraphRunner);
  KILN_ASSIGN_OR_RETURN(runner->program_, LowerToKernels(std::move(graph), options));
  CompiledModel model;
  model.name = "graph_runner";
  model.persistent = PersistentTensors(runner->program_.graph);
  model.entries.push_back({{.training = true, .batch_size = 0}, "graph_runner_entry",
                           runner->program_});
  KILN_ASSIGN_OR_RETURN(runner->host_, cpu::LoadOnHost(model, /*seed=*/0));
  runner->executable_ = runner->host_.executable.get();
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

absl::Status GraphRunner::RunWith(runtime::Communicator& comm) {
  const KilnParallel table = runtime::BindCommunicator(*pool_->parallel(), comm);
  entry_->Run(&table);
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
