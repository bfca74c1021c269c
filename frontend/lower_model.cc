// Lowers a parsed model to an ir::Graph: evaluates the model body statement by statement,
// instantiating blocks with prefixed parameter names and building one IR node per op call.
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "frontend/builtins.h"
#include "frontend/frontend.h"
#include "frontend/initializers.h"
#include "frontend/value.h"
#include "ir/graph_builder.h"
#include "ir/op_registry.h"
#include "support/status.h"

namespace kiln::frontend {
namespace {

constexpr int kMaxBlockDepth = 64;
// Each statement's expression is at most 500 levels (the parser's limit), but block calls nest
// them: lowering bounds its own recursion so that 64 nested blocks cannot exhaust the stack.
constexpr int kMaxEvalDepth = 2000;

// Names visible in one model or block instance.
struct Scope {
  std::string prefix;  // "" for the model, "l1." inside `l1 = block(...)`.
  std::map<std::string, Value> names;
  std::map<std::string, int> generated;  // Per callee: the last number used in "linear3".
  std::set<std::string> instances;       // Layer and block instance names taken.
};

class ModelLowering {
 public:
  ModelLowering(const ModelAst& ast, const std::map<std::string, int64_t>& dims)
      : ast_(ast), dims_(dims), builder_(graph_) {}

  absl::StatusOr<ir::Graph> Run() {
    graph_.name = ast_.model.name;
    KILN_RETURN_IF_ERROR(CollectBlocks());
    Scope scope;
    for (const Stmt& stmt : ast_.model.body) KILN_RETURN_IF_ERROR(LowerStmt(stmt, scope));
    KILN_ASSIGN_OR_RETURN(ir::NodeId loss, CheckLoss(scope));
    graph_.outputs.push_back({"loss", loss});
    return std::move(graph_);
  }

 private:
  absl::Status CollectBlocks() {
    for (const BlockAst& block : ast_.blocks) {
      if (blocks_.count(block.name)) {
        return ErrorAt(block.loc, absl::StrCat("block '", block.name, "' is defined twice (first at ",
                                               blocks_[block.name]->loc.ToString(), ")"));
      }
      if (FindLayer(block.name) || FindOpBuiltin(block.name) ||
          ir::OpRegistry::Global().Find(block.name)) {
        return ErrorAt(block.loc, absl::StrCat("block '", block.name,
                                               "' has the name of a builtin; rename it"));
      }
      blocks_[block.name] = &block;
    }
    return absl::OkStatus();
  }

  absl::StatusOr<ir::NodeId> CheckLoss(Scope& scope) {
    auto it = scope.names.find("loss");
    if (it == scope.names.end()) {
      return ErrorAt(ast_.model.loc, absl::StrCat("model '", ast_.model.name,
                                                  "' must bind 'loss' (e.g. loss = nll_loss(logp, y))"));
    }
    SourceLoc loc = ast_.model.loc;
    for (const Stmt& stmt : ast_.model.body) {
      if (stmt.kind == Stmt::Kind::kAssign && stmt.name == "loss") loc = stmt.name_loc;
    }
    const Value& loss = it->second;
    if (loss.kind != Value::Kind::kTensor) {
      return ErrorAt(loc, absl::StrCat("loss must be a tensor, got ", KindName(loss)));
    }
    const ir::TensorType& type = builder_.type(loss.node);
    if (type.rank() != 0 || type.dtype != ir::DType::kF32) {
      return ErrorAt(loc, absl::StrCat("loss must be an f32 scalar, got ", type.ToString()));
    }
    return loss.node;
  }

