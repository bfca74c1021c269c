#include "aot/predict_input.h"

#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "runtime/csv_reader.h"
#include "runtime/tensor_file.h"
#include "support/file_io.h"
#include "support/status.h"

namespace kiln::aot {
namespace {

enum class InputFormat { kIdx, kTensor, kCsv };

absl::StatusOr<InputFormat> DetectFormat(const std::string& path) {
  KILN_ASSIGN_OR_RETURN(ReadableFile file, ReadableFile::Open(path));
  char head[8] = {};
  KILN_ASSIGN_OR_RETURN(int64_t got, file.Read(head, sizeof(head)));
  const unsigned char* b = reinterpret_cast<const unsigned char*>(head);
  if (got >= 2 && b[0] == 0x1f && b[1] == 0x8b) return InputFormat::kIdx;  // gzip: IDX.gz
  if (got >= 4 && b[0] == 0 && b[1] == 0 && b[2] == 0x08) return InputFormat::kIdx;
  if (got == 8 && std::memcmp(head, runtime::kTensorFileMagic, 8) == 0) {
    return InputFormat::kTensor;
  }
  if (absl::EndsWithIgnoreCase(path, ".csv")) return InputFormat::kCsv;
  return absl::InvalidArgumentError(absl::StrFormat(
      "%s: not an IDX images file, a kiln tensor file or a .csv file", path));
}

absl::StatusOr<runtime::Dataset> ReadTensorInput(const std::string& path) {
  KILN_ASSIGN_OR_RETURN(runtime::HostTensor tensor, runtime::ReadTensorFile(path));
  if (tensor.shape.empty()) {
    return absl::InvalidArgumentError(absl::StrFormat("%s: a scalar, not samples", path));
  }
  runtime::Dataset data;
  data.num_samples = tensor.shape[0];
  data.sample_shape.assign(tensor.shape.begin() + 1, tensor.shape.end());
  data.feature_dim = 1;
  for (int64_t d : data.sample_shape) data.feature_dim *= d;
  if (tensor.type == runtime::ElementType::kF32) {
    data.features = std::move(tensor.f32);
  } else {
    data.features.assign(tensor.i64.begin(), tensor.i64.end());
  }
  data.labels.assign(data.num_samples, 0);
  return data;
}

absl::StatusOr<runtime::Dataset> ReadCsvInput(const std::string& path,
                                              const runtime::DataSpec& spec) {
  if (spec.standardize) {
    return absl::UnimplementedError(absl::StrFormat(
        "%s: this model standardizes its table with statistics of the training split, which "
        "predict does not have; pass a kiln tensor file of standardized features instead",
        path));
  }
  KILN_ASSIGN_OR_RETURN(runtime::CsvTable table, runtime::ReadCsv(path, spec.features, spec.label));
  runtime::Dataset data;
  data.num_samples = table.rows;
  data.feature_dim = static_cast<int64_t>(table.feature_names.size());
  data.sample_shape = {data.feature_dim};
  data.features = std::move(table.features);
  data.labels.assign(data.num_samples, 0);
  return data;
}

}  // namespace

absl::StatusOr<runtime::Dataset> ReadPredictInput(const std::string& path,
                                                  const runtime::DataSpec& spec,
                                                  int64_t feature_dim) {
  KILN_ASSIGN_OR_RETURN(InputFormat format, DetectFormat(path));
  runtime::Dataset data;
  switch (format) {
    case InputFormat::kIdx: {
      KILN_ASSIGN_OR_RETURN(data, runtime::LoadIdxImages(path, spec));
      break;
    }
    case InputFormat::kTensor: {
      KILN_ASSIGN_OR_RETURN(data, ReadTensorInput(path));
      break;
    }
    case InputFormat::kCsv: {
      KILN_ASSIGN_OR_RETURN(data, ReadCsvInput(path, spec));
      break;
    }
  }
  if (data.num_samples > 0 && data.feature_dim != feature_dim) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: samples of %d values, the model takes %d", path, data.feature_dim, feature_dim));
  }
  return data;
}

}  // namespace kiln::aot
