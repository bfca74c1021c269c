// Compiled-model files: proto round trips field by field, atomic saves, and corrupt, truncated
// or invalid files giving one-line errors instead of crashes.
#include "ir/serialize.h"

#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <bit>
#include <filesystem>
#include <fstream>
#include <limits>

#include "absl/strings/str_format.h"
#include "ir/printer.h"
#include "tests/ir/test_graphs.h"

namespace kiln::ir {
namespace {

using testing::BuildMlp;
using testing::BuildPrimitives;
using testing::ExpectSameGraph;

TrainConfig SampleConfig() {
  TrainConfig config;
  auto file = std::make_shared<const SourceFile>(SourceFile{"fashion_mlp.kiln", "x\ny\n"});
  config.data.source = "idx";
  config.data.path = "/data/fashion";
  config.data.scale = 1.0 / 255.0;
  config.data.mean = {0.2860};
  config.data.stddev = {0.3530};
  config.data.train_limit = 1000;
  config.data.test_limit = 200;
  config.data.shuffle = false;
  config.data.loc = {file, 9, 3};
  config.optimizer.kind = "adam";
  config.optimizer.hparams = {{"lr", 1e-3}, {"beta1", 0.9}, {"beta2", 0.999}, {"eps", 1e-8}};
  config.optimizer.loc = {file, 10, 5};
  config.batch_size = 128;
  config.epochs = 3;
  config.seed = 0xfedcba9876543210ULL;
  config.metrics = {"loss", "accuracy", "time"};
  return config;
}

void ExpectSameConfig(const TrainConfig& a, const TrainConfig& e) {
  EXPECT_EQ(a.data.source, e.data.source);
  EXPECT_EQ(a.data.path, e.data.path);
  EXPECT_EQ(std::bit_cast<uint64_t>(a.data.scale), std::bit_cast<uint64_t>(e.data.scale));
  EXPECT_EQ(a.data.mean, e.data.mean);
  EXPECT_EQ(a.data.stddev, e.data.stddev);
  EXPECT_EQ(a.data.train_limit, e.data.train_limit);
  EXPECT_EQ(a.data.test_limit, e.data.test_limit);
  EXPECT_EQ(a.data.shuffle, e.data.shuffle);
  EXPECT_EQ(a.data.loc.ToString(), e.data.loc.ToString());
  EXPECT_EQ(a.optimizer.kind, e.optimizer.kind);
  EXPECT_EQ(a.optimizer.hparams, e.optimizer.hparams);
  EXPECT_EQ(a.optimizer.loc.ToString(), e.optimizer.loc.ToString());
  EXPECT_EQ(a.batch_size, e.batch_size);
  EXPECT_EQ(a.epochs, e.epochs);
  EXPECT_EQ(a.seed, e.seed);
  EXPECT_EQ(a.metrics, e.metrics);
}

// A graph whose attributes cover every kind, with doubles that text or float32 would mangle.
Graph AttrGraph() {
  Graph graph;
  graph.name = "attrs";
  Node node;
  node.op = "constant";
  node.type = {DType::kF32, {3}};
  node.attrs = {{"dtype", std::string("f32")},
                {"shape", Shape{3}},
                {"value", -0.0},
                {"tiny", 5e-324},
                {"third", 1.0 / 3.0},
                {"nan", std::numeric_limits<double>::quiet_NaN()},
                {"inf", -std::numeric_limits<double>::infinity()},
                {"big", int64_t{std::numeric_limits<int64_t>::min()}},
                {"text", std::string("a\0b\n", 4)},
                {"one", std::vector<int64_t>{7}},
                {"none", std::vector<int64_t>{}}};
  node.name = "c";
  graph.Add(node);
  graph.outputs = {{"c", 0}};
  return graph;
}

class SerializeFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("kiln_serialize_test_" + std::to_string(getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Path(const std::string& name) const { return (dir_ / name).string(); }

  static std::string Read(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  static void Write(const std::string& path, const std::string& bytes) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  }

  // The one-line error of loading `path`.
  static std::string LoadError(const std::string& path) {
    auto loaded = LoadModel(path);
    if (loaded.ok()) return "<ok>";
    std::string message(loaded.status().message());
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    EXPECT_EQ(message.rfind(path, 0), 0u) << message;
    return message;
  }

  std::filesystem::path dir_;
};

TEST(SerializeTest, GraphProtoRoundTripKeepsEveryField) {
  for (const Graph& graph : {BuildMlp(), BuildPrimitives(), AttrGraph()}) {
    absl::StatusOr<Graph> back = GraphFromProto(GraphToProto(graph));
    ASSERT_TRUE(back.ok()) << back.status();
    ExpectSameGraph(*back, graph);
  }
}

TEST(SerializeTest, LoadedLocationsKeepThePathAndShareOneFile) {
  absl::StatusOr<Graph> back = GraphFromProto(GraphToProto(BuildMlp()));
  ASSERT_TRUE(back.ok()) << back.status();
  const SourceLoc& loc = back->node(4).loc;
  ASSERT_TRUE(loc.known());
  EXPECT_EQ(loc.ToString(), "fashion_mlp.kiln:4:9");
  EXPECT_EQ(loc.file->text, "");
  EXPECT_EQ(loc.file, back->node(0).loc.file);
  EXPECT_FALSE(back->node(13).loc.known());
}

TEST(SerializeTest, TrainConfigProtoRoundTrip) {
  absl::StatusOr<TrainConfig> back = TrainConfigFromProto(TrainConfigToProto(SampleConfig()));
  ASSERT_TRUE(back.ok()) << back.status();
  ExpectSameConfig(*back, SampleConfig());
  // Defaults survive too (shuffle defaults to true, which proto3 would not assume).
  back = TrainConfigFromProto(TrainConfigToProto(TrainConfig{}));
  ASSERT_TRUE(back.ok()) << back.status();
  ExpectSameConfig(*back, TrainConfig{});
}

TEST(SerializeTest, MalformedMessagesAreErrorsNotCrashes) {
  proto::Graph message = GraphToProto(BuildMlp());
  message.mutable_nodes(5)->set_operands(0, 5);
  EXPECT_EQ(GraphFromProto(message).status().message(), "node %5: operand %5 does not precede it");

  message = GraphToProto(BuildMlp());
  message.mutable_nodes(3)->mutable_type()->set_dtype(static_cast<proto::DType>(42));
  EXPECT_EQ(GraphFromProto(message).status().message(), "node %3: unknown dtype 42");

  message = GraphToProto(BuildMlp());
  message.mutable_nodes(9)->mutable_attrs(0)->clear_value();
  EXPECT_EQ(GraphFromProto(message).status().message(), "node %9: attribute 'dim' has no value");

  EXPECT_FALSE(TrainConfigFromProto(proto::TrainConfig{}).ok());
}

TEST_F(SerializeFileTest, SaveThenLoad) {
  std::string path = Path("mlp.kilnm");
  ASSERT_TRUE(SaveModel(BuildMlp(), SampleConfig(), path).ok());
  auto loaded = LoadModel(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ExpectSameGraph(loaded->first, BuildMlp());
  ExpectSameConfig(loaded->second, SampleConfig());
  EXPECT_EQ(PrintGraph(loaded->first), PrintGraph(BuildMlp()));
}

TEST_F(SerializeFileTest, SaveIsDeterministicAndReplacesAtomically) {
  std::string path = Path("m.kilnm");
  ASSERT_TRUE(SaveModel(BuildMlp(), SampleConfig(), path).ok());
  std::string first = Read(path);
  ASSERT_TRUE(SaveModel(BuildPrimitives(), TrainConfig{}, path).ok());
  ASSERT_TRUE(SaveModel(BuildMlp(), SampleConfig(), path).ok());
  EXPECT_EQ(Read(path), first);
  // Only the model is left: no temporary files.
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir_)) {
    ++files;
    EXPECT_EQ(entry.path().filename(), "m.kilnm");
  }
  EXPECT_EQ(files, 1);
}

TEST_F(SerializeFileTest, SaveIntoAMissingDirectoryFails) {
  absl::Status status = SaveModel(BuildMlp(), SampleConfig(), Path("no/such/dir/m.kilnm"));
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("cannot create"), absl::string_view::npos) << status;
}

TEST_F(SerializeFileTest, MissingFile) {
  EXPECT_NE(LoadError(Path("absent.kilnm")).find("cannot open"), std::string::npos);
}

std::string SavedMlpBytes() {
  proto::CompiledModel model;
  model.set_version(kModelFormatVersion);
  *model.mutable_graph() = GraphToProto(BuildMlp());
  *model.mutable_train_config() = TrainConfigToProto(SampleConfig());
  return EncodeModelFile(model);
}

TEST(SerializeTest, EveryTruncationIsAnError) {
  std::string bytes = SavedMlpBytes();
  ASSERT_TRUE(DecodeModelFile(bytes).ok());
  for (size_t size = 0; size < bytes.size(); ++size) {
    absl::StatusOr<proto::CompiledModel> decoded = DecodeModelFile(bytes.substr(0, size));
    ASSERT_FALSE(decoded.ok()) << "a file truncated to " << size << " bytes decoded";
  }
}

TEST(SerializeTest, EveryFlippedByteIsAnError) {
  std::string bytes = SavedMlpBytes();
  for (size_t at = 0; at < bytes.size(); ++at) {
    std::string corrupt = bytes;
    corrupt[at] ^= 0x5a;
    ASSERT_FALSE(DecodeModelFile(corrupt).ok()) << "flipped byte " << at;
  }
}

TEST_F(SerializeFileTest, TruncatedFiles) {
  std::string path = Path("m.kilnm");
  ASSERT_TRUE(SaveModel(BuildMlp(), SampleConfig(), path).ok());
  std::string bytes = Read(path);
  EXPECT_EQ(bytes, SavedMlpBytes());
  Write(path, "");
  EXPECT_EQ(LoadError(path), path + ": not a kiln model file (bad magic)");
  Write(path, bytes.substr(0, 12));
  EXPECT_EQ(LoadError(path), path + ": truncated header");
  Write(path, bytes.substr(0, 20));
  EXPECT_NE(LoadError(path).find(": truncated or padded: expected"), std::string::npos);
  Write(path, bytes.substr(0, bytes.size() - 1));
  EXPECT_EQ(LoadError(path), absl::StrFormat("%s: truncated or padded: expected %d bytes of "
                                             "model data, found %d",
                                             path, bytes.size() - 20, bytes.size() - 21));
}

TEST_F(SerializeFileTest, CorruptFiles) {
  std::string path = Path("m.kilnm");
  std::string corrupt = SavedMlpBytes();
  corrupt.back() ^= 1;
  Write(path, corrupt);
  EXPECT_EQ(LoadError(path), path + ": corrupt: checksum mismatch");
  Write(path, "PK\x03\x04 this is a zip file, not a model");
  EXPECT_EQ(LoadError(path), path + ": not a kiln model file (bad magic)");
}

TEST_F(SerializeFileTest, UnparsablePayloadWithAValidChecksum) {
  // Framed by hand: the header is right, the payload is a truncated varint.
  std::string junk = "\x08\xff\xff";
  std::string bytes = "KILNMODL";
  for (int i = 0; i < 8; ++i) bytes.push_back(static_cast<char>(i == 0 ? junk.size() : 0));
  uint32_t crc = static_cast<uint32_t>(
      crc32(crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(junk.data()), junk.size()));
  for (int i = 0; i < 4; ++i) bytes.push_back(static_cast<char>((crc >> (8 * i)) & 0xff));
  std::string path = Path("m.kilnm");
  Write(path, bytes + junk);
  EXPECT_EQ(LoadError(path), path + ": corrupt: the model data does not parse");
}

TEST_F(SerializeFileTest, WrongVersionIsRejected) {
  proto::CompiledModel model;
  model.set_version(7);
  *model.mutable_graph() = GraphToProto(BuildMlp());
  *model.mutable_train_config() = TrainConfigToProto(SampleConfig());
  std::string path = Path("m.kilnm");
  Write(path, EncodeModelFile(model));
  EXPECT_EQ(LoadError(path),
            path + ": unsupported model format version 7 (this kiln reads version 1)");
}

TEST_F(SerializeFileTest, LoadedGraphsAreVerified) {
  proto::CompiledModel model;
  model.set_version(kModelFormatVersion);
  *model.mutable_graph() = GraphToProto(BuildMlp());
  *model.mutable_train_config() = TrainConfigToProto(SampleConfig());
  model.mutable_graph()->mutable_nodes(8)->mutable_type()->set_shape(1, 11);
  std::string path = Path("m.kilnm");
  Write(path, EncodeModelFile(model));
  EXPECT_EQ(LoadError(path),
            path +
                ": fashion_mlp.kiln:6:9: error: invalid IR: linear 'fc2': stored type "
                "f32[64,11] but the op infers f32[64,10];   in: %8 = linear(%5, %6, %7) : "
                "f32[64,11] name=\"fc2\" loc=\"fashion_mlp.kiln:6:9\"");
}

TEST_F(SerializeFileTest, MalformedGraphMessageInAValidFile) {
  proto::CompiledModel model;
  model.set_version(kModelFormatVersion);
  *model.mutable_graph() = GraphToProto(BuildMlp());
  *model.mutable_train_config() = TrainConfigToProto(SampleConfig());
  model.mutable_graph()->mutable_nodes(2)->add_operands(7);
  std::string path = Path("m.kilnm");
  Write(path, EncodeModelFile(model));
  EXPECT_EQ(LoadError(path), path + ": node %2: operand %7 does not precede it");
}

}  // namespace
}  // namespace kiln::ir