  absl::Status LowerStmt(const Stmt& stmt, Scope& scope, Value* returned = nullptr) {
    switch (stmt.kind) {
      case Stmt::Kind::kInput: {
        KILN_ASSIGN_OR_RETURN(ir::TensorType type, EvalType(stmt.type, scope));
        builder_.set_loc(stmt.name_loc);
        ir::NodeId node = builder_.Input(stmt.name, type);
        KILN_RETURN_IF_ERROR(builder_.status());
        node_names_.insert(stmt.name);
        scope.names[stmt.name] = Value::Tensor(node);
        return absl::OkStatus();
      }
      case Stmt::Kind::kParam: {
        KILN_ASSIGN_OR_RETURN(ir::TensorType type, EvalType(stmt.type, scope));
        KILN_ASSIGN_OR_RETURN(ir::Attrs init,
                              InitAttrs(stmt.value, FansOf(type.shape), Resolver(scope)));
        KILN_ASSIGN_OR_RETURN(ir::NodeId node, MakeParameter(scope.prefix + stmt.name, type,
                                                             init, stmt.name_loc));
        scope.names[stmt.name] = Value::Tensor(node);
        return absl::OkStatus();
      }
      case Stmt::Kind::kAssign: {
        KILN_ASSIGN_OR_RETURN(Value value, Eval(stmt.value, scope, stmt.name));
        if (value.kind == Value::Kind::kTensor && graph_.node(value.node).name.empty()) {
          graph_.mutable_node(value.node).name = UniqueNodeName(scope.prefix + stmt.name);
        }
        scope.names[stmt.name] = std::move(value);
        return absl::OkStatus();
      }
      case Stmt::Kind::kReturn: {
        KILN_ASSIGN_OR_RETURN(Value value, Eval(stmt.value, scope, ""));
        if (returned != nullptr) *returned = std::move(value);
        return absl::OkStatus();
      }
    }
    return absl::OkStatus();
  }

  absl::StatusOr<ir::TensorType> EvalType(const TypeAst& ast, Scope& scope) {
    ir::TensorType type;
    auto dtype = ir::ParseDType(ast.dtype);
    if (!dtype.ok()) {
      return ErrorAt(ast.dtype_loc, absl::StrCat("unknown dtype '", ast.dtype, "'",
                                                 DidYouMean(ast.dtype, {"f32", "i64"})));
    }
    type.dtype = *dtype;
    for (const Expr& dim : ast.dims) {
      KILN_ASSIGN_OR_RETURN(Value v, EvalConstant(dim, Resolver(scope)));
      std::optional<int64_t> size =
          v.kind == Value::Kind::kNumber && v.is_int ? ExactInteger(v.number) : std::nullopt;
      if (!size.has_value() || *size <= 0) {
        return ErrorAt(dim.loc, absl::StrCat("a dimension must be a positive integer, got ",
                                             v.kind == Value::Kind::kNumber
                                                 ? absl::StrCat(v.number)
                                                 : KindName(v)));
      }
      type.shape.push_back(*size);
    }
    return type;
  }

  // Names in constant contexts (shapes, initializer arguments): block arguments and named dims.
  NameResolver Resolver(Scope& scope) {
    return [this, &scope](const Expr& name) { return LookUp(name, scope); };
  }

  absl::StatusOr<Value> LookUp(const Expr& name, Scope& scope) {
    if (name.text == "true" || name.text == "false") return Value::Bool(name.text == "true");
    if (auto it = scope.names.find(name.text); it != scope.names.end()) return it->second;
    if (auto it = dims_.find(name.text); it != dims_.end()) return Value::Number(it->second, true);
    std::vector<std::string> candidates;
    for (const auto& [n, v] : scope.names) candidates.push_back(n);
    for (const auto& [n, v] : dims_) candidates.push_back(n);
    if (IsDimName(name.text)) {
      return ErrorAt(name.loc, absl::StrCat("dimension '", name.text,
                                            "' has no value; bind it when compiling (e.g. ",
                                            name.text, "=64)"));
    }
    return ErrorAt(name.loc, absl::StrCat("undefined name '", name.text, "'",
                                          DidYouMean(name.text, candidates)));
  }

