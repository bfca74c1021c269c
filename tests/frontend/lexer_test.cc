#include "frontend/lexer.h"

#include <gtest/gtest.h>

namespace kiln::frontend {
namespace {

std::shared_ptr<const SourceFile> File(const std::string& text) {
  auto file = std::make_shared<SourceFile>();
  file->path = "t.kiln";
  file->text = text;
  return file;
}

std::vector<Token> LexOk(const std::string& text) {
  auto tokens = Lex(File(text));
  EXPECT_TRUE(tokens.ok()) << tokens.status();
  return tokens.ok() ? *tokens : std::vector<Token>{};
}

// Token texts with newlines shown as "\\n", for compact expectations.
std::vector<std::string> Texts(const std::vector<Token>& tokens) {
  std::vector<std::string> texts;
  for (const Token& t : tokens) {
    if (t.kind == TokenKind::kEnd) break;
    texts.push_back(t.kind == TokenKind::kNewline ? "\\n" : t.text);
  }
  return texts;
}

TEST(LexerTest, AssignmentWithCallAndComment) {
  std::vector<Token> tokens = LexOk("fc1 = linear(x, 256)  # a layer\n");
  EXPECT_EQ(Texts(tokens), (std::vector<std::string>{"fc1", "=", "linear", "(", "x", ",", "256",
                                                     ")", "\\n", "\\n"}));
  EXPECT_EQ(tokens[0].kind, TokenKind::kIdent);
  EXPECT_EQ(tokens[6].kind, TokenKind::kNumber);
  EXPECT_TRUE(tokens[6].is_int);
  EXPECT_EQ(tokens[6].number, 256);
  EXPECT_EQ(tokens[2].loc.line, 1);
  EXPECT_EQ(tokens[2].loc.col, 7);
}

TEST(LexerTest, Numbers) {
  std::vector<Token> tokens = LexOk("3e-3 0.5 .25 1E+2 7");
  ASSERT_GE(tokens.size(), 5u);
  EXPECT_DOUBLE_EQ(tokens[0].number, 3e-3);
  EXPECT_FALSE(tokens[0].is_int);
  EXPECT_DOUBLE_EQ(tokens[1].number, 0.5);
  EXPECT_DOUBLE_EQ(tokens[2].number, 0.25);
  EXPECT_DOUBLE_EQ(tokens[3].number, 100.0);
  EXPECT_FALSE(tokens[3].is_int);
  EXPECT_TRUE(tokens[4].is_int);
}

TEST(LexerTest, DottedNamesAreOneToken) {
  EXPECT_EQ(Texts(LexOk("fc1.weight l1.fc.bias")),
            (std::vector<std::string>{"fc1.weight", "l1.fc.bias", "\\n"}));
}

TEST(LexerTest, PowerAndOperators) {
  EXPECT_EQ(Texts(LexOk("a**2 - -b / c * d")),
            (std::vector<std::string>{"a", "**", "2", "-", "-", "b", "/", "c", "*", "d", "\\n"}));
}

TEST(LexerTest, NewlinesInsideParenthesesAndBracketsAreIgnored) {
  EXPECT_EQ(Texts(LexOk("f(a,\n  b)\n[1,\n2]\n")),
            (std::vector<std::string>{"f", "(", "a", ",", "b", ")", "\\n", "[", "1", ",", "2",
                                      "]", "\\n", "\\n"}));
}

TEST(LexerTest, NewlinesInsideBracesEndStatements) {
  EXPECT_EQ(Texts(LexOk("{\na\n}")),
            (std::vector<std::string>{"{", "\\n", "a", "\\n", "}", "\\n"}));
}

TEST(LexerTest, StringsWithEscapes) {
  std::vector<Token> tokens = LexOk(R"(path="data/\"fm\"")");
  ASSERT_GE(tokens.size(), 3u);
  EXPECT_EQ(tokens[2].kind, TokenKind::kString);
  EXPECT_EQ(tokens[2].text, "data/\"fm\"");
}

TEST(LexerTest, UnterminatedString) {
  auto tokens = Lex(File("a = \"oops\n"));
  ASSERT_FALSE(tokens.ok());
  EXPECT_EQ(tokens.status().message(),
            "t.kiln:1:5: error: unterminated string\n"
            "  a = \"oops\n"
            "      ^");
}

TEST(LexerTest, UnexpectedCharacter) {
  auto tokens = Lex(File("x = a @ b"));
  ASSERT_FALSE(tokens.ok());
  EXPECT_EQ(tokens.status().message(),
            "t.kiln:1:7: error: unexpected character '@'\n"
            "  x = a @ b\n"
            "        ^");
}

TEST(LexerTest, LetterAfterNumber) {
  auto tokens = Lex(File("n = 12abc"));
  ASSERT_FALSE(tokens.ok());
  EXPECT_NE(tokens.status().message().find("1:7: error: unexpected 'a' after a number"),
            std::string::npos);
}

}  // namespace
}  // namespace kiln::frontend
