// The syntax tree of a .kiln model file: a model body, reusable blocks and a train section.
// Every node carries the SourceLoc of its first token so lowering can point errors at it.
#ifndef KILN_FRONTEND_AST_H_
#define KILN_FRONTEND_AST_H_

#include <memory>
#include <string>
#include <vector>

#include "support/source_location.h"

namespace kiln::frontend {

struct Arg;

struct Expr {
  enum class Kind {
    kNumber,  // 256, 0.5, 3e-3
    kString,  // "data/fashion"
    kName,    // x, fc1.weight, true
    kCall,    // relu(x), linear(x, 256, name=fc1)
    kUnary,   // -x
    kBinary,  // a + b, a ** 2
    kTuple,   // (0.5, 0.5)
    kList,    // [loss, accuracy]
  };
  Kind kind = Kind::kNumber;
  SourceLoc loc;              // For calls the callee; for operators the operator token.
  double number = 0.0;        // kNumber.
  bool is_int = false;        // kNumber written without '.' or exponent.
  std::string text;           // kString value, kName / kCall name, operator ("+", "**", ...).
  std::vector<Expr> operands; // kUnary / kBinary operands, kTuple / kList items.
  std::vector<Arg> args;      // kCall arguments in source order.
  int height = 1;             // Levels in this subtree, 1 for a leaf; the parser bounds it.
};

// One call argument; `keyword` is empty for a positional argument.
struct Arg {
  std::string keyword;
  SourceLoc keyword_loc;
  Expr value;
};

// `f32[B, 784]`: a dtype and one expression per dim (integers or named dims).
struct TypeAst {
  std::string dtype;
  SourceLoc dtype_loc;
  std::vector<Expr> dims;
};

struct Stmt {
  enum class Kind {
    kInput,   // input x: f32[B, 784]
    kParam,   // param w: f32[784, 10] = normal(0, 0.01)
    kAssign,  // h = relu(x)
    kReturn,  // return h            (blocks only)
  };
  Kind kind = Kind::kAssign;
  SourceLoc loc;    // The statement's first token.
  std::string name; // Bound name (input, param, assign).
  SourceLoc name_loc;
  TypeAst type;     // input, param.
  Expr value;       // param initializer (kName "" if none), assigned or returned expression.
  bool has_value = false;
};

// A model body or a reusable block: `block name(params) { ... return expr }`.
struct BlockAst {
  std::string name;
  SourceLoc loc;  // The name.
  std::vector<std::string> params;
  std::vector<SourceLoc> param_locs;
  std::vector<Stmt> body;
};

// `key = value` in the train section.
struct TrainEntry {
  std::string key;
  SourceLoc key_loc;
  Expr value;
};

struct ModelAst {
  std::shared_ptr<const SourceFile> file;
  BlockAst model;  // Its params are empty; its body has the inputs.
  std::vector<BlockAst> blocks;
  bool has_train = false;
  SourceLoc train_loc;
  std::vector<TrainEntry> train;
};

}  // namespace kiln::frontend

#endif  // KILN_FRONTEND_AST_H_