  // Whether `name` appears as a dimension of some input: then it is a named dim left unbound.
  bool IsDimName(const std::string& name) const {
    for (const Stmt& stmt : ast_.model.body) {
      for (const Expr& dim : stmt.type.dims) {
        if (dim.kind == Expr::Kind::kName && dim.text == name) return true;
      }
    }
    return false;
  }

  // `bind_name` is the name an assignment gives this expression; it names the node made for the
  // outermost call or operator, and the instance of a layer or block called there.
  absl::StatusOr<Value> Eval(const Expr& expr, Scope& scope, const std::string& bind_name) {
    if (eval_depth_ >= kMaxEvalDepth) {
      return ErrorAt(expr.loc, "expressions nested too deeply through block calls");
    }
    ++eval_depth_;
    absl::StatusOr<Value> value = EvalNested(expr, scope, bind_name);
    --eval_depth_;
    return value;
  }

  absl::StatusOr<Value> EvalNested(const Expr& expr, Scope& scope, const std::string& bind_name) {
    switch (expr.kind) {
      case Expr::Kind::kNumber: return Value::Number(expr.number, expr.is_int);
      case Expr::Kind::kString: return Value::String(expr.text);
      case Expr::Kind::kName: return LookUp(expr, scope);
      case Expr::Kind::kTuple:
      case Expr::Kind::kList: {
        Value tuple;
        tuple.kind = Value::Kind::kTuple;
        for (const Expr& item : expr.operands) {
          KILN_ASSIGN_OR_RETURN(Value v, Eval(item, scope, ""));
          tuple.items.push_back(std::move(v));
        }
        return tuple;
      }
      case Expr::Kind::kUnary:
      case Expr::Kind::kBinary: return EvalOperator(expr, scope, bind_name);
      case Expr::Kind::kCall: return EvalCall(expr, scope, bind_name);
    }
    return ErrorAt(expr.loc, "unsupported expression");
  }

  absl::StatusOr<Value> EvalOperator(const Expr& expr, Scope& scope, const std::string& bind_name) {
    std::vector<Value> operands;
    bool any_tensor = false;
    for (const Expr& operand : expr.operands) {
      KILN_ASSIGN_OR_RETURN(Value v, Eval(operand, scope, ""));
      if (v.kind != Value::Kind::kTensor && v.kind != Value::Kind::kNumber) {
        return ErrorAt(operand.loc, absl::StrCat("operator '", expr.text,
                                                 "' needs tensors or numbers, got ", KindName(v)));
      }
      any_tensor = any_tensor || v.kind == Value::Kind::kTensor;
      operands.push_back(std::move(v));
    }
    if (!any_tensor) {
      if (expr.kind == Expr::Kind::kUnary) {
        return Value::Number(-operands[0].number, operands[0].is_int);
      }
      return FoldNumbers(expr, operands[0], operands[1]);
    }
    static const std::map<std::string, std::string> kBinaryOps = {
        {"+", "add"}, {"-", "sub"}, {"*", "mul"}, {"/", "div"}, {"**", "pow"}};
    std::string op = expr.kind == Expr::Kind::kUnary ? "neg" : kBinaryOps.at(expr.text);
    std::vector<ir::NodeId> nodes = ToOperands(operands, expr.loc);
    return Build(op, nodes, {}, expr.loc, scope, bind_name);
  }

  // Tensors as they are; numbers as scalar constants of the first tensor's dtype.
  std::vector<ir::NodeId> ToOperands(const std::vector<Value>& values, const SourceLoc& loc) {
    ir::DType dtype = ir::DType::kF32;
    for (const Value& v : values) {
      if (v.kind == Value::Kind::kTensor) {
        dtype = builder_.type(v.node).dtype;
        break;
      }
    }
    std::vector<ir::NodeId> nodes;
    builder_.set_loc(loc);
    for (const Value& v : values) {
      nodes.push_back(v.kind == Value::Kind::kTensor
                          ? v.node
                          : builder_.Constant(v.number, ir::TensorType{dtype, {}}));
    }
    return nodes;
  }

