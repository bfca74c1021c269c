#include "frontend/lexer.h"

#include <cctype>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "support/status.h"

namespace kiln::frontend {
namespace {

bool IsIdentStart(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool IsIdentChar(char c) { return IsIdentStart(c) || std::isdigit(static_cast<unsigned char>(c)); }
bool IsDigit(char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; }

class Lexer {
 public:
  explicit Lexer(std::shared_ptr<const SourceFile> file)
      : file_(std::move(file)), text_(file_->text) {}

  absl::StatusOr<std::vector<Token>> Run() {
    while (pos_ < text_.size()) {
      char c = text_[pos_];
      if (c == '#') {
        while (pos_ < text_.size() && text_[pos_] != '\n') Advance();
      } else if (c == '\n') {
        if (nesting_ == 0) Emit(TokenKind::kNewline, "\n", Here());
        Advance();
      } else if (c == ' ' || c == '\t' || c == '\r') {
        Advance();
      } else if (IsIdentStart(c)) {
        LexIdent();
      } else if (IsDigit(c) || (c == '.' && pos_ + 1 < text_.size() && IsDigit(text_[pos_ + 1]))) {
        KILN_RETURN_IF_ERROR(LexNumber());
      } else if (c == '"') {
        KILN_RETURN_IF_ERROR(LexString());
      } else {
        KILN_RETURN_IF_ERROR(LexPunct());
      }
    }
    Emit(TokenKind::kNewline, "\n", Here());
    Emit(TokenKind::kEnd, "", Here());
    return std::move(tokens_);
  }

 private:
  SourceLoc Here() const { return SourceLoc{file_, line_, col_}; }

  void Advance() {
    if (text_[pos_] == '\n') {
      ++line_;
      col_ = 1;
    } else {
      ++col_;
    }
    ++pos_;
  }

  void Emit(TokenKind kind, std::string text, SourceLoc loc) {
    Token t;
    t.kind = kind;
    t.text = std::move(text);
    t.loc = std::move(loc);
    tokens_.push_back(std::move(t));
  }

  // Identifiers may be dotted (`fc1.weight`) so parameter names read as one name.
  void LexIdent() {
    SourceLoc loc = Here();
    size_t start = pos_;
    while (pos_ < text_.size()) {
      if (IsIdentChar(text_[pos_])) {
        Advance();
      } else if (text_[pos_] == '.' && pos_ + 1 < text_.size() && IsIdentStart(text_[pos_ + 1])) {
        Advance();
      } else {
        break;
      }
    }
    Emit(TokenKind::kIdent, text_.substr(start, pos_ - start), loc);
  }

  absl::Status LexNumber() {
    SourceLoc loc = Here();
    size_t start = pos_;
    bool is_int = true;
    while (pos_ < text_.size() && IsDigit(text_[pos_])) Advance();
    if (pos_ < text_.size() && text_[pos_] == '.') {
      is_int = false;
      Advance();
      while (pos_ < text_.size() && IsDigit(text_[pos_])) Advance();
    }
    if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
      is_int = false;
      Advance();
      if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-')) Advance();
      if (pos_ >= text_.size() || !IsDigit(text_[pos_])) {
        return ErrorAt(loc, "malformed number: expected digits after the exponent");
      }
      while (pos_ < text_.size() && IsDigit(text_[pos_])) Advance();
    }
    if (pos_ < text_.size() && IsIdentStart(text_[pos_])) {
      return ErrorAt(Here(), absl::StrCat("unexpected '", std::string(1, text_[pos_]),
                                          "' after a number"));
    }
    std::string spelling = text_.substr(start, pos_ - start);
    Emit(TokenKind::kNumber, spelling, loc);
    tokens_.back().number = std::strtod(spelling.c_str(), nullptr);
    tokens_.back().is_int = is_int;
    return absl::OkStatus();
  }

  absl::Status LexString() {
    SourceLoc loc = Here();
    Advance();  // Opening quote.
    std::string value;
    while (pos_ < text_.size() && text_[pos_] != '"') {
      if (text_[pos_] == '\n') break;
      if (text_[pos_] == '\\' && pos_ + 1 < text_.size()) {
        Advance();
        char e = text_[pos_];
        value += e == 'n' ? '\n' : e == 't' ? '\t' : e;
      } else {
        value += text_[pos_];
      }
      Advance();
    }
    if (pos_ >= text_.size() || text_[pos_] != '"') {
      return ErrorAt(loc, "unterminated string");
    }
    Advance();
    Emit(TokenKind::kString, std::move(value), loc);
    return absl::OkStatus();
  }

  absl::Status LexPunct() {
    SourceLoc loc = Here();
    char c = text_[pos_];
    if (c == '*' && pos_ + 1 < text_.size() && text_[pos_ + 1] == '*') {
      Advance();
      Advance();
      Emit(TokenKind::kPunct, "**", loc);
      return absl::OkStatus();
    }
    static constexpr absl::string_view kSingle = "()[]{},:;=+-*/";
    if (kSingle.find(c) == absl::string_view::npos) {
      return ErrorAt(loc, absl::StrCat("unexpected character '", std::string(1, c), "'"));
    }
    if (c == '(' || c == '[') ++nesting_;
    if ((c == ')' || c == ']') && nesting_ > 0) --nesting_;
    Advance();
    Emit(TokenKind::kPunct, std::string(1, c), loc);
    return absl::OkStatus();
  }

  std::shared_ptr<const SourceFile> file_;
  const std::string& text_;
  size_t pos_ = 0;
  int line_ = 1;
  int col_ = 1;
  int nesting_ = 0;  // Depth of open ( and [: newlines inside them do not end statements.
  std::vector<Token> tokens_;
};

}  // namespace

std::string Describe(const Token& token) {
  switch (token.kind) {
    case TokenKind::kNewline: return "end of line";
    case TokenKind::kEnd: return "end of file";
    case TokenKind::kString: return absl::StrCat("string \"", token.text, "\"");
    default: return absl::StrCat("'", token.text, "'");
  }
}

absl::StatusOr<std::vector<Token>> Lex(std::shared_ptr<const SourceFile> file) {
  return Lexer(std::move(file)).Run();
}

}  // namespace kiln::frontend
