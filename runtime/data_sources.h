// The data sources a model file can name in `data = ...`, one record each: the name, what kind of
// data it gives, the arguments it takes (each with the DataSpec field it sets and a one-line
// description; the field's initializer in runtime/data_spec.h is the default) and its loader.
// The frontend binds the call against the record, LoadDataset dispatches on it, and a test checks
// docs/dsl.md against it. Adding a data source is one record in runtime/data_sources.cc.
//
//   const DataSource* csv = FindDataSource("csv");
//   for (const DataArg& arg : ArgsOf(*csv)) ...   // path, features, label, regression, then
//                                                 // test_fraction, standardize, ... (every table)
//   KILN_ASSIGN_OR_RETURN(DataSplits data, csv->load(*csv, spec));
//
// It lives in the runtime, which must not depend on the compiler, and the compiler reads it: the
// runtime owns what it can load, as it owns the kernel-library interface the JIT implements.
#ifndef KILN_RUNTIME_DATA_SOURCES_H_
#define KILN_RUNTIME_DATA_SOURCES_H_

#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/data_spec.h"
#include "runtime/dataset.h"

namespace kiln::runtime {

enum class DataSourceKind {
  kImages,     // A directory of MNIST-style IDX files: train and test splits as they are.
  kTable,      // One table read from files, split into train and test (every table argument).
  kGenerator,  // One table made by a seeded generator, split likewise.
};

// How an argument is written and checked. Messages name the argument at its location.
enum class DataArgType {
  kWord,       // A string or a bare name: path="x.csv", label=price.
  kNumber,     // Any number.
  kCount,      // An integer >= 0.
  kFraction,   // A number in [0, 1).
  kBool,       // true or false.
  kColumns,    // A name or a list of names: features=[rooms, area].
  kNormalize,  // (mean, std), each a number or a tuple per channel: sets mean and stddev.
  kGenerator,  // A number or true/false, kept in DataSpec::params under the argument's name.
};

// The DataSpec field an argument sets; monostate for kNormalize and kGenerator.
using DataField =
    std::variant<std::monostate, std::string DataSpec::*, double DataSpec::*, int64_t DataSpec::*,
                 uint64_t DataSpec::*, bool DataSpec::*, std::vector<std::string> DataSpec::*>;

struct DataArg {
  std::string_view name;
  DataArgType type;
  DataField field;
  std::string_view summary;  // One line for the docs.
  bool required = false;
};

struct DataSource;
using DataLoader = absl::StatusOr<DataSplits> (*)(const DataSource& source, const DataSpec& spec);

struct DataSource {
  std::string_view name;
  DataSourceKind kind;
  std::string_view summary;       // One line for the docs.
  std::span<const DataArg> args;  // Its own arguments; ArgsOf adds those of its kind.
  std::string_view default_dir;   // kImages: where the files are without a path ("": required).
  DataLoader load;
};

// Every data source, in the order the docs list them.
std::span<const DataSource> DataSources();
const DataSource* FindDataSource(std::string_view name);
std::vector<std::string> DataSourceNames();

// The arguments `source` takes in positional order: its own, then those of its kind (images:
// scale, normalize, limits, shuffle; tables: test_fraction, standardize, one_hot, seed, ...).
std::vector<DataArg> ArgsOf(const DataSource& source);

// The value `spec` gives `arg`, as a model file would write it: "0.1", "true", "[a,b]",
// "((0.5),(0.5))" for normalize; "" for a generator argument left at scikit-learn's default.
std::string ArgValueText(const DataArg& arg, const DataSpec& spec);

}  // namespace kiln::runtime

#endif  // KILN_RUNTIME_DATA_SOURCES_H_
