// Recursive-descent parser for .kiln files (grammar in docs/dsl.md). Syntax only: it checks
// structure, not whether names, ops or keyword arguments exist.
#include <algorithm>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "frontend/frontend.h"
#include "frontend/lexer.h"
#include "support/status.h"

namespace kiln::frontend {
namespace {

// Deeper expressions are refused with a located error: the parser, lowering and the syntax tree's
// destructor each recurse once per level, and no file may exhaust the stack. A chain `a + b + c`
// is one level per operator.
constexpr int kMaxExprHeight = 500;

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : tokens_(std::move(tokens)) {}

  absl::Status ParseFile(ModelAst& ast) {
    bool has_model = false;
    for (SkipNewlines(); Peek().kind != TokenKind::kEnd; SkipNewlines()) {
      const Token& t = Peek();
      if (IsWord("model")) {
        if (has_model) return ErrorAt(t.loc, "a file holds one model; this is a second one");
        has_model = true;
        KILN_RETURN_IF_ERROR(ParseModelDecl(ast.model));
      } else if (IsWord("block")) {
        ast.blocks.emplace_back();
        KILN_RETURN_IF_ERROR(ParseBlockDecl(ast.blocks.back()));
      } else if (IsWord("train")) {
        if (ast.has_train) return ErrorAt(t.loc, "a file holds one train section; this is a second one");
        ast.has_train = true;
        ast.train_loc = t.loc;
        KILN_RETURN_IF_ERROR(ParseTrain(ast.train));
      } else {
        std::string hint = t.kind == TokenKind::kIdent
                               ? DidYouMean(t.text, {"model", "block", "train"})
                               : "";
        return ErrorAt(t.loc, absl::StrCat("expected 'model', 'block' or 'train', got ",
                                           Describe(t), hint));
      }
    }
    if (!has_model) {
      return ErrorAt(Peek().loc, "no model declaration (expected 'model <name> { ... }')");
    }
    return absl::OkStatus();
  }

 private:
  const Token& Peek(int ahead = 0) const {
    size_t i = std::min(pos_ + ahead, tokens_.size() - 1);
    return tokens_[i];
  }
  Token Next() {
    Token t = Peek();
    if (pos_ + 1 < tokens_.size()) ++pos_;
    return t;
  }
  bool IsPunct(absl::string_view p, int ahead = 0) const {
    return Peek(ahead).kind == TokenKind::kPunct && Peek(ahead).text == p;
  }
  bool IsWord(absl::string_view w) const {
    return Peek().kind == TokenKind::kIdent && Peek().text == w;
  }
  void SkipNewlines() {
    while (Peek().kind == TokenKind::kNewline || IsPunct(";")) Next();
  }

  absl::Status Expect(absl::string_view punct, absl::string_view context) {
    if (IsPunct(punct)) {
      Next();
      return absl::OkStatus();
    }
    return ErrorAt(Peek().loc,
                   absl::StrCat("expected '", punct, "' ", context, ", got ", Describe(Peek())));
  }

  absl::StatusOr<Token> ExpectIdent(absl::string_view what) {
    if (Peek().kind == TokenKind::kIdent) return Next();
    return ErrorAt(Peek().loc, absl::StrCat("expected ", what, ", got ", Describe(Peek())));
  }

  // A statement ends at a newline, ';' or the block's closing '}'.
  absl::Status ExpectEndOfStatement() {
    if (Peek().kind == TokenKind::kNewline || IsPunct(";")) {
      Next();
      return absl::OkStatus();
    }
    if (IsPunct("}")) return absl::OkStatus();
    return ErrorAt(Peek().loc, absl::StrCat("expected end of statement, got ", Describe(Peek())));
  }

  absl::Status ParseModelDecl(BlockAst& model) {
    Next();  // 'model'
    KILN_ASSIGN_OR_RETURN(Token name, ExpectIdent("a model name after 'model'"));
    model.name = name.text;
    model.loc = name.loc;
    KILN_RETURN_IF_ERROR(Expect("{", "to open the model body"));
    return ParseBody(model, /*is_model=*/true);
  }

  absl::Status ParseBlockDecl(BlockAst& block) {
    Next();  // 'block'
    KILN_ASSIGN_OR_RETURN(Token name, ExpectIdent("a block name after 'block'"));
    block.name = name.text;
    block.loc = name.loc;
    KILN_RETURN_IF_ERROR(Expect("(", "after the block name"));
    while (!IsPunct(")")) {
      KILN_ASSIGN_OR_RETURN(Token param, ExpectIdent("a parameter name"));
      block.params.push_back(param.text);
      block.param_locs.push_back(param.loc);
      if (!IsPunct(")")) KILN_RETURN_IF_ERROR(Expect(",", "between block parameters"));
    }
    Next();  // ')'
    KILN_RETURN_IF_ERROR(Expect("{", "to open the block body"));
    KILN_RETURN_IF_ERROR(ParseBody(block, /*is_model=*/false));
    if (block.body.empty() || block.body.back().kind != Stmt::Kind::kReturn) {
      return ErrorAt(block.loc, absl::StrCat("block '", block.name,
                                             "' must end with a return statement"));
    }
    return absl::OkStatus();
  }