  absl::StatusOr<Value> Build(const std::string& op, const std::vector<ir::NodeId>& operands,
                              ir::Attrs attrs, const SourceLoc& loc, Scope& scope,
                              const std::string& bind_name) {
    builder_.set_loc(loc);
    std::string name = bind_name.empty() ? "" : UniqueNodeName(scope.prefix + bind_name);
    ir::NodeId node = builder_.Op(op, operands, std::move(attrs), name);
    KILN_RETURN_IF_ERROR(builder_.status());
    return Value::Tensor(node);
  }

  absl::StatusOr<Value> EvalCall(const Expr& call, Scope& scope, const std::string& bind_name) {
    if (auto it = blocks_.find(call.text); it != blocks_.end()) {
      return CallBlock(*it->second, call, scope, bind_name);
    }
    if (call.text == "linear" && IsFunctionalLinear(call, scope)) {
      return CallOp(kFunctionalLinear, call, scope, bind_name);
    }
    if (const LayerDef* layer = FindLayer(call.text)) {
      return CallLayer(*layer, call, scope, bind_name);
    }
    if (const OpBuiltin* op = FindOpBuiltin(call.text)) {
      return CallOp(*op, call, scope, bind_name);
    }
    const ir::OpDef* def = ir::OpRegistry::Global().Find(call.text);
    if (def != nullptr && !def->Has(ir::kLeaf)) return CallRegistryOp(*def, call, scope, bind_name);
    if (IsConstantFunction(call.text)) return EvalConstant(call, Resolver(scope));
    return ErrorAt(call.loc, absl::StrCat("unknown function '", call.text, "'",
                                          DidYouMean(call.text, CallableNames())));
  }

  std::vector<std::string> CallableNames() const {
    std::vector<std::string> names;
    for (const auto& [name, block] : blocks_) names.push_back(name);
    for (const LayerDef& layer : Layers()) names.push_back(layer.signature.callee);
    for (const OpBuiltin& op : OpBuiltins()) names.push_back(op.name);
    for (const std::string& name : ir::OpRegistry::Global().Names()) {
      const ir::OpDef* def = ir::OpRegistry::Global().Find(name);
      if (!def->Has(ir::kLeaf) && !FindOpBuiltin(name)) names.push_back(name);
    }
    return names;
  }

  // linear(x, weight[, bias]) with existing tensors is F.linear; linear(x, 256) is nn.Linear.
  // The second argument decides; it is looked up, not evaluated, so nothing is built twice.
  bool IsFunctionalLinear(const Expr& call, Scope& scope) {
    for (const Arg& arg : call.args) {
      if (arg.keyword == "weight") return true;
    }
    if (call.args.size() < 2 || !call.args[1].keyword.empty()) return false;
    const Expr& second = call.args[1].value;
    if (second.kind != Expr::Kind::kName) return false;
    auto it = scope.names.find(second.text);
    return it != scope.names.end() && it->second.kind == Value::Kind::kTensor;
  }

  absl::StatusOr<Value> CallOp(const OpBuiltin& op, const Expr& call, Scope& scope,
                               const std::string& bind_name) {
    KILN_ASSIGN_OR_RETURN(Args args, Args::Bind(SignatureOf(op), call, Evaluator(scope)));
    std::vector<Value> operand_values;
    ir::Attrs attrs;
    for (const OpParam& p : op.params) {
      KILN_RETURN_IF_ERROR(ReadOpParam(p, args, operand_values, attrs));
    }
    // sqrt(2) and friends fold to numbers.
    if (IsConstantFunction(op.name) && operand_values[0].kind == Value::Kind::kNumber) {
      return FoldFunction(call, operand_values[0]);
    }
    std::vector<ir::NodeId> operands = ToOperands(operand_values, call.loc);
    if (op.complete) {
      std::vector<ir::TensorType> types;
      for (ir::NodeId id : operands) types.push_back(builder_.type(id));
      absl::Status s = op.complete(types, attrs);
      if (!s.ok()) return ErrorAt(call.loc, absl::StrCat(op.name, ": ", s.message()));
    }
    return Build(op.op(), operands, std::move(attrs), call.loc, scope, bind_name);
  }

