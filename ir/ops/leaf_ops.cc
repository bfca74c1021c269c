// Leaves (inputs, parameters, optimizer state, constants) and the operand-free generators iota and
// random_uniform, which compute each element from its coordinates.
#include "absl/status/status.h"
#include "ir/op_registry.h"
#include "ir/ops/op_helpers.h"

namespace kiln::ir {
namespace {

absl::StatusOr<TensorType> LeafType(std::span<const TensorType>, const Attrs& attrs) {
  return TypeFromAttrs(attrs);
}

// Linear index of the element from its coordinates, row-major in `shape`.
kernel::Value LinearIndex(kernel::ScalarBuilder& b, std::span<const kernel::Value> coords,
                          const Shape& shape) {
  kernel::Value index = b.ConstI64(0);
  for (size_t d = 0; d < coords.size(); ++d) {
    index = b.IAdd(b.IMul(index, b.ConstI64(shape[d])), coords[d]);
  }
  return index;
}

// SplitMix64's finalizer: a bijective mix whose outputs pass BigCrush; integer-only so every
// backend produces the same bits.
kernel::Value Mix64(kernel::ScalarBuilder& b, kernel::Value z) {
  z = b.IMul(b.IXor(z, b.IShrU(z, 30)), b.ConstI64(static_cast<int64_t>(0xbf58476d1ce4e5b9ULL)));
  z = b.IMul(b.IXor(z, b.IShrU(z, 27)), b.ConstI64(static_cast<int64_t>(0x94d049bb133111ebULL)));
  return b.IXor(z, b.IShrU(z, 31));
}

const OpDef kInput = {
    .name = "input",
    .summary = "A tensor fed by the runtime before each call (batch data, scalars).",
    .num_operands = 0,
    .traits = kLeaf | kNoGradient,
    .infer_type = LeafType,
};

const OpDef kParameter = {
    .name = "parameter",
    .summary = "A trainable tensor; attrs `init` (uniform|normal|constant) and its arguments.",
    .num_operands = 0,
    .traits = kLeaf | kPersistent | kTrainable,
    .infer_type = LeafType,
};

const OpDef kState = {
    .name = "state",
    .summary = "Persistent non-trainable tensor (optimizer moments, step counts); starts at `value`.",
    .num_operands = 0,
    .traits = kLeaf | kPersistent | kNoGradient,
    .infer_type = LeafType,
};

const OpDef kConstant = {
    .name = "constant",
    .summary = "A tensor whose every element is `value`.",
    .num_operands = 0,
    .traits = kLeaf | kElementwise | kNoGradient | kCheap | kGenerator,
    .infer_type = LeafType,
    .emit_element = [](kernel::ScalarBuilder& b, const ElementInputs& in) {
      double v = in.node.attrs.GetFloat("value");
      return in.node.type.dtype == DType::kI64 ? b.ConstI64(static_cast<int64_t>(v))
                                               : b.ConstF32(v);
    },
};

const OpDef kIota = {
    .name = "iota",
    .summary = "Each element is its coordinate along `dim`.",
    .num_operands = 0,
    .traits = kElementwise | kNoGradient | kCheap | kGenerator | kReadsCoordinates,
    .infer_type = [](std::span<const TensorType>, const Attrs& attrs) -> absl::StatusOr<TensorType> {
      auto type = TypeFromAttrs(attrs);
      if (!type.ok()) return type.status();
      auto dim = NormalizeDim(attrs.GetInt("dim"), type->rank());
      if (!dim.ok()) return dim.status();
      return type;
    },
    .emit_element = [](kernel::ScalarBuilder& b, const ElementInputs& in) {
      kernel::Value coord = in.coords[in.node.attrs.GetInt("dim")];
      return in.node.type.dtype == DType::kI64 ? coord : b.Cast(coord, kernel::ScalarType::kF32);
    },
};

// u = hash(key, salt, element index) mapped to [0, 1) with 24 random bits. `salt` separates the
// streams of different ops that share a key; the key changes every step.
const OpDef kRandomUniform = {
    .name = "random_uniform",
    .summary = "Uniform [0,1) noise from a counter-based hash of (key operand, salt, index).",
    .num_operands = 1,
    .traits = kElementwise | kNoGradient | kRandom | kReadsCoordinates,
    .infer_type = [](std::span<const TensorType> operands,
                     const Attrs& attrs) -> absl::StatusOr<TensorType> {
      if (operands[0].dtype != DType::kI64 || operands[0].rank() != 0) {
        return absl::InvalidArgumentError("the random key must be an i64 scalar, got " +
                                          operands[0].ToString());
      }
      auto type = TypeFromAttrs(attrs);  // Checks that the sizes are positive.
      if (!type.ok()) return type.status();
      return TensorType{DType::kF32, type->shape};
    },
    .emit_element = [](kernel::ScalarBuilder& b, const ElementInputs& in) {
      kernel::Value index = LinearIndex(b, in.coords, in.node.type.shape);
      kernel::Value stream = Mix64(
          b, b.IAdd(in.operands[0],
                    // Wrapping multiply, in unsigned arithmetic where wrapping is defined.
                    b.ConstI64(static_cast<int64_t>(
                        0x9e3779b97f4a7c15ULL *
                        (static_cast<uint64_t>(in.node.attrs.GetInt("salt")) + 1)))));
      kernel::Value bits = Mix64(b, b.IXor(stream, index));
      kernel::Value top24 = b.Cast(b.IShrU(bits, 40), kernel::ScalarType::kF32);
      return b.Mul(top24, b.ConstF32(1.0 / 16777216.0));
    },
};

}  // namespace

void RegisterLeafOps(OpRegistry& r) {
  for (const OpDef* def : {&kInput, &kParameter, &kState, &kConstant, &kIota, &kRandomUniform}) {
    r.Add(*def);
  }
}

}  // namespace kiln::ir
