// Parameter initializers, computed exactly as torch.nn.init does and emitted as the parameter
// node's init attrs: init="uniform" (low, high), "normal" (mean, std) or "constant" (value).
#ifndef KILN_FRONTEND_INITIALIZERS_H_
#define KILN_FRONTEND_INITIALIZERS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "frontend/ast.h"
#include "frontend/value.h"
#include "ir/graph.h"

namespace kiln::frontend {

// fan_in / fan_out of a weight; known == false for tensors of rank < 2.
struct Fans {
  bool known = false;
  int64_t in = 0;
  int64_t out = 0;
};

// Fans of a weight in kiln's layouts: [in, out] for rank 2 (y = x @ W) and PyTorch's
// [out, in, k...] for rank >= 3 (convolutions), where the kernel size multiplies both fans.
Fans FansOf(const ir::Shape& shape);

// `init` is a call such as kaiming_normal(nonlinearity=relu), or a bare name (zeros) meaning the
// call with default arguments. Arguments are constant expressions.
// Names in the arguments (a block parameter, say) go through `resolve`.
absl::StatusOr<ir::Attrs> InitAttrs(const Expr& init, const Fans& fans,
                                    const NameResolver& resolve = nullptr);

// PyTorch's nn.Linear default: kaiming_uniform(a=sqrt(5)), i.e. uniform(+-1/sqrt(fan_in)); also
// its bias initializer.
ir::Attrs UniformFanIn(int64_t fan_in);

// torch.nn.init.constant_: every element `value` (batch norm's weight and bias).
ir::Attrs ConstantInit(double value);

// torch.nn.init.calculate_gain; `param` is leaky_relu's negative slope.
absl::StatusOr<double> Gain(const std::string& nonlinearity, double param);

std::vector<std::string> InitializerNames();

}  // namespace kiln::frontend

#endif  // KILN_FRONTEND_INITIALIZERS_H_
