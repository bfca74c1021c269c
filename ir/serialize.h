// Compiled-model files: the IR graph and its training configuration, stored as the
// kiln.proto.CompiledModel message (ir/proto/kiln/graph.proto) behind a small header.
//
//   KILN_RETURN_IF_ERROR(SaveModel(graph, config, "mlp.kilnm"));
//   KILN_ASSIGN_OR_RETURN(auto model, LoadModel("mlp.kilnm"));  // verified
//
// File layout: the 8 bytes "KILNMODL", the payload size (u64, little-endian), the payload's
// CRC-32 (u32, little-endian), then the serialized CompiledModel. A protobuf payload alone cannot
// tell a file truncated at a field boundary from a shorter valid one; the size and checksum can.
//
// Source locations keep the model file's path, line and column; a loaded location's SourceFile has
// the path and empty text (the model file may have moved or changed since).
#ifndef KILN_IR_SERIALIZE_H_
#define KILN_IR_SERIALIZE_H_

#include <cstdint>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "ir/graph.h"
#include "ir/train_config.h"
#include "kiln/graph.pb.h"

namespace kiln::ir {

// CompiledModel.version written by SaveModel and the only one LoadModel accepts.
constexpr uint32_t kModelFormatVersion = 1;

// Writes atomically: a temporary file beside `path`, fsync, then rename over `path`.
absl::Status SaveModel(const Graph& graph, const TrainConfig& config, const std::string& path);

// A missing, corrupt, truncated or invalid file gives a one-line error starting with `path`.
absl::StatusOr<std::pair<Graph, TrainConfig>> LoadModel(const std::string& path);

// The bytes of a model file holding `model` (header, size, checksum, payload), and back. Decode
// checks the header, size, checksum and version; its errors are one line.
std::string EncodeModelFile(const proto::CompiledModel& model);
absl::StatusOr<proto::CompiledModel> DecodeModelFile(const std::string& bytes);

// Message conversions. The *FromProto functions check what they need to build the C++ objects
// without crashing (known dtypes, set attribute values, operands that precede their users);
// the remaining graph rules are VerifyGraph's.
proto::Graph GraphToProto(const Graph& graph);
absl::StatusOr<Graph> GraphFromProto(const proto::Graph& message);
proto::TrainConfig TrainConfigToProto(const TrainConfig& config);
absl::StatusOr<TrainConfig> TrainConfigFromProto(const proto::TrainConfig& message);

}  // namespace kiln::ir

#endif  // KILN_IR_SERIALIZE_H_
