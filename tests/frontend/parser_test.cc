#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "frontend/frontend.h"

namespace kiln::frontend {
namespace {

ModelAst ParseOk(const std::string& text) {
  auto ast = ParseModel(text, "t.kiln");
  EXPECT_TRUE(ast.ok()) << ast.status();
  return ast.ok() ? *std::move(ast) : ModelAst{};
}

std::string ParseError(const std::string& text) {
  auto ast = ParseModel(text, "t.kiln");
  EXPECT_FALSE(ast.ok());
  return ast.ok() ? "" : std::string(ast.status().message());
}

// The expression assigned by the only statement of `model m { v = <expr> }`.
Expr ParseExpr(const std::string& expr) {
  ModelAst ast = ParseOk(absl::StrCat("model m {\n  v = ", expr, "\n}\n"));
  if (ast.model.body.size() != 1) return Expr{};
  return ast.model.body[0].value;
}

// A compact rendering of an expression tree: (op lhs rhs), f(args), k=v. (StrCat rather than
// std::string operator+, which trips GCC 12's -Wrestrict false positive.)
std::string Show(const Expr& e) {
  switch (e.kind) {
    case Expr::Kind::kNumber:
    case Expr::Kind::kName: return e.text;
    case Expr::Kind::kString: return absl::StrCat("\"", e.text, "\"");
    case Expr::Kind::kUnary: return absl::StrCat("(", e.text, " ", Show(e.operands[0]), ")");
    case Expr::Kind::kBinary:
      return absl::StrCat("(", e.text, " ", Show(e.operands[0]), " ", Show(e.operands[1]), ")");
    case Expr::Kind::kTuple:
    case Expr::Kind::kList: {
      std::vector<std::string> items;
      for (const Expr& item : e.operands) items.push_back(Show(item));
      return absl::StrCat(e.kind == Expr::Kind::kTuple ? "tuple[" : "list[",
                          absl::StrJoin(items, " "), "]");
    }
    case Expr::Kind::kCall: {
      std::vector<std::string> args;
      for (const Arg& arg : e.args) {
        args.push_back(absl::StrCat(arg.keyword, arg.keyword.empty() ? "" : "=", Show(arg.value)));
      }
      return absl::StrCat(e.text, "(", absl::StrJoin(args, " "), ")");
    }
  }
  return "?";
}

TEST(ParserTest, FashionMlpExample) {
  auto ast = ParseModelFile("examples/fashion_mlp.kiln");
  ASSERT_TRUE(ast.ok()) << ast.status();
  EXPECT_EQ(ast->model.name, "fashion_mlp");
  ASSERT_EQ(ast->model.body.size(), 7u);
  const Stmt& x = ast->model.body[0];
  EXPECT_EQ(x.kind, Stmt::Kind::kInput);
  EXPECT_EQ(x.name, "x");
  EXPECT_EQ(x.type.dtype, "f32");
  ASSERT_EQ(x.type.dims.size(), 2u);
  EXPECT_EQ(Show(x.type.dims[0]), "B");
  EXPECT_EQ(Show(x.type.dims[1]), "784");
  EXPECT_EQ(Show(ast->model.body[4].value), "relu(linear(h1 128 name=fc2))");
  EXPECT_EQ(Show(ast->model.body[5].value), "log_softmax(linear(h2 10 name=out) dim=1)");
  EXPECT_EQ(InputNames(*ast), (std::vector<std::string>{"x", "y"}));
  ASSERT_TRUE(ast->has_train);
  ASSERT_EQ(ast->train.size(), 6u);
  EXPECT_EQ(ast->train[0].key, "data");
  EXPECT_EQ(Show(ast->train[0].value), "fashion_mnist(scale=(/ 1 255) normalize=tuple[0.5 0.5])");
  EXPECT_EQ(Show(ast->train[5].value), "list[loss accuracy]");
}

TEST(ParserTest, AllExamplesParse) {
  for (const char* path : {"examples/fashion_mlp.kiln", "examples/fashion_mlp_dropout.kiln",
                           "examples/fashion_mlp_functional.kiln"}) {
    auto ast = ParseModelFile(path);
    EXPECT_TRUE(ast.ok()) << path << ": " << ast.status();
  }
}

TEST(ParserTest, Precedence) {
  EXPECT_EQ(Show(ParseExpr("a + b * c")), "(+ a (* b c))");
  EXPECT_EQ(Show(ParseExpr("a - b - c")), "(- (- a b) c)");
  EXPECT_EQ(Show(ParseExpr("(a + b) * c")), "(* (+ a b) c)");
  EXPECT_EQ(Show(ParseExpr("-x * 2")), "(* (- x) 2)");
  EXPECT_EQ(Show(ParseExpr("-x ** 2")), "(- (** x 2))");  // As in Python.
  EXPECT_EQ(Show(ParseExpr("2 ** 3 ** 2")), "(** 2 (** 3 2))");
  EXPECT_EQ(Show(ParseExpr("2 ** -1")), "(** 2 (- 1))");
  EXPECT_EQ(Show(ParseExpr("1/255")), "(/ 1 255)");
}

TEST(ParserTest, TuplesListsAndGrouping) {
  EXPECT_EQ(Show(ParseExpr("(0.5)")), "0.5");
  EXPECT_EQ(Show(ParseExpr("(0.5,)")), "tuple[0.5]");
  EXPECT_EQ(Show(ParseExpr("(0.9, 0.999)")), "tuple[0.9 0.999]");
  EXPECT_EQ(Show(ParseExpr("[1, 2,]")), "list[1 2]");
  EXPECT_EQ(Show(ParseExpr("[]")), "list[]");
}

TEST(ParserTest, CallsSpanLines) {
  EXPECT_EQ(Show(ParseExpr("linear(x,\n      256,\n      name=fc1)")), "linear(x 256 name=fc1)");
  EXPECT_EQ(Show(ParseExpr("mnist(path=\"/data\")")), "mnist(path=\"/data\")");
}

TEST(ParserTest, ParamsAndBlocks) {
  ModelAst ast = ParseOk(
      "block mlp_layer(x, n) {\n"
      "  h = linear(x, n, name=fc); return relu(h)\n"
      "}\n"
      "model m {\n"
      "  input x: f32[B, 4]\n"
      "  param w: f32[4, 2] = normal(0, 0.01)\n"
      "  param s: f32 = zeros\n"
      "  loss = x\n"
      "}\n");
  ASSERT_EQ(ast.blocks.size(), 1u);
  const BlockAst& block = ast.blocks[0];
  EXPECT_EQ(block.name, "mlp_layer");
  EXPECT_EQ(block.params, (std::vector<std::string>{"x", "n"}));
  ASSERT_EQ(block.body.size(), 2u);
  EXPECT_EQ(block.body[1].kind, Stmt::Kind::kReturn);
  EXPECT_EQ(Show(block.body[1].value), "relu(h)");
  const Stmt& w = ast.model.body[1];
  EXPECT_EQ(w.kind, Stmt::Kind::kParam);
  EXPECT_EQ(w.name, "w");
  EXPECT_EQ(Show(w.value), "normal(0 0.01)");
  EXPECT_TRUE(ast.model.body[2].type.dims.empty());
  EXPECT_FALSE(ast.has_train);
}

TEST(ParserTest, SyntaxErrorGolden) {
  EXPECT_EQ(ParseError("model m {\n"
                       "  input x: f32[B, 4]\n"
                       "  h = relu(x\n"
                       "  loss = h\n"
                       "}\n"),
            "t.kiln:4:3: error: expected ',' or ')' in the call to 'relu', got 'loss'\n"
            "    loss = h\n"
            "    ^");
}

TEST(ParserTest, MissingEqualsGolden) {
  EXPECT_EQ(ParseError("model m {\n  h relu(x)\n}\n"),
            "t.kiln:2:5: error: expected '=' after 'h', got 'relu'\n"
            "    h relu(x)\n"
            "      ^");
}

TEST(ParserTest, StructuralErrors) {
  EXPECT_NE(ParseError("modle m {}\n").find(
                "1:1: error: expected 'model', 'block' or 'train', got 'modle', did you mean "
                "'model'?"),
            std::string::npos);
  EXPECT_NE(ParseError("train { epochs = 1 }\n").find("no model declaration"), std::string::npos);
  EXPECT_NE(ParseError("model a {}\nmodel b {}\n").find("2:1: error: a file holds one model"),
            std::string::npos);
  EXPECT_NE(ParseError("model m {\n  loss = f(a=1, 2)\n}\n")
                .find("2:17: error: positional argument after a keyword argument"),
            std::string::npos);
  EXPECT_NE(ParseError("block b(x) {\n  h = x\n}\nmodel m {}\n")
                .find("1:7: error: block 'b' must end with a return statement"),
            std::string::npos);
  EXPECT_NE(ParseError("block b(x) {\n  return x\n  h = x\n}\nmodel m {}\n")
                .find("3:3: error: statement after return"),
            std::string::npos);
  EXPECT_NE(ParseError("model m {\n  return x\n}\n").find("2:3: error: return is only allowed"),
            std::string::npos);
  EXPECT_NE(ParseError("block b(x) {\n  input y: f32[2]\n  return x\n}\nmodel m {}\n")
                .find("2:3: error: inputs belong to the model"),
            std::string::npos);
  EXPECT_NE(ParseError("model m {\n  param w: f32[2]\n}\n")
                .find("param 'w' needs an initializer"),
            std::string::npos);
  EXPECT_NE(ParseError("model m {\n  h = relu(x)\n").find("'m' is missing its closing '}'"),
            std::string::npos);
  EXPECT_NE(ParseError("model m {\n  h = relu(x) relu(y)\n}\n")
                .find("2:15: error: expected end of statement, got 'relu'"),
            std::string::npos);
}

TEST(ParserTest, MissingFileIsOneLine) {
  auto ast = ParseModelFile("no/such/model.kiln");
  ASSERT_FALSE(ast.ok());
  EXPECT_EQ(ast.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ast.status().message(), "no/such/model.kiln: error: cannot open model file");
}

}  // namespace
}  // namespace kiln::frontend
