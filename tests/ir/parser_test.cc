// The IR text format's reading side: round trips, hand-written text, and located errors.
#include "ir/parser.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <limits>

#include "ir/printer.h"
#include "tests/ir/test_graphs.h"

namespace kiln::ir {
namespace {

using testing::BuildMlp;
using testing::BuildPrimitives;
using testing::ExpectSameGraph;

// The error message of parsing `text`, or "<ok>".
std::string ParseError(absl::string_view text) {
  absl::StatusOr<Graph> graph = ParseGraph(text);
  return graph.ok() ? "<ok>" : std::string(graph.status().message());
}

TEST(ParserTest, MlpRoundTripsExactly) {
  Graph original = BuildMlp();
  std::string text = PrintGraph(original);
  absl::StatusOr<Graph> parsed = ParseGraph(text);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ExpectSameGraph(*parsed, original);
  EXPECT_EQ(PrintGraph(*parsed), text);
}

TEST(ParserTest, PrimitivesRoundTripExactly) {
  Graph original = BuildPrimitives();
  std::string text = PrintGraph(original);
  absl::StatusOr<Graph> parsed = ParseGraph(text);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ExpectSameGraph(*parsed, original);
  EXPECT_EQ(PrintGraph(*parsed), text);
}

TEST(ParserTest, NodesFromOneModelFileShareItsSourceFile) {
  absl::StatusOr<Graph> parsed = ParseGraph(PrintGraph(BuildMlp()));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->node(0).loc.file, parsed->node(10).loc.file);
  EXPECT_EQ(parsed->node(0).loc.file->path, "fashion_mlp.kiln");
  EXPECT_FALSE(parsed->node(11).loc.known());
}

TEST(ParserTest, HandWrittenTextWithLabelsAndCommentsIsRenumbered) {
  absl::StatusOr<Graph> parsed = ParseGraph(R"(
    // A tiny graph written by hand.
    graph tiny {
      %x = input() {dtype="f32", shape=[2,3]} : f32[2,3] name="x"
      %r = relu(%x) : f32[2,3]   // Trailing comment.
      %s = reduce_sum(%r) {
             dims=[0, 1], keepdim=0
           } : f32[]
      outputs { "total" = %s }
    }
  )");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(PrintGraph(*parsed), R"(graph tiny {
  %0 = input() {dtype="f32", shape=[2,3]} : f32[2,3] name="x"
  %1 = relu(%0) : f32[2,3]
  %2 = reduce_sum(%1) {dims=[0,1], keepdim=0} : f32[]
  outputs { total = %2 }
}
)");
}

TEST(ParserTest, EveryAttrKindAndDoubleRoundTripsBitExactly) {
  const double kDoubles[] = {0.0,
                             -0.0,
                             1.0,
                             0.1,
                             -0.0357,
                             1.0 / 3.0,
                             1e300,
                             5e-324,
                             std::numeric_limits<double>::max(),
                             std::numeric_limits<double>::infinity(),
                             -std::numeric_limits<double>::infinity()};
  for (double value : kDoubles) {
    Graph graph;
    Node node;
    node.op = "constant";
    node.attrs = {{"dtype", std::string("f32")},
                  {"shape", Shape{2}},
                  {"value", value},
                  {"count", int64_t{-9007199254740993}},
                  {"note", std::string("a\tb\\c\"")},
                  {"empty", std::vector<int64_t>{}}};
    node.type = {DType::kF32, {2}};
    graph.Add(node);
    std::string text = PrintGraph(graph);
    absl::StatusOr<Graph> parsed = ParseGraph(text);
    ASSERT_TRUE(parsed.ok()) << text << parsed.status();
    ExpectSameGraph(*parsed, graph);
    EXPECT_EQ(PrintGraph(*parsed), text);
  }
}

TEST(ParserTest, NanRoundTrips) {
  absl::StatusOr<Graph> parsed = ParseGraph(R"(graph g {
    %0 = constant() {dtype="f32", shape=[], value=nan} : f32[]
  })");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_TRUE(std::isnan(parsed->node(0).attrs.GetFloat("value")));
}

TEST(ParserTest, LocPathMayContainColons) {
  absl::StatusOr<Graph> parsed = ParseGraph(R"(graph g {
    %0 = input() {dtype="f32", shape=[1]} : f32[1] name="x" loc="C:/m/a.kiln:12:7"
  })");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->node(0).loc.ToString(), "C:/m/a.kiln:12:7");
}

TEST(ParserTest, ErrorsCarryLineAndColumnWithACaret) {
  EXPECT_EQ(ParseError("graph g {\n  %0 = input() : f32[\n}"),
            "<ir>:3:1: error: expected an integer\n  }\n  ^");
}

TEST(ParserTest, UnknownOpSuggestsTheClosestOne) {
  std::string error = ParseError("graph g {\n  %0 = inptu() : f32[]\n}");
  EXPECT_EQ(error,
            "<ir>:2:8: error: unknown op 'inptu', did you mean 'input'?\n"
            "    %0 = inptu() : f32[]\n"
            "         ^");
}