  // Statements up to and including the closing '}'.
  absl::Status ParseBody(BlockAst& block, bool is_model) {
    for (SkipNewlines(); !IsPunct("}"); SkipNewlines()) {
      if (Peek().kind == TokenKind::kEnd) {
        return ErrorAt(block.loc, absl::StrCat("'", block.name, "' is missing its closing '}'"));
      }
      if (!block.body.empty() && block.body.back().kind == Stmt::Kind::kReturn) {
        return ErrorAt(Peek().loc, "statement after return");
      }
      Stmt stmt;
      KILN_RETURN_IF_ERROR(ParseStmt(stmt));
      if (stmt.kind == Stmt::Kind::kInput && !is_model) {
        return ErrorAt(stmt.loc, "inputs belong to the model; pass tensors to a block as arguments");
      }
      if (stmt.kind == Stmt::Kind::kReturn && is_model) {
        return ErrorAt(stmt.loc, "return is only allowed in a block; a model binds 'loss'");
      }
      block.body.push_back(std::move(stmt));
      KILN_RETURN_IF_ERROR(ExpectEndOfStatement());
    }
    Next();  // '}'
    return absl::OkStatus();
  }

  absl::Status ParseStmt(Stmt& stmt) {
    stmt.loc = Peek().loc;
    if (Peek().kind != TokenKind::kIdent) {
      return ErrorAt(Peek().loc, absl::StrCat("expected a statement, got ", Describe(Peek())));
    }
    if (IsWord("return") && !IsPunct("=", 1)) {
      Next();
      stmt.kind = Stmt::Kind::kReturn;
      stmt.has_value = true;
      KILN_ASSIGN_OR_RETURN(stmt.value, ParseExpr());
      return absl::OkStatus();
    }
    if ((IsWord("input") || IsWord("param")) && !IsPunct("=", 1)) {
      stmt.kind = IsWord("input") ? Stmt::Kind::kInput : Stmt::Kind::kParam;
      std::string keyword = Next().text;
      KILN_ASSIGN_OR_RETURN(Token name, ExpectIdent(absl::StrCat("a name after '", keyword, "'")));
      stmt.name = name.text;
      stmt.name_loc = name.loc;
      KILN_RETURN_IF_ERROR(Expect(":", absl::StrCat("and a type after '", keyword, " ",
                                                    stmt.name, "'")));
      KILN_RETURN_IF_ERROR(ParseType(stmt.type));
      if (stmt.kind == Stmt::Kind::kInput) return absl::OkStatus();
      if (!IsPunct("=")) {
        return ErrorAt(Peek().loc, absl::StrCat("param '", stmt.name,
                                                "' needs an initializer, e.g. '= normal(0, 0.01)'"));
      }
      Next();
      stmt.has_value = true;
      KILN_ASSIGN_OR_RETURN(stmt.value, ParseExpr());
      return absl::OkStatus();
    }
    Token name = Next();
    stmt.kind = Stmt::Kind::kAssign;
    stmt.name = name.text;
    stmt.name_loc = name.loc;
    if (!IsPunct("=")) {
      return ErrorAt(Peek().loc, absl::StrCat("expected '=' after '", name.text, "', got ",
                                              Describe(Peek())));
    }
    Next();
    stmt.has_value = true;
    KILN_ASSIGN_OR_RETURN(stmt.value, ParseExpr());
    return absl::OkStatus();
  }

  // `f32[B, 784]`, or `f32` / `f32[]` for a scalar.
  absl::Status ParseType(TypeAst& type) {
    KILN_ASSIGN_OR_RETURN(Token dtype, ExpectIdent("a dtype such as f32 or i64"));
    type.dtype = dtype.text;
    type.dtype_loc = dtype.loc;
    if (!IsPunct("[")) return absl::OkStatus();
    Next();
    while (!IsPunct("]")) {
      KILN_ASSIGN_OR_RETURN(Expr dim, ParseExpr());
      type.dims.push_back(std::move(dim));
      if (!IsPunct("]")) KILN_RETURN_IF_ERROR(Expect(",", "between dimensions"));
    }
    Next();
    return absl::OkStatus();
  }

