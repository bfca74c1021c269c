#include "tools/model_settings.h"

#include <algorithm>
#include <cctype>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "support/status.h"

namespace kiln::tools {
namespace {

using frontend::Expr;

// A constant expression as the parser would have built it from `text`.
Expr ValueExpr(const std::string& text, const SourceLoc& loc) {
  Expr expr;
  expr.loc = loc;
  double number = 0;
  if (absl::SimpleAtod(text, &number)) {
    int64_t integer = 0;
    expr.kind = Expr::Kind::kNumber;
    expr.number = number;
    expr.is_int = absl::SimpleAtoi(text, &integer);
    return expr;
  }
  const bool identifier =
      !text.empty() && (std::isalpha(static_cast<unsigned char>(text[0])) || text[0] == '_') &&
      std::all_of(text.begin(), text.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.';
      });
  expr.kind = identifier ? Expr::Kind::kName : Expr::Kind::kString;
  expr.text = text;
  return expr;
}

// Whether `expr` is a compile-time constant made of literals (`16`, `-0.5`, `2 * 8`, `true`).
bool IsLiteralConstant(const Expr& expr) {
  switch (expr.kind) {
    case Expr::Kind::kNumber:
    case Expr::Kind::kString:
      return true;
    case Expr::Kind::kName:
      return expr.text == "true" || expr.text == "false";
    case Expr::Kind::kUnary:
    case Expr::Kind::kBinary:
    case Expr::Kind::kTuple:
    case Expr::Kind::kList:
      return std::all_of(expr.operands.begin(), expr.operands.end(), IsLiteralConstant);
    case Expr::Kind::kCall:
      return false;
  }
  return false;
}

frontend::TrainEntry* FindTrainEntry(frontend::ModelAst& ast, const std::string& key) {
  for (frontend::TrainEntry& entry : ast.train) {
    if (entry.key == key) return &entry;
  }
  return nullptr;
}

// What --set can name in `ast`, for the error message.
std::vector<std::string> SettableNames(const frontend::ModelAst& ast) {
  std::vector<std::string> names;
  for (const frontend::Stmt& stmt : ast.model.body) {
    if (stmt.kind == frontend::Stmt::Kind::kAssign && IsLiteralConstant(stmt.value)) {
      names.push_back(stmt.name);
    }
  }
  for (const frontend::TrainEntry& entry : ast.train) {
    names.push_back(entry.key);
    if (entry.key != "optimizer" || entry.value.kind != Expr::Kind::kCall) continue;
    for (const frontend::Arg& arg : entry.value.args) {
      if (!arg.keyword.empty()) names.push_back(arg.keyword);
    }
  }
  if (std::find(names.begin(), names.end(), "lr") == names.end()) names.push_back("lr");
  return names;
}

absl::Status Apply(const ModelSetting& setting, frontend::ModelAst& ast) {
  for (frontend::Stmt& stmt : ast.model.body) {
    if (stmt.kind != frontend::Stmt::Kind::kAssign || stmt.name != setting.name) continue;
    if (!IsLiteralConstant(stmt.value)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--set ", setting.name, ": '", setting.name,
                       "' is computed in the model, not a constant that can be set"));
    }
    stmt.value = ValueExpr(setting.value, stmt.value.loc);
    return absl::OkStatus();  // The first binding; later ones may rebind the name.
  }
  if (frontend::TrainEntry* entry = FindTrainEntry(ast, setting.name)) {
    entry->value = ValueExpr(setting.value, entry->value.loc);
    return absl::OkStatus();
  }
  frontend::TrainEntry* optimizer = FindTrainEntry(ast, "optimizer");
  if (optimizer != nullptr && optimizer->value.kind == Expr::Kind::kCall) {
    for (frontend::Arg& arg : optimizer->value.args) {
      if (arg.keyword != setting.name) continue;
      arg.value = ValueExpr(setting.value, arg.value.loc);
      return absl::OkStatus();
    }
    if (setting.name == "lr") {
      optimizer->value.args.push_back({.keyword = "lr",
                                       .keyword_loc = optimizer->value.loc,
                                       .value = ValueExpr(setting.value, optimizer->value.loc)});
      return absl::OkStatus();
    }
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "--set ", setting.name, ": no constant, train key or optimizer setting '", setting.name,
      "' in the model (settable: ", absl::StrJoin(SettableNames(ast), ", "), ")"));
}

}  // namespace

absl::StatusOr<std::vector<ModelSetting>> TakeModelSettings(std::vector<std::string>& args) {
  std::vector<ModelSetting> settings;
  std::vector<std::string> rest;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string text;
    if (args[i] == "--set") {
      if (i + 1 >= args.size()) return absl::InvalidArgumentError("--set needs NAME=VALUE");
      text = args[++i];
    } else if (absl::StartsWith(args[i], "--set=")) {
      text = args[i].substr(6);
    } else {
      rest.push_back(args[i]);
      continue;
    }
    const size_t eq = text.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == text.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--set ", text, ": expected NAME=VALUE, e.g. --set hidden=64"));
    }
    settings.push_back({text.substr(0, eq), text.substr(eq + 1)});
  }
  args = std::move(rest);
  return settings;
}

absl::Status ApplyModelSettings(const std::vector<ModelSetting>& settings,
                                frontend::ModelAst& ast) {
  for (const ModelSetting& setting : settings) KILN_RETURN_IF_ERROR(Apply(setting, ast));
  return absl::OkStatus();
}

}  // namespace kiln::tools
