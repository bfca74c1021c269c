// The .kiln frontend: parse a model file, then lower it to an ir::Graph and an ir::TrainConfig.
//
//   KILN_ASSIGN_OR_RETURN(ModelAst ast, ParseModelFile("examples/fashion_mlp.kiln"));
//   KILN_ASSIGN_OR_RETURN(ir::Graph graph, LowerModel(ast, {{"B", 64}}));
//   KILN_ASSIGN_OR_RETURN(ir::TrainConfig train, LowerTrainConfig(ast));
//
// Every error is "file:line:col: error: message" followed by the source line and a caret.
// The language is described in docs/dsl.md.
#ifndef KILN_FRONTEND_FRONTEND_H_
#define KILN_FRONTEND_FRONTEND_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "frontend/ast.h"
#include "ir/graph.h"
#include "ir/train_config.h"

namespace kiln::frontend {

// Syntax only: names, ops and shapes are checked by LowerModel.
absl::StatusOr<ModelAst> ParseModel(absl::string_view text, const std::string& path);
// A missing or unreadable file is a one-line error naming the path.
absl::StatusOr<ModelAst> ParseModelFile(const std::string& path);

// Instantiates the model for concrete named dims, e.g. {{"B", 64}}. The graph is named after the
// model and has one output, {"loss", id}; parameters are named "<layer>.<weight|bias>".
absl::StatusOr<ir::Graph> LowerModel(const ModelAst& ast,
                                     const std::map<std::string, int64_t>& dims);

// The train section with PyTorch's defaults filled in for every optimizer hyperparameter.
absl::StatusOr<ir::TrainConfig> LowerTrainConfig(const ModelAst& ast);

// The model's inputs in declaration order (first = features, second = labels).
std::vector<std::string> InputNames(const ModelAst& ast);

// The name of the batch dimension: the first dim of the first input (`N` in `input x: f32[N, 784]`),
// or "B" when that dim is a number. Every command binds the batch size to this name.
std::string BatchDimName(const ModelAst& ast);

}  // namespace kiln::frontend

#endif  // KILN_FRONTEND_FRONTEND_H_