  absl::Status ReadOpParam(const OpParam& p, const Args& args, std::vector<Value>& operands,
                           ir::Attrs& attrs) {
    bool tensor_kind = p.kind == ArgKind::kTensor || p.kind == ArgKind::kOptionalTensor ||
                       p.kind == ArgKind::kOperand;
    if (!args.Has(p.name)) {
      if (!tensor_kind && p.fallback.has_value()) attrs.Set(p.name, *p.fallback);
      return absl::OkStatus();
    }
    switch (p.kind) {
      case ArgKind::kTensor:
      case ArgKind::kOptionalTensor: {
        KILN_ASSIGN_OR_RETURN(ir::NodeId node, args.Tensor(p.name));
        operands.push_back(Value::Tensor(node));
        return absl::OkStatus();
      }
      case ArgKind::kOperand: {
        KILN_ASSIGN_OR_RETURN(Value v, args.Get(p.name));
        if (v.kind != Value::Kind::kTensor && v.kind != Value::Kind::kNumber) {
          return ErrorAt(args.Raw(p.name)->loc, absl::StrCat(args.callee(), ": '", p.name,
                                                             "' must be a tensor or a number, got ",
                                                             KindName(v)));
        }
        operands.push_back(std::move(v));
        return absl::OkStatus();
      }
      case ArgKind::kInt: {
        KILN_ASSIGN_OR_RETURN(int64_t v, args.Int(p.name, 0));
        attrs.Set(p.name, v);
        return absl::OkStatus();
      }
      case ArgKind::kNumber: {
        KILN_ASSIGN_OR_RETURN(double v, args.Number(p.name, 0.0));
        attrs.Set(p.name, v);
        return absl::OkStatus();
      }
      case ArgKind::kBool: {
        KILN_ASSIGN_OR_RETURN(bool v, args.Bool(p.name, false));
        attrs.Set(p.name, int64_t{v});
        return absl::OkStatus();
      }
      case ArgKind::kWord: {
        KILN_ASSIGN_OR_RETURN(std::string v, args.Word(p.name, ""));
        attrs.Set(p.name, v);
        return absl::OkStatus();
      }
      case ArgKind::kInts: {
        KILN_ASSIGN_OR_RETURN(std::vector<int64_t> v, args.Ints(p.name));
        attrs.Set(p.name, v);
        return absl::OkStatus();
      }
    }
    return absl::OkStatus();
  }

  // Ops registered in the IR but without a table entry: positional arguments are operands and
  // keyword arguments attrs, so a newly registered op is callable at once.
  absl::StatusOr<Value> CallRegistryOp(const ir::OpDef& def, const Expr& call, Scope& scope,
                                       const std::string& bind_name) {
    std::vector<Value> operand_values;
    ir::Attrs attrs;
    for (const Arg& arg : call.args) {
      KILN_ASSIGN_OR_RETURN(Value v, Eval(arg.value, scope, ""));
      if (arg.keyword.empty()) {
        if (v.kind != Value::Kind::kTensor && v.kind != Value::Kind::kNumber) {
          return ErrorAt(arg.value.loc, absl::StrCat(def.name, ": expected a tensor, got ",
                                                     KindName(v)));
        }
        operand_values.push_back(std::move(v));
        continue;
      }
      KILN_ASSIGN_OR_RETURN(ir::AttrValue attr, ToAttr(v, arg));
      attrs.Set(arg.keyword, std::move(attr));
    }
    std::vector<ir::NodeId> operands = ToOperands(operand_values, call.loc);
    return Build(def.name, operands, std::move(attrs), call.loc, scope, bind_name);
  }

