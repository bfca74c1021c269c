#include "interop/onnx/onnx_tensor.h"

#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"

namespace kiln::interop {
namespace {

// Larger than any weight kiln trains, small enough that a declared size never overflows.
constexpr int64_t kMaxElements = int64_t{1} << 31;

absl::Status Bad(const onnx::TensorProto& tensor, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat("tensor '", tensor.name(), "': ", what));
}

template <typename Out, typename In>
void AppendAs(const In* values, int64_t n, std::string& bytes) {
  for (int64_t i = 0; i < n; ++i) {
    Out v = static_cast<Out>(values[i]);
    bytes.append(reinterpret_cast<const char*>(&v), sizeof(v));
  }
}

}  // namespace

int64_t ElementCount(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

absl::StatusOr<runtime::CheckpointTensor> TensorFromOnnx(const onnx::TensorProto& tensor) {
  if (tensor.data_location() == onnx::TensorProto::EXTERNAL) {
    return Bad(tensor, "external data is not supported (save the model with its weights inside)");
  }
  runtime::CheckpointTensor out;
  out.name = tensor.name();
  int64_t count = 1;
  for (int64_t d : tensor.dims()) {
    if (d < 0 || (d > 0 && count > kMaxElements / d)) {
      return Bad(tensor, absl::StrCat("dims are negative or too large (", d, ")"));
    }
    count *= d;
    out.shape.push_back(d);
  }
  const int type = tensor.data_type();
  const bool is_float = type == onnx::TensorProto::FLOAT || type == onnx::TensorProto::DOUBLE;
  const bool is_int = type == onnx::TensorProto::INT64 || type == onnx::TensorProto::INT32;
  if (!is_float && !is_int) {
    return Bad(tensor, absl::StrCat("element type ",
                                    onnx::TensorProto::DataType_Name(
                                        static_cast<onnx::TensorProto::DataType>(type)),
                                    " is not supported (kiln has f32 and i64)"));
  }
  out.type = is_float ? runtime::ElementType::kF32 : runtime::ElementType::kI64;
  const size_t source_size =
      type == onnx::TensorProto::FLOAT || type == onnx::TensorProto::INT32 ? 4 : 8;
  std::string& bytes = out.bytes;
  if (tensor.has_raw_data()) {
    const std::string& raw = tensor.raw_data();
    if (raw.size() != static_cast<size_t>(count) * source_size) {
      return Bad(tensor, absl::StrCat("raw_data holds ", raw.size(), " bytes, the dims need ",
                                      count * static_cast<int64_t>(source_size)));
    }
    if (type == onnx::TensorProto::FLOAT || type == onnx::TensorProto::INT64) {
      bytes = raw;
      return out;
    }
    if (type == onnx::TensorProto::DOUBLE) {
      std::vector<double> v(count);
      std::memcpy(v.data(), raw.data(), raw.size());
      AppendAs<float>(v.data(), count, bytes);
    } else {
      std::vector<int32_t> v(count);
      std::memcpy(v.data(), raw.data(), raw.size());
      AppendAs<int64_t>(v.data(), count, bytes);
    }
    return out;
  }
  int64_t held = 0;
  switch (type) {
    case onnx::TensorProto::FLOAT:
      held = tensor.float_data_size();
      break;
    case onnx::TensorProto::DOUBLE:
      held = tensor.double_data_size();
      break;
    case onnx::TensorProto::INT64:
      held = tensor.int64_data_size();
      break;
    default:
      held = tensor.int32_data_size();
      break;
  }
  if (held != count) {
    return Bad(tensor, absl::StrCat("holds ", held, " values, the dims need ", count));
  }
  switch (type) {
    case onnx::TensorProto::FLOAT:
      AppendAs<float>(tensor.float_data().data(), count, bytes);
      break;
    case onnx::TensorProto::DOUBLE:
      AppendAs<float>(tensor.double_data().data(), count, bytes);
      break;
    case onnx::TensorProto::INT64:
      AppendAs<int64_t>(tensor.int64_data().data(), count, bytes);
      break;
    default:
      AppendAs<int64_t>(tensor.int32_data().data(), count, bytes);
      break;
  }
  return out;
}

std::vector<double> TensorValues(const runtime::CheckpointTensor& tensor) {
  std::vector<double> values;
  const bool f32 = tensor.type == runtime::ElementType::kF32;
  const size_t size = f32 ? 4 : 8;
  for (size_t pos = 0; pos + size <= tensor.bytes.size(); pos += size) {
    if (f32) {
      float v;
      std::memcpy(&v, tensor.bytes.data() + pos, 4);
      values.push_back(v);
    } else {
      int64_t v;
      std::memcpy(&v, tensor.bytes.data() + pos, 8);
      values.push_back(static_cast<double>(v));
    }
  }
  return values;
}

}  // namespace kiln::interop
