#include "runtime/synthetic.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "runtime/random.h"
#include "support/source_location.h"
#include "support/status.h"

namespace kiln::runtime {
namespace {

// Streams of the generator seed, so changing one step's draws leaves the others alone.
constexpr uint64_t kSyntheticStream = 0x53594e5448ull;  // "SYNTH"

// A row-major matrix of doubles; the generators work in double like NumPy and round once.
struct Matrix {
  int64_t rows = 0, cols = 0;
  std::vector<double> values;
  Matrix(int64_t r, int64_t c) : rows(r), cols(c), values(r * c, 0.0) {}
  double& at(int64_t r, int64_t c) { return values[r * cols + c]; }
};

void Shuffle(std::vector<int64_t>& order, Rng& rng) {
  for (int64_t i = static_cast<int64_t>(order.size()) - 1; i > 0; --i) {
    std::swap(order[i], order[rng.Below(static_cast<uint64_t>(i) + 1)]);
  }
}

std::vector<int64_t> Iota(int64_t n) {
  std::vector<int64_t> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = i;
  return v;
}

// `count` distinct vertices of the {0,1}^dims hypercube (sklearn's _generate_hypercube).
std::vector<std::vector<int>> HypercubeVertices(int64_t count, int64_t dims, Rng& rng) {
  std::set<std::vector<int>> seen;
  std::vector<std::vector<int>> vertices;
  while (static_cast<int64_t>(vertices.size()) < count) {
    std::vector<int> vertex(dims);
    for (int& bit : vertex) bit = static_cast<int>(rng.Below(2));
    if (seen.insert(vertex).second) vertices.push_back(std::move(vertex));
  }
  return vertices;
}

// Rows in `order`, columns in `columns`, rounded to f32.
std::vector<float> Gather(Matrix& x, const std::vector<int64_t>& order,
                          const std::vector<int64_t>& columns) {
  std::vector<float> out;
  out.reserve(x.values.size());
  for (int64_t r : order) {
    for (int64_t c : columns) out.push_back(static_cast<float>(x.at(r, c)));
  }
  return out;
}

absl::Status NeedPositive(const char* name, int64_t value) {
  if (value > 0) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrFormat("%s must be positive, got %d", name, value));
}

absl::Status CheckClassification(const ClassificationParams& p) {
  for (auto [name, value] : {std::pair{"n_samples", p.n_samples}, {"n_features", p.n_features},
                             {"n_informative", p.n_informative}, {"n_classes", p.n_classes},
                             {"n_clusters_per_class", p.n_clusters_per_class}}) {
    KILN_RETURN_IF_ERROR(NeedPositive(name, value));
  }
  if (p.n_redundant < 0 || p.n_repeated < 0) {
    return absl::InvalidArgumentError(
        "make_classification: n_redundant and n_repeated must be >= 0");
  }
  if (p.n_informative + p.n_redundant + p.n_repeated > p.n_features) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "make_classification: n_informative + n_redundant + n_repeated (%d) must be at most "
        "n_features (%d)",
        p.n_informative + p.n_redundant + p.n_repeated, p.n_features));
  }
  const double vertices = std::ldexp(1.0, static_cast<int>(std::min<int64_t>(p.n_informative, 62)));
  if (static_cast<double>(p.n_classes * p.n_clusters_per_class) > vertices) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "make_classification: n_classes (%d) * n_clusters_per_class (%d) must be at most "
        "2**n_informative (%.0f)",
        p.n_classes, p.n_clusters_per_class, vertices));
  }
  if (p.flip_y < 0 || p.flip_y > 1) {
    return absl::InvalidArgumentError("make_classification: flip_y must be in [0, 1]");
  }
  return absl::OkStatus();
}

// Reads integer and number arguments by name, remembering which were used.
class ParamReader {
 public:
  explicit ParamReader(const std::map<std::string, double>& values) : values_(values) {}