  static absl::StatusOr<ir::AttrValue> ToAttr(const Value& v, const Arg& arg) {
    switch (v.kind) {
      case Value::Kind::kNumber:
        if (v.is_int) {
          if (std::optional<int64_t> integer = ExactInteger(v.number)) return ir::AttrValue(*integer);
          break;
        }
        return ir::AttrValue(v.number);
      case Value::Kind::kBool: return ir::AttrValue(int64_t{v.boolean});
      case Value::Kind::kString: return ir::AttrValue(v.text);
      case Value::Kind::kTuple: {
        std::vector<int64_t> ints;
        for (const Value& item : v.items) {
          std::optional<int64_t> integer =
              item.kind == Value::Kind::kNumber && item.is_int ? ExactInteger(item.number)
                                                               : std::nullopt;
          if (!integer.has_value()) break;
          ints.push_back(*integer);
        }
        if (ints.size() == v.items.size()) return ir::AttrValue(ints);
        break;
      }
      case Value::Kind::kTensor: break;
    }
    return ErrorAt(arg.value.loc, absl::StrCat("'", arg.keyword, "' cannot be ", KindName(v)));
  }

  Args::Evaluator Evaluator(Scope& scope) {
    return [this, &scope](const Expr& e) { return Eval(e, scope, ""); };
  }

  // The instance name of a layer or block call: name=..., else the assigned name, else
  // "<callee><n>" with the first n not taken in this scope.
  absl::StatusOr<std::string> InstanceName(const Args& args, Scope& scope,
                                           const std::string& bind_name) {
    KILN_ASSIGN_OR_RETURN(std::string name, args.Word("name", bind_name));
    if (name.empty()) {
      int& n = scope.generated[args.callee()];
      do {
        name = absl::StrCat(args.callee(), ++n);
      } while (scope.instances.count(name));
    }
    scope.instances.insert(name);
    return scope.prefix + name;
  }

  static Signature WithName(Signature sig) {
    sig.params.push_back({"name"});
    return sig;
  }

  absl::StatusOr<Value> CallLayer(const LayerDef& layer, const Expr& call, Scope& scope,
                                  const std::string& bind_name) {
    KILN_ASSIGN_OR_RETURN(Args args,
                          Args::Bind(WithName(layer.signature), call, Evaluator(scope)));
    // The input (every layer's first argument) is built first, so layers nested in it take the
    // lower generated numbers: linear(linear(x, 20), 10) is linear2(linear1(x)).
    KILN_RETURN_IF_ERROR(args.Get(layer.signature.params[0].name).status());
    KILN_ASSIGN_OR_RETURN(std::string name, InstanceName(args, scope, bind_name));
    LayerCall lc{builder_, args, UniqueNodeName(name), call.loc, nullptr, nullptr,
                 Resolver(scope)};
    lc.make_param = [&](const std::string& suffix, const ir::TensorType& type, ir::Attrs init) {
      return MakeParameter(absl::StrCat(name, ".", suffix), type, std::move(init), call.loc);
    };
    lc.make_state = [&](const std::string& suffix, const ir::TensorType& type, double value) {
      return MakeState(absl::StrCat(name, ".", suffix), type, value, call.loc);
    };
    KILN_ASSIGN_OR_RETURN(ir::NodeId node, layer.lower(lc));
    KILN_RETURN_IF_ERROR(builder_.status());
    return Value::Tensor(node);
  }

