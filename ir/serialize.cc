#include "ir/serialize.h"

#include <zlib.h>

#include <cstring>
#include <map>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "ir/verifier.h"
#include "support/file_io.h"
#include "support/status.h"

namespace kiln::ir {
namespace {

constexpr char kMagic[8] = {'K', 'I', 'L', 'N', 'M', 'O', 'D', 'L'};
constexpr size_t kHeaderSize = sizeof(kMagic) + 8 + 4;

// --- Types and attributes ------------------------------------------------------------------

proto::DType DTypeToProto(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return proto::F32;
    case DType::kI64:
      return proto::I64;
    case DType::kF16:
      return proto::F16;
    case DType::kBF16:
      return proto::BF16;
  }
  return proto::DTYPE_UNSPECIFIED;
}

absl::StatusOr<DType> DTypeFromProto(int dtype) {
  switch (dtype) {
    case proto::F32:
      return DType::kF32;
    case proto::I64:
      return DType::kI64;
    case proto::F16:
      return DType::kF16;
    case proto::BF16:
      return DType::kBF16;
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown dtype ", dtype));
}

void TypeToProto(const TensorType& type, proto::TensorType* message) {
  message->set_dtype(DTypeToProto(type.dtype));
  message->mutable_shape()->Add(type.shape.begin(), type.shape.end());
}

absl::StatusOr<TensorType> TypeFromProto(const proto::TensorType& message) {
  TensorType type;
  KILN_ASSIGN_OR_RETURN(type.dtype, DTypeFromProto(message.dtype()));
  type.shape.assign(message.shape().begin(), message.shape().end());
  return type;
}

struct AttrToProto {
  proto::Attr* message;
  void operator()(int64_t v) const { message->set_int_value(v); }
  void operator()(double v) const { message->set_double_value(v); }
  void operator()(const std::string& v) const { message->set_string_value(v); }
  void operator()(const std::vector<int64_t>& v) const {
    message->mutable_ints_value()->mutable_values()->Add(v.begin(), v.end());
  }
};

absl::StatusOr<AttrValue> AttrFromProto(const proto::Attr& message) {
  switch (message.value_case()) {
    case proto::Attr::kIntValue:
      return message.int_value();
    case proto::Attr::kDoubleValue:
      return message.double_value();
    case proto::Attr::kStringValue:
      return message.string_value();
    case proto::Attr::kIntsValue:
      return std::vector<int64_t>(message.ints_value().values().begin(),
                                  message.ints_value().values().end());
    case proto::Attr::VALUE_NOT_SET:
      break;
  }
  return absl::InvalidArgumentError(absl::StrCat("attribute '", message.key(), "' has no value"));
}

// --- Source locations ----------------------------------------------------------------------

void LocToProto(const SourceLoc& loc, proto::SourceLoc* message) {
  message->set_file(loc.file->path);
  message->set_line(loc.line);
  message->set_col(loc.col);
}

// Gives every location in one file the same SourceFile, as the frontend does.
class LocDecoder {
 public:
  SourceLoc Decode(const proto::SourceLoc& message) {
    auto& file = files_[message.file()];
    if (file == nullptr) file = std::make_shared<const SourceFile>(SourceFile{message.file(), ""});
    return SourceLoc{file, message.line(), message.col()};
  }

 private:
  std::map<std::string, std::shared_ptr<const SourceFile>> files_;
};

// --- Nodes ---------------------------------------------------------------------------------

void NodeToProto(const Node& node, proto::Node* message) {
  message->set_op(node.op);
  message->mutable_operands()->Add(node.operands.begin(), node.operands.end());
  for (const auto& [key, value] : node.attrs.values()) {
    proto::Attr* attr = message->add_attrs();
    attr->set_key(key);
    std::visit(AttrToProto{attr}, value);
  }
  TypeToProto(node.type, message->mutable_type());
  message->set_name(node.name);
  if (node.loc.known()) LocToProto(node.loc, message->mutable_loc());
}

absl::StatusOr<Node> NodeFromProto(const proto::Node& message, NodeId id, LocDecoder& locs) {
  Node node;
  node.op = message.op();
  for (int32_t operand : message.operands()) {
    if (operand < 0 || operand >= id) {
      return absl::InvalidArgumentError(
          absl::StrFormat("node %%%d: operand %%%d does not precede it", id, operand));
    }
    node.operands.push_back(operand);
  }
  for (const proto::Attr& attr : message.attrs()) {
    absl::StatusOr<AttrValue> value = AttrFromProto(attr);
    if (!value.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("node %", id, ": ", value.status().message()));
    }
    node.attrs.Set(attr.key(), *std::move(value));
  }
  absl::StatusOr<TensorType> type = TypeFromProto(message.type());
  if (!type.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("node %", id, ": ", type.status().message()));
  }
  node.type = *std::move(type);
  node.name = message.name();
  if (message.has_loc()) node.loc = locs.Decode(message.loc());
  return node;
}

