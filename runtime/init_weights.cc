#include "runtime/init_weights.h"

#include <cstring>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "runtime/checkpoint.h"
#include "support/status.h"

namespace kiln::runtime {
namespace {

std::string ShapeString(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ","), "]");
}

// "a, b, c, d and 3 more".
std::string ShortList(const std::vector<std::string>& names) {
  constexpr size_t kShown = 4;
  if (names.size() <= kShown) return absl::StrJoin(names, ", ");
  std::vector<std::string> shown(names.begin(), names.begin() + kShown);
  return absl::StrCat(absl::StrJoin(shown, ", "), " and ", names.size() - kShown, " more");
}

}  // namespace

absl::StatusOr<InitWeightsReport> LoadInitialWeights(const std::string& path,
                                                     const std::vector<std::string>& load,
                                                     const std::vector<std::string>& keep,
                                                     Executable& executable) {
  KILN_ASSIGN_OR_RETURN(Checkpoint file, ReadCheckpoint(path));
  std::map<std::string, const CheckpointTensor*> by_name;
  for (const CheckpointTensor& saved : file.tensors) {
    if (!by_name.emplace(saved.name, &saved).second) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s: tensor '%s' appears twice", path, saved.name));
    }
  }
  // Check everything before copying anything.
  std::vector<std::pair<Tensor*, const CheckpointTensor*>> copies;
  for (const std::string& name : load) {
    Tensor* tensor = executable.FindPersistent(name);
    if (tensor == nullptr) {
      return absl::InternalError(absl::StrCat("the model has no persistent tensor '", name, "'"));
    }
    auto it = by_name.find(name);
    if (it == by_name.end()) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: no tensor '%s' (the model's %s%s); exclude it with init_exclude to keep its "
          "initializer",
          path, name, ElementTypeName(tensor->type()), ShapeString(tensor->shape())));
    }
    const CheckpointTensor& saved = *it->second;
    if (saved.type != tensor->type()) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s: tensor '%s' is %s, the model expects %s", path, name,
                          ElementTypeName(saved.type), ElementTypeName(tensor->type())));
    }
    if (saved.shape != tensor->shape()) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: tensor '%s' has shape %s, the model expects %s", path, name,
          ShapeString(saved.shape), ShapeString(tensor->shape())));
    }
    copies.emplace_back(tensor, &saved);
  }
  InitWeightsReport report;
  for (const auto& [tensor, saved] : copies) {
    std::memcpy(tensor->data(), saved->bytes.data(), saved->bytes.size());
    ++report.tensors_loaded;
    report.values_loaded += tensor->num_elements();
  }
  report.kept = keep;
  const std::set<std::string> wanted(load.begin(), load.end());
  for (const CheckpointTensor& saved : file.tensors) {
    if (!wanted.count(saved.name)) report.ignored.push_back(saved.name);
  }
  return report;
}

std::string FormatInitWeightsReport(const std::string& path, const InitWeightsReport& report) {
  std::string line = absl::StrFormat("kiln: loaded %d tensors (%d values) from %s",
                                     report.tensors_loaded, report.values_loaded, path);
  if (!report.kept.empty()) {
    absl::StrAppend(&line, "; kept the initializers of ", report.kept.size(), " (",
                    ShortList(report.kept), ")");
  }
  if (!report.ignored.empty()) {
    absl::StrAppend(&line, "; ignored ", report.ignored.size(), " tensors of the file (",
                    ShortList(report.ignored), ")");
  }
  return line + "\n";
}

}  // namespace kiln::runtime