  absl::StatusOr<Value> CallBlock(const BlockAst& block, const Expr& call, Scope& scope,
                                  const std::string& bind_name) {
    Signature sig{block.name, {}};
    for (const std::string& param : block.params) sig.params.push_back({param, true});
    KILN_ASSIGN_OR_RETURN(Args args, Args::Bind(WithName(sig), call, Evaluator(scope)));
    for (const std::string& active : call_stack_) {
      if (active == block.name) {
        return ErrorAt(call.loc, absl::StrCat("block '", block.name,
                                              "' calls itself; recursion is not supported"));
      }
    }
    if (call_stack_.size() >= kMaxBlockDepth) {
      return ErrorAt(call.loc, "blocks nested too deeply");
    }
    Scope inner;
    for (const std::string& param : block.params) {
      KILN_ASSIGN_OR_RETURN(inner.names[param], args.Get(param));
    }
    KILN_ASSIGN_OR_RETURN(std::string name, InstanceName(args, scope, bind_name));
    inner.prefix = name + ".";
    call_stack_.push_back(block.name);
    Value returned;
    for (const Stmt& stmt : block.body) KILN_RETURN_IF_ERROR(LowerStmt(stmt, inner, &returned));
    call_stack_.pop_back();
    return returned;
  }

  absl::StatusOr<ir::NodeId> MakeParameter(const std::string& name, const ir::TensorType& type,
                                           ir::Attrs init, const SourceLoc& loc) {
    if (auto it = params_.find(name); it != params_.end()) {
      return ErrorAt(loc, absl::StrCat("parameter '", name, "' already exists (created at ",
                                       it->second.ToString(), "); give this layer another name "
                                       "with name=..."));
    }
    params_[name] = loc;
    node_names_.insert(name);
    builder_.set_loc(loc);
    ir::NodeId node = builder_.Parameter(name, type, std::move(init));
    KILN_RETURN_IF_ERROR(builder_.status());
    return node;
  }

  // Persistent non-trainable tensors share the parameters' namespace: both are checkpointed by
  // name.
  absl::StatusOr<ir::NodeId> MakeState(const std::string& name, const ir::TensorType& type,
                                       double initial_value, const SourceLoc& loc) {
    if (auto it = params_.find(name); it != params_.end()) {
      return ErrorAt(loc, absl::StrCat("tensor '", name, "' already exists (created at ",
                                       it->second.ToString(), "); give this layer another name "
                                       "with name=..."));
    }
    params_[name] = loc;
    node_names_.insert(name);
    builder_.set_loc(loc);
    ir::NodeId node = builder_.State(name, type, initial_value);
    KILN_RETURN_IF_ERROR(builder_.status());
    return node;
  }

  // Node names stay unique so Graph::FindByName is unambiguous: a rebound `h` becomes "h_2".
  // The next suffix to try is kept per base name, so rebinding `h` n times costs O(n log n), not
  // O(n^2) probes.
  std::string UniqueNodeName(const std::string& base) {
    std::string name = base;
    int& next = next_suffix_[base];
    if (next == 0) next = 2;
    while (node_names_.count(name) || params_.count(name)) name = absl::StrCat(base, "_", next++);
    node_names_.insert(name);
    return name;
  }

  static const OpBuiltin kFunctionalLinear;

  const ModelAst& ast_;
  const std::map<std::string, int64_t>& dims_;
  ir::Graph graph_;
  ir::GraphBuilder builder_;
  std::map<std::string, const BlockAst*> blocks_;
  std::map<std::string, SourceLoc> params_;  // Parameter name -> where it was created.
  std::set<std::string> node_names_;
  std::map<std::string, int> next_suffix_;   // Per base name: the next "_<n>" to try.
  std::vector<std::string> call_stack_;      // Blocks being instantiated, outermost first.
  int eval_depth_ = 0;                       // Active Eval calls.
};

// F.linear(input, weight, bias=None).
const OpBuiltin ModelLowering::kFunctionalLinear = {
    "linear",
    {{"input", ArgKind::kTensor}, {"weight", ArgKind::kTensor}, {"bias", ArgKind::kOptionalTensor}}};

}  // namespace

absl::StatusOr<ir::Graph> LowerModel(const ModelAst& ast,
                                     const std::map<std::string, int64_t>& dims) {
  return ModelLowering(ast, dims).Run();
}

}  // namespace kiln::frontend
