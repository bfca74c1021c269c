// Splits .kiln source text into tokens. Newlines end statements except inside () and [], so long
// calls may span lines; '#' starts a comment that runs to the end of the line.
#ifndef KILN_FRONTEND_LEXER_H_
#define KILN_FRONTEND_LEXER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "support/source_location.h"

namespace kiln::frontend {

enum class TokenKind {
  kIdent,    // fc1, fc1.weight, f32, model
  kNumber,   // 256, 0.5, 1e-3
  kString,   // "path" (text holds the unescaped value)
  kPunct,    // ( ) [ ] { } , : ; = + - * / **
  kNewline,  // End of a statement (only outside () and []).
  kEnd,
};

struct Token {
  TokenKind kind = TokenKind::kEnd;
  std::string text;
  double number = 0.0;
  bool is_int = false;
  SourceLoc loc;
};

// Describes a token for error messages: "'foo'", "end of line", "end of file".
std::string Describe(const Token& token);

absl::StatusOr<std::vector<Token>> Lex(std::shared_ptr<const SourceFile> file);

}  // namespace kiln::frontend

#endif  // KILN_FRONTEND_LEXER_H_