  absl::Status Int(const std::string& name, int64_t& out) {
    known_.push_back(name);
    auto it = values_.find(name);
    if (it == values_.end()) return absl::OkStatus();
    if (it->second != std::floor(it->second)) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s must be an integer, got %g", name, it->second));
    }
    out = static_cast<int64_t>(it->second);
    return absl::OkStatus();
  }
  void Number(const std::string& name, double& out) {
    known_.push_back(name);
    if (auto it = values_.find(name); it != values_.end()) out = it->second;
  }
  void Bool(const std::string& name, bool& out) {
    known_.push_back(name);
    if (auto it = values_.find(name); it != values_.end()) out = it->second != 0;
  }
  absl::Status CheckAllKnown(const std::string& generator) const {
    for (const auto& [name, value] : values_) {
      if (std::find(known_.begin(), known_.end(), name) != known_.end()) continue;
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s has no argument '%s'%s (arguments: %s)", generator, name, DidYouMean(name, known_),
          absl::StrJoin(known_, ", ")));
    }
    return absl::OkStatus();
  }

 private:
  const std::map<std::string, double>& values_;
  std::vector<std::string> known_;
};

}  // namespace

absl::StatusOr<Dataset> MakeClassification(const ClassificationParams& p) {
  KILN_RETURN_IF_ERROR(CheckClassification(p));
  Rng rng(DeriveSeed(p.seed, kSyntheticStream, 0));
  const int64_t n = p.n_samples, informative = p.n_informative;
  const int64_t useless = p.n_features - p.n_informative - p.n_redundant - p.n_repeated;
  const int64_t clusters = p.n_classes * p.n_clusters_per_class;

  // Equal cluster sizes; the remainder goes one each to the first clusters.
  std::vector<int64_t> cluster_size(clusters, n / clusters);
  for (int64_t i = 0; i < n % clusters; ++i) ++cluster_size[i];

  // Centroids: hypercube vertices with side 2 * class_sep, centred on the origin.
  std::vector<std::vector<int>> vertices = HypercubeVertices(clusters, informative, rng);
  Matrix x(n, p.n_features);
  std::vector<int64_t> y(n, 0);
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t c = 0; c < informative; ++c) x.at(r, c) = rng.Normal();
  }
  // Each cluster: its standard-normal rows times a random covariance factor A in [-1, 1),
  // moved to its centroid.
  int64_t start = 0;
  std::vector<double> row(informative);
  for (int64_t k = 0; k < clusters; ++k) {
    Matrix a(informative, informative);
    for (double& v : a.values) v = 2 * rng.Uniform01() - 1;
    for (int64_t r = start; r < start + cluster_size[k]; ++r) {
      y[r] = k % p.n_classes;
      for (int64_t j = 0; j < informative; ++j) {
        double sum = 0.0;
        for (int64_t i = 0; i < informative; ++i) sum += x.at(r, i) * a.at(i, j);
        const double centroid =
            p.hypercube ? (2 * vertices[k][j] - 1) * p.class_sep : 0.0;
        row[j] = sum + centroid;
      }
      for (int64_t j = 0; j < informative; ++j) x.at(r, j) = row[j];
    }
    start += cluster_size[k];
  }
  // Redundant features: random linear combinations of the informative ones.
  if (p.n_redundant > 0) {
    Matrix b(informative, p.n_redundant);
    for (double& v : b.values) v = 2 * rng.Uniform01() - 1;
    for (int64_t r = 0; r < n; ++r) {
      for (int64_t j = 0; j < p.n_redundant; ++j) {
        double sum = 0.0;
        for (int64_t i = 0; i < informative; ++i) sum += x.at(r, i) * b.at(i, j);
        x.at(r, informative + j) = sum;
      }
    }
  }
  // Repeated features: copies of informative or redundant ones.
  const int64_t useful = informative + p.n_redundant;
  for (int64_t j = 0; j < p.n_repeated; ++j) {
    const auto source = static_cast<int64_t>((useful - 1) * rng.Uniform01() + 0.5);
    for (int64_t r = 0; r < n; ++r) x.at(r, useful + j) = x.at(r, source);
  }
  // Useless features: pure noise.
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t c = p.n_features - useless; c < p.n_features; ++c) x.at(r, c) = rng.Normal();
  }
  // Label noise: a fraction flip_y of the samples get a uniformly random class.
  for (int64_t r = 0; r < n; ++r) {
    if (rng.Uniform01() < p.flip_y) y[r] = static_cast<int64_t>(rng.Below(p.n_classes));
  }

  std::vector<int64_t> order = Iota(n), columns = Iota(p.n_features);
  if (p.shuffle) {
    Shuffle(order, rng);
    Shuffle(columns, rng);
  }
  Dataset data;
  data.num_samples = n;
  data.feature_dim = p.n_features;
  data.sample_shape = {p.n_features};
  data.features = Gather(x, order, columns);
  data.labels.reserve(n);
  for (int64_t r : order) data.labels.push_back(y[r]);
  return data;
}

