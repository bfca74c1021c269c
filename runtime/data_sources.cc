// The data-source records. The loaders are in runtime/dataset.cc; the defaults are DataSpec's
// initializers (runtime/data_spec.h).
#include "runtime/data_sources.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "runtime/dataset.h"
#include "support/status.h"

namespace kiln::runtime {
namespace {

using Type = DataArgType;

// --- Arguments every source of a kind takes ----------------------------------------------

constexpr DataArg kLimitArgs[] = {
    {"train_limit", Type::kCount, &DataSpec::train_limit,
     "use only the first N training samples (0 = all)"},
    {"test_limit", Type::kCount, &DataSpec::test_limit,
     "use only the first N test samples (0 = all)"},
    {"shuffle", Type::kBool, &DataSpec::shuffle, "reshuffle the training set every epoch"},
};

constexpr DataArg kImageArgs[] = {
    {"scale", Type::kNumber, &DataSpec::scale,
     "multiply pixel values first: 1/255 maps bytes to [0, 1] (ToTensor())"},
    {"normalize",
     Type::kNormalize,
     {},
     "(mean, std), then (x - mean) / std (Normalize(mean, std)); each a number or a tuple per "
     "channel"},
    kLimitArgs[0],
    kLimitArgs[1],
    kLimitArgs[2],
};

constexpr DataArg kTableArgs[] = {
    {"test_fraction", Type::kFraction, &DataSpec::test_fraction,
     "the share of samples held out as the test split (rounded up)"},
    {"standardize", Type::kBool, &DataSpec::standardize,
     "StandardScaler fit on the train split, applied to both"},
    {"one_hot", Type::kBool, &DataSpec::one_hot, "class labels become f32 one-hot targets"},
    {"seed", Type::kCount, &DataSpec::seed, "seeds the generator and the split"},
    kLimitArgs[0],
    kLimitArgs[1],
    kLimitArgs[2],
};

// --- Each source's own arguments ---------------------------------------------------------

constexpr DataArg kImageDirArgs[] = {
    {"path", Type::kWord, &DataSpec::path, "directory of the IDX files"},
};
constexpr DataArg kIdxArgs[] = {
    {"path", Type::kWord, &DataSpec::path, "directory of the IDX files", /*required=*/true},
};
constexpr DataArg kCsvArgs[] = {
    {"path", Type::kWord, &DataSpec::path, "the CSV file (a header row, cells are numbers)",
     /*required=*/true},
    {"features", Type::kColumns, &DataSpec::features,
     "feature columns (default: every column but the label)"},
    {"label", Type::kWord, &DataSpec::label, "the label column (default: the last)"},
    {"regression", Type::kBool, &DataSpec::regression,
     "labels are real targets instead of class indices"},
};
constexpr DataArg kTensorsArgs[] = {
    {"features", Type::kWord, &DataSpec::path, "the features file (kiln's tensor format)",
     /*required=*/true},
    {"labels", Type::kWord, &DataSpec::labels_path, "the labels file (kiln's tensor format)",
     /*required=*/true},
    {"regression", Type::kBool, &DataSpec::regression,
     "i64 labels are real targets instead of class indices"},
};
// scikit-learn's names; defaults are sklearn's (runtime/synthetic.h).
constexpr DataArg kMakeClassificationArgs[] = {
    {"n_samples", Type::kGenerator, {}, "samples (100)"},
    {"n_features", Type::kGenerator, {}, "features (20)"},
    {"n_informative", Type::kGenerator, {}, "informative features (2)"},
    {"n_redundant", Type::kGenerator, {}, "linear combinations of informative features (2)"},
    {"n_repeated", Type::kGenerator, {}, "copies of informative or redundant features (0)"},
    {"n_classes", Type::kGenerator, {}, "classes (2)"},
    {"n_clusters_per_class", Type::kGenerator, {}, "Gaussian clusters per class (2)"},
    {"flip_y", Type::kGenerator, {}, "fraction of labels reassigned at random (0.01)"},
    {"class_sep", Type::kGenerator, {}, "hypercube size (1.0)"},
    {"hypercube", Type::kGenerator, {}, "clusters on hypercube vertices (true)"},
};
constexpr DataArg kMakeRegressionArgs[] = {
    {"n_samples", Type::kGenerator, {}, "samples (100)"},
    {"n_features", Type::kGenerator, {}, "features (100)"},
    {"n_informative", Type::kGenerator, {}, "features with nonzero weight (10)"},
    {"bias", Type::kGenerator, {}, "added to every target (0)"},
    {"noise", Type::kGenerator, {}, "std of Gaussian noise on the targets (0)"},
};

// A table source's loader: read or make the table, then split it as the spec says.
template <absl::StatusOr<Dataset> (*kMakeTable)(const DataSpec&)>
absl::StatusOr<DataSplits> LoadTable(const DataSource& source, const DataSpec& spec) {
  KILN_ASSIGN_OR_RETURN(Dataset table, kMakeTable(spec));
  return SplitTable(std::move(table), spec);
}

// --- The table ---------------------------------------------------------------------------

constexpr DataSource kDataSources[] = {
    {"fashion_mnist", DataSourceKind::kImages, "Fashion-MNIST (Debian's fashion-mnist package)",
     kImageDirArgs, kFashionMnistDefaultDir, LoadImageDirectory},
    {"mnist", DataSourceKind::kImages, "MNIST from a directory of its IDX files", kImageDirArgs, "",
     LoadImageDirectory},
    {"idx", DataSourceKind::kImages, "any MNIST-style directory of IDX files", kIdxArgs, "",
     LoadImageDirectory},
    {"csv", DataSourceKind::kTable, "a CSV file with a header row", kCsvArgs, "",
     LoadTable<ReadCsvTable>},
    {"tensors", DataSourceKind::kTable, "features and labels in kiln's tensor files", kTensorsArgs,
     "", LoadTable<ReadTensorTable>},
    {"make_classification", DataSourceKind::kGenerator,
     "sklearn.datasets.make_classification: Gaussian clusters on hypercube vertices",
     kMakeClassificationArgs, "", LoadTable<MakeClassificationTable>},
    {"make_regression", DataSourceKind::kGenerator,
     "sklearn.datasets.make_regression: y = X w + bias + noise", kMakeRegressionArgs, "",
     LoadTable<MakeRegressionTable>},
};

// Whether `arg` sets a field of the type its syntax reads.
constexpr bool FieldFits(const DataArg& arg) {
  switch (arg.type) {
    case Type::kWord:
      return std::holds_alternative<std::string DataSpec::*>(arg.field);
    case Type::kNumber:
    case Type::kFraction:
      return std::holds_alternative<double DataSpec::*>(arg.field);
    case Type::kCount:
      return std::holds_alternative<int64_t DataSpec::*>(arg.field) ||
             std::holds_alternative<uint64_t DataSpec::*>(arg.field);
    case Type::kBool:
      return std::holds_alternative<bool DataSpec::*>(arg.field);
    case Type::kColumns:
      return std::holds_alternative<std::vector<std::string> DataSpec::*>(arg.field);
    case Type::kNormalize:
    case Type::kGenerator:
      return std::holds_alternative<std::monostate>(arg.field);
  }
  return false;
}

// A source without a loader, or an argument whose field cannot hold what it reads, cannot
// compile.
constexpr bool EveryRecordIsComplete() {
  for (std::span<const DataArg> args :
       {std::span<const DataArg>(kImageArgs), std::span<const DataArg>(kTableArgs)}) {
    for (const DataArg& arg : args) {
      if (!FieldFits(arg) || arg.summary.empty()) return false;
    }
  }
  for (const DataSource& source : kDataSources) {
    if (source.load == nullptr || source.summary.empty()) return false;
    for (const DataArg& arg : source.args) {
      if (!FieldFits(arg) || arg.summary.empty()) return false;
    }
  }
  return true;
}
static_assert(EveryRecordIsComplete(),
              "every data source needs a loader, and every argument a field of its type");

}  // namespace

std::span<const DataSource> DataSources() { return kDataSources; }

const DataSource* FindDataSource(std::string_view name) {
  for (const DataSource& source : kDataSources) {
    if (source.name == name) return &source;
  }
  return nullptr;
}

std::vector<std::string> DataSourceNames() {
  std::vector<std::string> names;
  for (const DataSource& source : kDataSources) names.emplace_back(source.name);
  return names;
}

std::vector<DataArg> ArgsOf(const DataSource& source) {
  std::vector<DataArg> args(source.args.begin(), source.args.end());
  std::span<const DataArg> common = source.kind == DataSourceKind::kImages
                                        ? std::span<const DataArg>(kImageArgs)
                                        : std::span<const DataArg>(kTableArgs);
  args.insert(args.end(), common.begin(), common.end());
  return args;
}

std::string ArgValueText(const DataArg& arg, const DataSpec& spec) {
  auto number = [](double value) { return absl::StrFormat("%.15g", value); };
  switch (arg.type) {
    case Type::kWord:
      return spec.*std::get<std::string DataSpec::*>(arg.field);
    case Type::kNumber:
    case Type::kFraction:
      return number(spec.*std::get<double DataSpec::*>(arg.field));
    case Type::kCount:
      if (auto* field = std::get_if<int64_t DataSpec::*>(&arg.field)) {
        return absl::StrCat(spec.*(*field));
      }
      return absl::StrCat(spec.*std::get<uint64_t DataSpec::*>(arg.field));
    case Type::kBool:
      return spec.*std::get<bool DataSpec::*>(arg.field) ? "true" : "false";
    case Type::kColumns:
      return absl::StrCat(
          "[", absl::StrJoin(spec.*std::get<std::vector<std::string> DataSpec::*>(arg.field), ","),
          "]");
    case Type::kNormalize:
      return absl::StrCat("((", absl::StrJoin(spec.mean, ","), "),(",
                          absl::StrJoin(spec.stddev, ","), "))");
    case Type::kGenerator: {
      auto it = spec.params.find(std::string(arg.name));
      return it == spec.params.end() ? "" : number(it->second);
    }
  }
  return "";
}

}  // namespace kiln::runtime