  absl::Status ParseTrain(std::vector<TrainEntry>& entries) {
    Next();  // 'train'
    KILN_RETURN_IF_ERROR(Expect("{", "to open the train section"));
    for (SkipNewlines(); !IsPunct("}"); SkipNewlines()) {
      if (Peek().kind == TokenKind::kEnd) {
        return ErrorAt(Peek().loc, "the train section is missing its closing '}'");
      }
      TrainEntry entry;
      KILN_ASSIGN_OR_RETURN(Token key, ExpectIdent("a train setting such as 'epochs = 10'"));
      entry.key = key.text;
      entry.key_loc = key.loc;
      KILN_RETURN_IF_ERROR(Expect("=", absl::StrCat("after '", key.text, "'")));
      KILN_ASSIGN_OR_RETURN(entry.value, ParseExpr());
      entries.push_back(std::move(entry));
      KILN_RETURN_IF_ERROR(ExpectEndOfStatement());
    }
    Next();  // '}'
    return absl::OkStatus();
  }

  // Precedence, loosest first: + -, * /, unary -, ** (right-associative), as in Python.
  absl::StatusOr<Expr> ParseExpr() { return Nested(&Parser::ParseSum); }

  // Runs `parse` one level deeper in the parser's own recursion, which is bounded too: '(' and
  // '[' nest without adding levels to the tree, and a run of unary '-' or '**' recurses before
  // any node exists.
  absl::StatusOr<Expr> Nested(absl::StatusOr<Expr> (Parser::*parse)()) {
    if (nesting_ >= kMaxExprHeight) return TooDeep(Peek().loc);
    ++nesting_;
    absl::StatusOr<Expr> e = (this->*parse)();
    --nesting_;
    return e;
  }

  static absl::Status TooDeep(const SourceLoc& loc) {
    return ErrorAt(loc, absl::StrCat("expression nested too deeply (more than ", kMaxExprHeight,
                                     " levels); split it into several statements"));
  }

  // Sets `e.height` from its children; an error where it passes the limit.
  static absl::Status Measure(Expr& e) {
    int below = 0;
    for (const Expr& operand : e.operands) below = std::max(below, operand.height);
    for (const Arg& arg : e.args) below = std::max(below, arg.value.height);
    e.height = below + 1;
    return e.height > kMaxExprHeight ? TooDeep(e.loc) : absl::OkStatus();
  }

  absl::StatusOr<Expr> ParseSum() {
    KILN_ASSIGN_OR_RETURN(Expr lhs, ParseProduct());
    while (IsPunct("+") || IsPunct("-")) {
      Token op = Next();
      KILN_ASSIGN_OR_RETURN(Expr rhs, ParseProduct());
      KILN_ASSIGN_OR_RETURN(lhs, Binary(op, std::move(lhs), std::move(rhs)));
    }
    return lhs;
  }

  absl::StatusOr<Expr> ParseProduct() {
    KILN_ASSIGN_OR_RETURN(Expr lhs, ParseUnary());
    while (IsPunct("*") || IsPunct("/")) {
      Token op = Next();
      KILN_ASSIGN_OR_RETURN(Expr rhs, ParseUnary());
      KILN_ASSIGN_OR_RETURN(lhs, Binary(op, std::move(lhs), std::move(rhs)));
    }
    return lhs;
  }

  absl::StatusOr<Expr> ParseUnary() { return Nested(&Parser::ParseSignedPower); }

  absl::StatusOr<Expr> ParseSignedPower() {
    if (IsPunct("-")) {
      Token op = Next();
      KILN_ASSIGN_OR_RETURN(Expr operand, ParseUnary());
      Expr e;
      e.kind = Expr::Kind::kUnary;
      e.loc = op.loc;
      e.text = "-";
      e.operands.push_back(std::move(operand));
      KILN_RETURN_IF_ERROR(Measure(e));
      return e;
    }
    if (IsPunct("+")) Next();
    return ParsePower();
  }

  absl::StatusOr<Expr> ParsePower() {
    KILN_ASSIGN_OR_RETURN(Expr base, ParsePrimary());
    if (!IsPunct("**")) return base;
    Token op = Next();
    KILN_ASSIGN_OR_RETURN(Expr exponent, ParseUnary());
    return Binary(op, std::move(base), std::move(exponent));
  }

  static absl::StatusOr<Expr> Binary(const Token& op, Expr lhs, Expr rhs) {
    Expr e;
    e.kind = Expr::Kind::kBinary;
    e.loc = op.loc;
    e.text = op.text;
    e.operands.push_back(std::move(lhs));
    e.operands.push_back(std::move(rhs));
    KILN_RETURN_IF_ERROR(Measure(e));
    return e;
  }

