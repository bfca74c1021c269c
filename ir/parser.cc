#include "ir/parser.h"

#include <charconv>
#include <map>
#include <memory>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "ir/op_registry.h"
#include "support/source_location.h"
#include "support/status.h"

namespace kiln::ir {
namespace {

bool IsIdentifierStart(char c) { return absl::ascii_isalpha(c) || c == '_'; }
bool IsIdentifierChar(char c) { return absl::ascii_isalnum(c) || c == '_' || c == '.'; }

// A recursive-descent parser over the raw text. Whitespace (newlines included) separates tokens
// and is otherwise insignificant.
class Parser {
 public:
  Parser(absl::string_view text, absl::string_view source_name)
      : file_(std::make_shared<const SourceFile>(
            SourceFile{std::string(source_name), std::string(text)})),
        text_(file_->text) {}

  absl::StatusOr<Graph> Parse();

 private:
  // Lexing.
  void SkipSpace();
  size_t Here() {  // The position of the next token.
    SkipSpace();
    return pos_;
  }
  bool AtEnd() { return Here() >= text_.size(); }
  char Peek() {
    SkipSpace();
    return pos_ < text_.size() ? text_[pos_] : '\0';
  }
  bool Consume(absl::string_view punct);
  absl::Status Expect(absl::string_view punct);
  bool PeekKeyword(absl::string_view word);
  bool ConsumeKeyword(absl::string_view word);
  absl::StatusOr<std::string> Identifier(absl::string_view what);
  absl::StatusOr<std::string> String();
  absl::StatusOr<std::string> Name();
  absl::StatusOr<std::string> Label();
  absl::StatusOr<int64_t> Int();
  absl::StatusOr<std::vector<int64_t>> IntList();
  absl::StatusOr<AttrValue> Value();

  absl::Status ErrorAt(size_t pos, absl::string_view message) const;

  // Grammar.
  absl::StatusOr<NodeId> Use();
  absl::StatusOr<TensorType> Type();
  absl::StatusOr<Attrs> AttrList();
  absl::StatusOr<SourceLoc> ModelLoc();
  absl::Status NodeLine(Graph& graph);
  absl::Status NameAndLoc(Node& node);
  absl::Status Outputs(Graph& graph);
  absl::Status Updates(Graph& graph);
  absl::Status TypeCheck(Node& node, const OpDef& def, const TensorType& printed, size_t op_pos,
                         size_t type_pos, const Graph& graph) const;