absl::StatusOr<Dataset> MakeRegression(const RegressionParams& p) {
  KILN_RETURN_IF_ERROR(NeedPositive("n_samples", p.n_samples));
  KILN_RETURN_IF_ERROR(NeedPositive("n_features", p.n_features));
  if (p.n_informative < 0 || p.noise < 0) {
    return absl::InvalidArgumentError("make_regression: n_informative and noise must be >= 0");
  }
  Rng rng(DeriveSeed(p.seed, kSyntheticStream, 1));
  const int64_t n = p.n_samples, informative = std::min(p.n_informative, p.n_features);
  Matrix x(n, p.n_features);
  for (double& v : x.values) v = rng.Normal();
  std::vector<double> coef(p.n_features, 0.0);
  for (int64_t i = 0; i < informative; ++i) coef[i] = 100 * rng.Uniform01();
  std::vector<double> y(n);
  for (int64_t r = 0; r < n; ++r) {
    double sum = p.bias;
    for (int64_t c = 0; c < p.n_features; ++c) sum += x.at(r, c) * coef[c];
    y[r] = sum;
  }
  if (p.noise > 0) {
    for (double& v : y) v += p.noise * rng.Normal();
  }
  std::vector<int64_t> order = Iota(n), columns = Iota(p.n_features);
  if (p.shuffle) {
    Shuffle(order, rng);
    Shuffle(columns, rng);
  }
  Dataset data;
  data.num_samples = n;
  data.feature_dim = p.n_features;
  data.sample_shape = {p.n_features};
  data.features = Gather(x, order, columns);
  data.labels.assign(n, 0);
  data.target_dim = 1;
  for (int64_t r : order) data.targets.push_back(static_cast<float>(y[r]));
  return data;
}

absl::StatusOr<ClassificationParams> ClassificationParamsOf(
    const std::map<std::string, double>& values, uint64_t seed) {
  ClassificationParams p;
  p.seed = seed;
  ParamReader read(values);
  for (auto [name, field] :
       {std::pair{"n_samples", &p.n_samples}, {"n_features", &p.n_features},
        {"n_informative", &p.n_informative}, {"n_redundant", &p.n_redundant},
        {"n_repeated", &p.n_repeated}, {"n_classes", &p.n_classes},
        {"n_clusters_per_class", &p.n_clusters_per_class}}) {
    KILN_RETURN_IF_ERROR(read.Int(name, *field));
  }
  read.Number("flip_y", p.flip_y);
  read.Number("class_sep", p.class_sep);
  read.Bool("hypercube", p.hypercube);
  read.Bool("shuffle", p.shuffle);
  KILN_RETURN_IF_ERROR(read.CheckAllKnown("make_classification"));
  return p;
}

absl::StatusOr<RegressionParams> RegressionParamsOf(const std::map<std::string, double>& values,
                                                    uint64_t seed) {
  RegressionParams p;
  p.seed = seed;
  ParamReader read(values);
  for (auto [name, field] : {std::pair{"n_samples", &p.n_samples},
                             {"n_features", &p.n_features}, {"n_informative", &p.n_informative}}) {
    KILN_RETURN_IF_ERROR(read.Int(name, *field));
  }
  read.Number("bias", p.bias);
  read.Number("noise", p.noise);
  read.Bool("shuffle", p.shuffle);
  KILN_RETURN_IF_ERROR(read.CheckAllKnown("make_regression"));
  return p;
}

}  // namespace kiln::runtime
