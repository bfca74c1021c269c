#include "interop/onnx/topological_order.h"

#include <map>
#include <string>

#include "absl/strings/str_cat.h"

namespace kiln::interop {

absl::StatusOr<std::vector<int>> TopologicalOrder(const onnx::GraphProto& graph) {
  const int n = graph.node_size();
  std::map<std::string, int> producer;
  for (int i = 0; i < n; ++i) {
    for (const std::string& output : graph.node(i).output()) {
      if (output.empty()) continue;
      if (!producer.emplace(output, i).second) {
        return absl::InvalidArgumentError(
            absl::StrCat("value '", output, "' is produced by two nodes"));
      }
    }
  }
  // Kahn's algorithm, always taking the lowest ready index so a sorted graph keeps its order.
  std::vector<int> pending(n, 0);
  std::vector<std::vector<int>> users(n);
  for (int i = 0; i < n; ++i) {
    for (const std::string& input : graph.node(i).input()) {
      auto it = producer.find(input);
      if (it == producer.end()) continue;  // A graph input, initializer or omitted optional.
      ++pending[i];
      users[it->second].push_back(i);
    }
  }
  std::vector<int> order;
  std::vector<bool> done(n, false);
  std::vector<int> ready;
  for (int i = n - 1; i >= 0; --i) {
    if (pending[i] == 0) ready.push_back(i);
  }
  while (!ready.empty()) {
    auto lowest = std::min_element(ready.begin(), ready.end());
    const int node = *lowest;
    ready.erase(lowest);
    order.push_back(node);
    done[node] = true;
    for (int user : users[node]) {
      if (--pending[user] == 0) ready.push_back(user);
    }
  }
  for (int i = 0; i < n; ++i) {
    if (done[i]) continue;
    return absl::InvalidArgumentError(absl::StrCat("the graph has a cycle through node '",
                                                   graph.node(i).name(), "' (",
                                                   graph.node(i).op_type(), ")"));
  }
  return order;
}

}  // namespace kiln::interop