// --- Files ---------------------------------------------------------------------------------

void PutLittleEndian(std::string& out, uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

uint64_t GetLittleEndian(const std::string& in, size_t offset, int bytes) {
  uint64_t value = 0;
  for (int i = 0; i < bytes; ++i) {
    value |= static_cast<uint64_t>(static_cast<unsigned char>(in[offset + i])) << (8 * i);
  }
  return value;
}

uint32_t Crc32(const std::string& data, size_t offset) {
  uLong crc = crc32(0L, Z_NULL, 0);
  const auto* bytes = reinterpret_cast<const Bytef*>(data.data() + offset);
  size_t left = data.size() - offset;
  while (left > 0) {  // zlib takes uInt lengths.
    uInt chunk = static_cast<uInt>(std::min<size_t>(left, 1u << 30));
    crc = crc32(crc, bytes, chunk);
    bytes += chunk;
    left -= chunk;
  }
  return static_cast<uint32_t>(crc);
}

std::string SerializeDeterministically(const proto::CompiledModel& model) {
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);  // hparams is a map.
    model.SerializeToCodedStream(&coded);
  }
  return bytes;
}

absl::Status WithPath(const std::string& path, const absl::Status& status) {
  // One line: verifier messages span several.
  std::string message = absl::StrReplaceAll(status.message(), {{"\n", "; "}});
  return absl::Status(status.code(), absl::StrCat(path, ": ", message));
}

}  // namespace

std::string EncodeModelFile(const proto::CompiledModel& model) {
  std::string payload = SerializeDeterministically(model);
  std::string bytes(kMagic, sizeof(kMagic));
  PutLittleEndian(bytes, payload.size(), 8);
  PutLittleEndian(bytes, Crc32(payload, 0), 4);
  return bytes + payload;
}

absl::StatusOr<proto::CompiledModel> DecodeModelFile(const std::string& bytes) {
  if (bytes.size() < sizeof(kMagic) || std::memcmp(bytes.data(), kMagic, sizeof(kMagic)) != 0) {
    return absl::DataLossError("not a kiln model file (bad magic)");
  }
  if (bytes.size() < kHeaderSize) return absl::DataLossError("truncated header");
  uint64_t size = GetLittleEndian(bytes, sizeof(kMagic), 8);
  uint32_t crc = static_cast<uint32_t>(GetLittleEndian(bytes, sizeof(kMagic) + 8, 4));
  if (bytes.size() - kHeaderSize != size) {
    return absl::DataLossError(
        absl::StrFormat("truncated or padded: expected %d bytes of model "
                        "data, found %d",
                        size, bytes.size() - kHeaderSize));
  }
  if (Crc32(bytes, kHeaderSize) != crc) {
    return absl::DataLossError("corrupt: checksum mismatch");
  }
  proto::CompiledModel model;
  if (!model.ParseFromArray(bytes.data() + kHeaderSize, static_cast<int>(size))) {
    return absl::DataLossError("corrupt: the model data does not parse");
  }
  if (model.version() != kModelFormatVersion) {
    return absl::FailedPreconditionError(
        absl::StrFormat("unsupported model format version %d (this kiln reads version %d)",
                        model.version(), kModelFormatVersion));
  }
  return model;
}

proto::Graph GraphToProto(const Graph& graph) {
  proto::Graph message;
  message.set_name(graph.name);
  for (const Node& node : graph.nodes()) NodeToProto(node, message.add_nodes());
  for (const auto& [name, id] : graph.outputs) {
    proto::Output* output = message.add_outputs();
    output->set_name(name);
    output->set_node(id);
  }
  for (const Update& update : graph.updates) {
    proto::Update* u = message.add_updates();
    u->set_target(update.target);
    u->set_value(update.value);
  }
  return message;
}