  absl::StatusOr<Expr> ParsePrimary() {
    const Token& t = Peek();
    Expr e;
    e.loc = t.loc;
    switch (t.kind) {
      case TokenKind::kNumber:
        e.kind = Expr::Kind::kNumber;
        e.number = t.number;
        e.is_int = t.is_int;
        e.text = t.text;
        Next();
        return e;
      case TokenKind::kString:
        e.kind = Expr::Kind::kString;
        e.text = t.text;
        Next();
        return e;
      case TokenKind::kIdent:
        e.kind = Expr::Kind::kName;
        e.text = Next().text;
        if (!IsPunct("(")) return e;
        e.kind = Expr::Kind::kCall;
        Next();
        KILN_RETURN_IF_ERROR(ParseArgs(e));
        KILN_RETURN_IF_ERROR(Measure(e));
        return e;
      default:
        break;
    }
    if (IsPunct("(")) return ParseParenthesized();
    if (IsPunct("[")) {
      Next();
      e.kind = Expr::Kind::kList;
      KILN_RETURN_IF_ERROR(ParseItems("]", e.operands));
      KILN_RETURN_IF_ERROR(Measure(e));
      return e;
    }
    return ErrorAt(t.loc, absl::StrCat("expected an expression, got ", Describe(t)));
  }

  // `(e)` is grouping; `(a, b)` and `(a,)` are tuples.
  absl::StatusOr<Expr> ParseParenthesized() {
    SourceLoc loc = Next().loc;  // '('
    KILN_ASSIGN_OR_RETURN(Expr first, ParseExpr());
    if (IsPunct(")")) {
      Next();
      return first;
    }
    Expr tuple;
    tuple.kind = Expr::Kind::kTuple;
    tuple.loc = loc;
    tuple.operands.push_back(std::move(first));
    KILN_RETURN_IF_ERROR(Expect(",", "or ')' in parentheses"));
    KILN_RETURN_IF_ERROR(ParseItems(")", tuple.operands));
    KILN_RETURN_IF_ERROR(Measure(tuple));
    return tuple;
  }

  // Comma-separated expressions up to and including `close`; a trailing comma is allowed.
  absl::Status ParseItems(absl::string_view close, std::vector<Expr>& items) {
    while (!IsPunct(close)) {
      KILN_ASSIGN_OR_RETURN(Expr item, ParseExpr());
      items.push_back(std::move(item));
      if (!IsPunct(close)) {
        KILN_RETURN_IF_ERROR(Expect(",", absl::StrCat("or '", close, "'")));
      }
    }
    Next();
    return absl::OkStatus();
  }

  // Arguments after '(' up to and including ')': positional first, then keyword=value.
  absl::Status ParseArgs(Expr& call) {
    bool seen_keyword = false;
    while (!IsPunct(")")) {
      Arg arg;
      if (Peek().kind == TokenKind::kIdent && IsPunct("=", 1)) {
        Token key = Next();
        Next();  // '='
        arg.keyword = key.text;
        arg.keyword_loc = key.loc;
        seen_keyword = true;
      } else if (seen_keyword) {
        return ErrorAt(Peek().loc, "positional argument after a keyword argument");
      }
      KILN_ASSIGN_OR_RETURN(arg.value, ParseExpr());
      call.args.push_back(std::move(arg));
      if (!IsPunct(")")) {
        KILN_RETURN_IF_ERROR(Expect(",", absl::StrCat("or ')' in the call to '", call.text, "'")));
      }
    }
    Next();
    return absl::OkStatus();
  }

  std::vector<Token> tokens_;
  size_t pos_ = 0;
  int nesting_ = 0;  // Active ParseExpr / ParseUnary calls.
};

}  // namespace

absl::StatusOr<ModelAst> ParseModel(absl::string_view text, const std::string& path) {
  auto file = std::make_shared<SourceFile>();
  file->path = path;
  file->text = std::string(text);
  ModelAst ast;
  ast.file = file;
  KILN_ASSIGN_OR_RETURN(std::vector<Token> tokens, Lex(file));
  KILN_RETURN_IF_ERROR(Parser(std::move(tokens)).ParseFile(ast));
  return ast;
}

absl::StatusOr<ModelAst> ParseModelFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": error: cannot open model file"));
  std::stringstream text;
  text << in.rdbuf();
  return ParseModel(text.str(), path);
}

std::string BatchDimName(const ModelAst& ast) {
  for (const Stmt& stmt : ast.model.body) {
    if (stmt.kind != Stmt::Kind::kInput || stmt.type.dims.empty()) continue;
    const Expr& dim = stmt.type.dims[0];
    return dim.kind == Expr::Kind::kName ? dim.text : "B";
  }
  return "B";
}

std::vector<std::string> InputNames(const ModelAst& ast) {
  std::vector<std::string> names;
  for (const Stmt& stmt : ast.model.body) {
    if (stmt.kind == Stmt::Kind::kInput) names.push_back(stmt.name);
  }
  return names;
}

}  // namespace kiln::frontend