TEST(ParserTest, PrintedTypeMustMatchTheInferredType) {
  std::string error = ParseError(R"(graph g {
  %0 = input() {dtype="f32", shape=[64,784]} : f32[64,784]
  %1 = input() {dtype="f32", shape=[784,10]} : f32[784,10]
  %2 = matmul(%0, %1) : f32[64,11] name="logits"
})");
  EXPECT_EQ(error,
            "<ir>:4:25: error: matmul 'logits': the printed type f32[64,11] differs from the "
            "inferred type f32[64,10]\n"
            "    %2 = matmul(%0, %1) : f32[64,11] name=\"logits\"\n"
            "                          ^");
}

TEST(ParserTest, ShapeRuleErrorsNameTheOpAndPointAtIt) {
  std::string error = ParseError(R"(graph g {
  %0 = input() {dtype="f32", shape=[64,784]} : f32[64,784]
  %1 = input() {dtype="f32", shape=[100,10]} : f32[100,10]
  %2 = matmul(%0, %1) : f32[64,10]
})");
  EXPECT_NE(error.find("<ir>:4:8: error: matmul: inner dimensions differ: f32[64,784] @ "
                       "f32[100,10] (784 vs 100)"),
            std::string::npos)
      << error;
}

TEST(ParserTest, SourceNameAppearsInErrors) {
  absl::StatusOr<Graph> parsed = ParseGraph("grph g {}", "case.ir");
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().message(), "case.ir:1:1: error: expected 'graph'\n  grph g {}\n  ^");
}

struct BadText {
  const char* text;
  const char* error;  // The first line of the message.
};

class ParserErrorTest : public ::testing::TestWithParam<BadText> {};

TEST_P(ParserErrorTest, FirstLineOfTheError) {
  std::string error = ParseError(GetParam().text);
  EXPECT_EQ(error.substr(0, error.find('\n')), GetParam().error) << error;
}

INSTANTIATE_TEST_SUITE_P(
    Syntax, ParserErrorTest,
    ::testing::Values(
        BadText{"graph g {\n  %0 = relu(%1) : f32[]\n}",
                "<ir>:2:13: error: use of undefined value %1"},
        BadText{"graph g {\n  %0 = input() : f32[]\n  %0 = input() : f32[]\n}",
                "<ir>:3:3: error: value %0 is defined twice"},
        BadText{"graph g {\n  %0 = input( : f32[]\n}",
                "<ir>:2:15: error: expected a value such as %3"},
        BadText{"graph g {\n  %0 = input() : q32[]\n}", "<ir>:2:18: error: unknown dtype 'q32'"},
        BadText{"graph g {\n  %0 = input() {a=1, a=2} : f32[]\n}",
                "<ir>:2:22: error: duplicate attribute 'a'"},
        BadText{"graph g {\n  %0 = input() {a=1x} : f32[]\n}",
                "<ir>:2:19: error: expected an attribute value, got '1x'"},
        BadText{"graph g {\n  %0 = input() {a=\"oops} : f32[]\n}",
                "<ir>:2:19: error: unterminated string"},
        BadText{"graph g {\n  %0 = input() {a=[1,2} : f32[]\n}", "<ir>:2:23: error: expected ']'"},
        BadText{"graph g {\n  %0 = input() : f32[] loc=\"a.kiln\"\n}",
                "<ir>:2:28: error: expected loc=\"file:line:col\""},
        BadText{"graph g {\n  %0 = input() {dtype=\"f32\", shape=[0]} : f32[0]\n}",
                "<ir>:2:8: error: input: dimension sizes must be positive, got [0]"},
        BadText{"graph g {\n  %0 = input() : f32[]\n  %1 = relu(%0, %0) : f32[]\n}",
                "<ir>:3:8: error: relu takes 1 operands, got 2"},
        BadText{"graph g {\n  %0 = input() : f32[]\n  outputs { y = %7 }\n}",
                "<ir>:3:17: error: use of undefined value %7"},
        BadText{"graph g {\n  %0 = input() : f32[]\n  updates { %0 = %0 }\n}",
                "<ir>:3:16: error: expected '<-'"},
        BadText{"graph g {\n}\nextra", "<ir>:3:1: error: unexpected text after the graph"},
        BadText{"", "<ir>:1:1: error: expected 'graph'"}));

}  // namespace
}  // namespace kiln::ir

namespace kiln::ir {
namespace {

// Cut-off text is an error, never a crash or a half graph.
TEST(ParserTest, EveryTruncationIsAnError) {
  std::string text = PrintGraph(testing::BuildMlp());
  for (size_t size = 0; size + 1 < text.size(); ++size) {  // The last byte is a newline.
    ASSERT_FALSE(ParseGraph(text.substr(0, size)).ok()) << "prefix of " << size << " bytes";
  }
}

TEST(ParserTest, MangledTextIsAnErrorOrAValidGraph) {
  std::string text = PrintGraph(testing::BuildPrimitives());
  for (size_t at = 0; at < text.size(); ++at) {
    for (char c : {'\\', '"', '%', '-', '[', '}', '\0'}) {
      std::string mangled = text;
      mangled[at] = c;
      absl::StatusOr<Graph> parsed = ParseGraph(mangled);
      if (!parsed.ok()) continue;
      absl::StatusOr<Graph> reparsed = ParseGraph(PrintGraph(*parsed));
      ASSERT_TRUE(reparsed.ok()) << reparsed.status();
      EXPECT_EQ(PrintGraph(*reparsed), PrintGraph(*parsed));
    }
  }
}

}  // namespace
}  // namespace kiln::ir