  std::shared_ptr<const SourceFile> file_;
  const std::string& text_;
  size_t pos_ = 0;
  std::map<std::string, NodeId> labels_;
  // Model files named by `loc` attributes; nodes from one file share its SourceFile.
  std::map<std::string, std::shared_ptr<const SourceFile>> model_files_;
};

void Parser::SkipSpace() {
  while (pos_ < text_.size()) {
    if (absl::ascii_isspace(text_[pos_])) {
      ++pos_;
    } else if (absl::StartsWith(absl::string_view(text_).substr(pos_), "//")) {
      size_t newline = text_.find('\n', pos_);
      pos_ = newline == std::string::npos ? text_.size() : newline;
    } else {
      return;
    }
  }
}

bool Parser::Consume(absl::string_view punct) {
  SkipSpace();
  if (!absl::StartsWith(absl::string_view(text_).substr(pos_), punct)) return false;
  pos_ += punct.size();
  return true;
}

absl::Status Parser::Expect(absl::string_view punct) {
  if (Consume(punct)) return absl::OkStatus();
  return ErrorAt(pos_, absl::StrCat("expected '", punct, "'"));
}

bool Parser::PeekKeyword(absl::string_view word) {
  SkipSpace();
  absl::string_view rest = absl::string_view(text_).substr(pos_);
  return absl::StartsWith(rest, word) &&
         (rest.size() == word.size() || !IsIdentifierChar(rest[word.size()]));
}

bool Parser::ConsumeKeyword(absl::string_view word) {
  if (!PeekKeyword(word)) return false;
  pos_ += word.size();
  return true;
}

absl::StatusOr<std::string> Parser::Identifier(absl::string_view what) {
  SkipSpace();
  size_t start = pos_;
  if (pos_ >= text_.size() || !IsIdentifierStart(text_[pos_])) {
    return ErrorAt(pos_, absl::StrCat("expected ", what));
  }
  while (pos_ < text_.size() && IsIdentifierChar(text_[pos_])) ++pos_;
  return text_.substr(start, pos_ - start);
}

absl::StatusOr<std::string> Parser::String() {
  SkipSpace();
  size_t start = pos_;
  if (!Consume("\"")) return ErrorAt(pos_, "expected a string");
  while (pos_ < text_.size() && text_[pos_] != '"' && text_[pos_] != '\n') {
    pos_ += text_[pos_] == '\\' ? 2 : 1;
  }
  if (pos_ >= text_.size() || text_[pos_] != '"') {
    return ErrorAt(start, "unterminated string");
  }
  std::string value, error;
  if (!absl::CUnescape(absl::string_view(text_).substr(start + 1, pos_ - start - 1), &value,
                       &error)) {
    return ErrorAt(start, absl::StrCat("bad escape in string: ", error));
  }
  ++pos_;
  return value;
}

absl::StatusOr<std::string> Parser::Name() {
  if (Peek() == '"') return String();
  return Identifier("a name");
}

absl::StatusOr<std::string> Parser::Label() {
  SkipSpace();
  size_t start = pos_;
  if (!Consume("%")) return ErrorAt(pos_, "expected a value such as %3");
  while (pos_ < text_.size() && IsIdentifierChar(text_[pos_])) ++pos_;
  if (pos_ == start + 1) return ErrorAt(start, "expected a value such as %3");
  return text_.substr(start, pos_ - start);
}

absl::StatusOr<int64_t> Parser::Int() {
  SkipSpace();
  int64_t value = 0;
  auto [end, ec] = std::from_chars(text_.data() + pos_, text_.data() + text_.size(), value);
  if (ec != std::errc()) return ErrorAt(pos_, "expected an integer");
  pos_ = end - text_.data();
  return value;
}

absl::StatusOr<std::vector<int64_t>> Parser::IntList() {
  KILN_RETURN_IF_ERROR(Expect("["));
  std::vector<int64_t> values;
  if (Consume("]")) return values;
  do {
    KILN_ASSIGN_OR_RETURN(int64_t v, Int());
    values.push_back(v);
  } while (Consume(","));
  KILN_RETURN_IF_ERROR(Expect("]"));
  return values;
}

// An attribute value: "string", [ints], an integer, or a double (which the printer always writes
// with '.', an exponent, inf or nan).
absl::StatusOr<AttrValue> Parser::Value() {
  char c = Peek();
  if (c == '"') return String();
  if (c == '[') return IntList();
  size_t start = pos_;
  if (pos_ < text_.size() && (text_[pos_] == '-' || text_[pos_] == '+')) ++pos_;
  while (pos_ < text_.size() &&
         (IsIdentifierChar(text_[pos_]) || ((text_[pos_] == '-' || text_[pos_] == '+') &&
                                            (text_[pos_ - 1] == 'e' || text_[pos_ - 1] == 'E')))) {
    ++pos_;
  }
  absl::string_view lexeme = absl::string_view(text_).substr(start, pos_ - start);
  if (!lexeme.empty() && lexeme[0] == '+') lexeme.remove_prefix(1);  // from_chars rejects '+'.
  const char* first = lexeme.data();
  const char* last = lexeme.data() + lexeme.size();
  if (lexeme.find_first_of(".eEin") == absl::string_view::npos) {
    int64_t value = 0;
    auto [end, ec] = std::from_chars(first, last, value);
    if (ec == std::errc() && end == last && !lexeme.empty()) return value;
  } else {
    double value = 0;
    auto [end, ec] = std::from_chars(first, last, value);
    if (ec == std::errc() && end == last) return value;
  }
  return ErrorAt(start, absl::StrCat("expected an attribute value, got '", lexeme, "'"));
}

absl::Status Parser::ErrorAt(size_t pos, absl::string_view message) const {
  SourceLoc loc{file_, 1, 1};
  for (size_t i = 0; i < pos && i < text_.size(); ++i) {
    if (text_[i] == '\n') {
      ++loc.line;
      loc.col = 1;
    } else {
      ++loc.col;
    }
  }
  return kiln::ErrorAt(loc, message);
}

absl::StatusOr<NodeId> Parser::Use() {
  size_t start = Here();
  KILN_ASSIGN_OR_RETURN(std::string label, Label());
  auto it = labels_.find(label);
  if (it == labels_.end()) return ErrorAt(start, absl::StrCat("use of undefined value ", label));
  return it->second;
}

absl::StatusOr<TensorType> Parser::Type() {
  size_t start = Here();
  KILN_ASSIGN_OR_RETURN(std::string dtype_name, Identifier("a type such as f32[2,3]"));
  absl::StatusOr<DType> dtype = ParseDType(dtype_name);
  if (!dtype.ok()) return ErrorAt(start, dtype.status().message());
  KILN_ASSIGN_OR_RETURN(Shape shape, IntList());
  return TensorType{*dtype, std::move(shape)};
}

absl::StatusOr<Attrs> Parser::AttrList() {
  Attrs attrs;
  if (!Consume("{")) return attrs;
  if (Consume("}")) return attrs;
  do {
    size_t start = Here();
    KILN_ASSIGN_OR_RETURN(std::string key, Identifier("an attribute name"));
    if (attrs.Has(key)) return ErrorAt(start, absl::StrCat("duplicate attribute '", key, "'"));
    KILN_RETURN_IF_ERROR(Expect("="));
    KILN_ASSIGN_OR_RETURN(AttrValue value, Value());
    attrs.Set(key, std::move(value));
  } while (Consume(","));
  KILN_RETURN_IF_ERROR(Expect("}"));
  return attrs;
}

// loc="path:line:col"; the path may itself contain ':'.
absl::StatusOr<SourceLoc> Parser::ModelLoc() {
  size_t start = Here();
  KILN_ASSIGN_OR_RETURN(std::string text, String());
  size_t col_colon = text.rfind(':');
  size_t line_colon = col_colon == std::string::npos || col_colon == 0
                          ? std::string::npos
                          : text.rfind(':', col_colon - 1);
  SourceLoc loc;
  if (line_colon == std::string::npos ||
      !absl::SimpleAtoi(text.substr(line_colon + 1, col_colon - line_colon - 1), &loc.line) ||
      !absl::SimpleAtoi(text.substr(col_colon + 1), &loc.col) || loc.line <= 0) {
    return ErrorAt(start, "expected loc=\"file:line:col\"");
  }
  std::string path = text.substr(0, line_colon);
  auto& file = model_files_[path];
  if (file == nullptr) file = std::make_shared<const SourceFile>(SourceFile{path, ""});
  loc.file = file;
  return loc;
}

// Checks the operand count, infers the node's type and compares it with the printed one.
absl::Status Parser::TypeCheck(Node& node, const OpDef& def, const TensorType& printed,
                               size_t op_pos, size_t type_pos, const Graph& graph) const {
  std::string who = node.name.empty() ? node.op.name() : absl::StrCat(node.op.name(), " '", node.name, "'");
  if (def.num_operands >= 0 && def.num_operands != static_cast<int>(node.operands.size())) {
    return ErrorAt(op_pos, absl::StrFormat("%s takes %d operands, got %d", who, def.num_operands,
                                           node.operands.size()));
  }
  std::vector<TensorType> operand_types;
  for (NodeId operand : node.operands) operand_types.push_back(graph.node(operand).type);
  absl::StatusOr<TensorType> inferred = def.infer_type(operand_types, node.attrs);
  if (!inferred.ok()) {
    return ErrorAt(op_pos, absl::StrCat(who, ": ", inferred.status().message()));
  }
  if (*inferred != printed) {
    return ErrorAt(type_pos,
                   absl::StrFormat("%s: the printed type %s differs from the inferred type %s", who,
                                   printed.ToString(), inferred->ToString()));
  }
  node.type = *std::move(inferred);
  return absl::OkStatus();
}

// The optional `name="..."` and `loc="file:line:col"` that end a node's line.
absl::Status Parser::NameAndLoc(Node& node) {
  for (;;) {
    if (ConsumeKeyword("name")) {
      KILN_RETURN_IF_ERROR(Expect("="));
      KILN_ASSIGN_OR_RETURN(node.name, String());
    } else if (ConsumeKeyword("loc")) {
      KILN_RETURN_IF_ERROR(Expect("="));
      KILN_ASSIGN_OR_RETURN(node.loc, ModelLoc());
    } else {
      return absl::OkStatus();
    }
  }
}

absl::Status Parser::NodeLine(Graph& graph) {
  size_t label_pos = Here();
  KILN_ASSIGN_OR_RETURN(std::string label, Label());
  if (labels_.count(label)) {
    return ErrorAt(label_pos, absl::StrCat("value ", label, " is defined twice"));
  }
  KILN_RETURN_IF_ERROR(Expect("="));
  size_t op_pos = Here();
  Node node;
  KILN_ASSIGN_OR_RETURN(node.op, Identifier("an op name"));
  absl::StatusOr<const OpDef*> def = OpRegistry::Global().Lookup(node.op);
  if (!def.ok()) return ErrorAt(op_pos, def.status().message());
  KILN_RETURN_IF_ERROR(Expect("("));
  if (!Consume(")")) {
    do {
      KILN_ASSIGN_OR_RETURN(NodeId operand, Use());
      node.operands.push_back(operand);
    } while (Consume(","));
    KILN_RETURN_IF_ERROR(Expect(")"));
  }
  KILN_ASSIGN_OR_RETURN(node.attrs, AttrList());
  KILN_RETURN_IF_ERROR(Expect(":"));
  size_t type_pos = Here();
  KILN_ASSIGN_OR_RETURN(TensorType printed, Type());
  KILN_RETURN_IF_ERROR(NameAndLoc(node));
  KILN_RETURN_IF_ERROR(TypeCheck(node, **def, printed, op_pos, type_pos, graph));
  labels_[label] = graph.Add(std::move(node));
  return absl::OkStatus();
}

absl::Status Parser::Outputs(Graph& graph) {
  KILN_RETURN_IF_ERROR(Expect("{"));
  if (Consume("}")) return absl::OkStatus();
  do {
    KILN_ASSIGN_OR_RETURN(std::string name, Name());
    KILN_RETURN_IF_ERROR(Expect("="));
    KILN_ASSIGN_OR_RETURN(NodeId id, Use());
    graph.outputs.emplace_back(std::move(name), id);
  } while (Consume(","));
  return Expect("}");
}

absl::Status Parser::Updates(Graph& graph) {
  KILN_RETURN_IF_ERROR(Expect("{"));
  if (Consume("}")) return absl::OkStatus();
  do {
    Update update;
    KILN_ASSIGN_OR_RETURN(update.target, Use());
    KILN_RETURN_IF_ERROR(Expect("<-"));
    KILN_ASSIGN_OR_RETURN(update.value, Use());
    graph.updates.push_back(update);
  } while (Consume(","));
  return Expect("}");
}

absl::StatusOr<Graph> Parser::Parse() {
  Graph graph;
  if (!ConsumeKeyword("graph")) return ErrorAt(Here(), "expected 'graph'");
  KILN_ASSIGN_OR_RETURN(graph.name, Name());
  KILN_RETURN_IF_ERROR(Expect("{"));
  while (!Consume("}")) {
    if (AtEnd()) return ErrorAt(pos_, "expected '}' to close the graph");
    if (ConsumeKeyword("outputs")) {
      KILN_RETURN_IF_ERROR(Outputs(graph));
    } else if (ConsumeKeyword("updates")) {
      KILN_RETURN_IF_ERROR(Updates(graph));
    } else {
      KILN_RETURN_IF_ERROR(NodeLine(graph));
    }
  }
  if (!AtEnd()) return ErrorAt(pos_, "unexpected text after the graph");
  return graph;
}

}  // namespace

absl::StatusOr<Graph> ParseGraph(absl::string_view text, absl::string_view source_name) {
  return Parser(text, source_name).Parse();
}

}  // namespace kiln::ir