absl::StatusOr<Graph> GraphFromProto(const proto::Graph& message) {
  Graph graph;
  graph.name = message.name();
  LocDecoder locs;
  for (int i = 0; i < message.nodes_size(); ++i) {
    KILN_ASSIGN_OR_RETURN(Node node, NodeFromProto(message.nodes(i), i, locs));
    graph.Add(std::move(node));
  }
  for (const proto::Output& output : message.outputs()) {
    graph.outputs.emplace_back(output.name(), output.node());
  }
  for (const proto::Update& update : message.updates()) {
    graph.updates.push_back(Update{update.target(), update.value()});
  }
  return graph;
}

proto::TrainConfig TrainConfigToProto(const TrainConfig& config) {
  proto::TrainConfig message;
  proto::DataConfig* data = message.mutable_data();
  data->set_source(config.data.source);
  data->set_path(config.data.path);
  data->set_scale(config.data.scale);
  data->mutable_mean()->Add(config.data.mean.begin(), config.data.mean.end());
  data->mutable_std()->Add(config.data.stddev.begin(), config.data.stddev.end());
  data->set_train_limit(config.data.train_limit);
  data->set_test_limit(config.data.test_limit);
  data->set_shuffle(config.data.shuffle);
  if (config.data.loc.known()) LocToProto(config.data.loc, data->mutable_loc());

  proto::OptimizerConfig* optimizer = message.mutable_optimizer();
  optimizer->set_kind(config.optimizer.kind);
  for (const auto& [key, value] : config.optimizer.hparams) {
    (*optimizer->mutable_hparams())[key] = value;
  }
  if (config.optimizer.loc.known()) LocToProto(config.optimizer.loc, optimizer->mutable_loc());

  message.set_batch_size(config.batch_size);
  message.set_epochs(config.epochs);
  message.set_seed(config.seed);
  for (const std::string& metric : config.metrics) message.add_metrics(metric);
  return message;
}

absl::StatusOr<TrainConfig> TrainConfigFromProto(const proto::TrainConfig& message) {
  if (!message.has_data() || !message.has_optimizer()) {
    return absl::InvalidArgumentError("train config lacks its data or optimizer section");
  }
  LocDecoder locs;
  TrainConfig config;
  const proto::DataConfig& data = message.data();
  config.data.source = data.source();
  config.data.path = data.path();
  config.data.scale = data.scale();
  config.data.mean.assign(data.mean().begin(), data.mean().end());
  config.data.stddev.assign(data.std().begin(), data.std().end());
  config.data.train_limit = data.train_limit();
  config.data.test_limit = data.test_limit();
  config.data.shuffle = data.shuffle();
  if (data.has_loc()) config.data.loc = locs.Decode(data.loc());

  const proto::OptimizerConfig& optimizer = message.optimizer();
  config.optimizer.kind = optimizer.kind();
  config.optimizer.hparams.insert(optimizer.hparams().begin(), optimizer.hparams().end());
  if (optimizer.has_loc()) config.optimizer.loc = locs.Decode(optimizer.loc());

  config.batch_size = message.batch_size();
  config.epochs = message.epochs();
  config.seed = message.seed();
  config.metrics.assign(message.metrics().begin(), message.metrics().end());
  return config;
}

absl::Status SaveModel(const Graph& graph, const TrainConfig& config, const std::string& path) {
  proto::CompiledModel model;
  model.set_version(kModelFormatVersion);
  *model.mutable_graph() = GraphToProto(graph);
  *model.mutable_train_config() = TrainConfigToProto(config);
  return WriteFileAtomically(path, EncodeModelFile(model));
}

absl::StatusOr<std::pair<Graph, TrainConfig>> LoadModel(const std::string& path) {
  absl::StatusOr<std::string> bytes = ReadWholeFile(path);
  if (!bytes.ok()) return bytes.status();
  absl::StatusOr<proto::CompiledModel> model = DecodeModelFile(*bytes);
  if (!model.ok()) return WithPath(path, model.status());
  absl::StatusOr<Graph> graph = GraphFromProto(model->graph());
  if (!graph.ok()) return WithPath(path, graph.status());
  absl::StatusOr<TrainConfig> config = TrainConfigFromProto(model->train_config());
  if (!config.ok()) return WithPath(path, config.status());
  if (absl::Status verified = VerifyGraph(*graph); !verified.ok()) {
    return WithPath(path, verified);
  }
  return std::make_pair(*std::move(graph), *std::move(config));
}

}  // namespace kiln::ir
