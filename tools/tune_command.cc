// `kiln tune FILE --space ... --trials N --parallel P`: hyperparameter search. Each trial is a
// separate `kiln train FILE --set NAME=VALUE ...` process (this same binary), P at a time, run
// one rung at a time: it trains to the next rung and exits, the ASHA rule (tools/tune/asha.h)
// judges its metrics file, and a trial that passes is resumed from its checkpoint to the next
// rung (or the end) while one that does not is stopped. A table like Ray Tune's is printed whenever
// a trial changes status, then the best configuration. DIR/trial_<i>/ keeps each trial's
// params.json, metrics.json (the history), checkpoint.ckpt and train.log; DIR/results.json sums
// them up.
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "support/command_line.h"
#include "support/file_io.h"
#include "support/status.h"
#include "tools/commands.h"
#include "tools/metrics_plot.h"
#include "tools/model_settings.h"
#include "tools/tune/asha.h"
#include "tools/tune/search_space.h"

extern char** environ;

namespace kiln::tools {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr auto kPollInterval = std::chrono::milliseconds(100);

// Ray Tune's status names: PENDING, RUNNING, then TERMINATED (ran to the end), STOPPED (the
// scheduler stopped it early) or ERROR (it failed).
enum class TrialStatus { kPending, kRunning, kTerminated, kStopped, kError };
const char* StatusName(TrialStatus status) {
  switch (status) {
    case TrialStatus::kPending:
      return "PENDING";
    case TrialStatus::kRunning:
      return "RUNNING";
    case TrialStatus::kTerminated:
      return "TERMINATED";
    case TrialStatus::kStopped:
      return "STOPPED";
    case TrialStatus::kError:
      return "ERROR";
  }
  return "?";
}

struct Trial {
  int id = 0;
  std::string name;  // "trial_3"
  fs::path dir;
  std::vector<ModelSetting> params;
  TrialStatus status = TrialStatus::kPending;
  pid_t pid = -1;
  int64_t target_epochs = 0;   // Where the running segment stops: the next rung, or the end.
  std::vector<double> metric;  // The metric after each epoch judged so far.
  Clock::time_point start;     // Of the running segment.
  double seconds = 0;          // Of the finished segments.
  std::string error;           // ERROR: the last line of its log.
};

struct TuneOptions {
  std::string model;
  std::vector<SearchDimension> space;
  int64_t trials = 10, parallel = 1, threads = 1;
  std::string metric = "test_loss";
  AshaOptions asha;
  bool early_stopping = true;  // --scheduler asha; fifo runs every trial to max_epochs.
  uint64_t seed = 0;
  fs::path out;
  std::vector<std::string> train_flags;  // Passed through to every trial.
};

double MetricOf(const runtime::EpochMetrics& m, const std::string& metric) {
  if (metric == "train_loss") return m.train_loss;
  if (metric == "test_accuracy") return m.test_accuracy;
  return m.test_loss;
}

std::string JsonString(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string ParamsJson(const std::vector<ModelSetting>& params) {
  std::vector<std::string> fields;
  for (const ModelSetting& p : params) {
    fields.push_back(absl::StrCat(JsonString(p.name), ":", JsonString(p.value)));
  }
  return absl::StrCat("{", absl::StrJoin(fields, ","), "}");
}

std::string Number(double value) {
  return std::isfinite(value) ? absl::StrFormat("%.6g", value) : "null";
}

// Starts the trial's next segment: kiln train up to the next rung (or max_epochs), resuming from
// its checkpoint after the first. Stopping at the rung, rather than being killed when the
// tuner notices, makes a stopped trial end exactly at its rung however fast its epochs are;
// the resume continues bit for bit as if it had never stopped (runtime/resume.h).
absl::Status Launch(const TuneOptions& options, const AshaScheduler& asha, Trial& trial) {
  const int64_t done = static_cast<int64_t>(trial.metric.size());
  trial.target_epochs = options.asha.max_epochs;
  for (int64_t rung : asha.rungs()) {
    if (options.early_stopping && rung > done) {
      trial.target_epochs = rung;
      break;
    }
  }
  std::error_code ignored;
  fs::create_directories(trial.dir, ignored);
  KILN_RETURN_IF_ERROR(
      WriteFileAtomically((trial.dir / "params.json").string(), ParamsJson(trial.params) + "\n"));
  std::vector<std::string> args = {"/proc/self/exe",
                                   "train",
                                   options.model,
                                   "--epochs",
                                   absl::StrCat(trial.target_epochs),
                                   "--metrics-out",
                                   (trial.dir / "metrics.json").string(),
                                   "--checkpoint",
                                   (trial.dir / "checkpoint.ckpt").string(),
                                   "--threads",
                                   absl::StrCat(options.threads),
                                   "--quiet"};
  for (const ModelSetting& p : trial.params) {
    args.push_back("--set");
    args.push_back(absl::StrCat(p.name, "=", p.value));
  }
  args.insert(args.end(), options.train_flags.begin(), options.train_flags.end());
  if (done > 0) args.push_back("--resume");
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  const std::string log = (trial.dir / "train.log").string();
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(),
                                   O_WRONLY | O_CREAT | (done > 0 ? O_APPEND : O_TRUNC), 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  const int spawned = posix_spawn(&trial.pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (spawned != 0) {
    return absl::InternalError(absl::StrCat("cannot start a trial: ", strerror(spawned)));
  }
  trial.status = TrialStatus::kRunning;
  trial.start = Clock::now();
  return absl::OkStatus();
}

// Reads the trial's metrics file and puts each new epoch before the scheduler; returns
// whether the last one passed (kContinue), which matters at the segment's end: its rung.
bool JudgeNewEpochs(const TuneOptions& options, AshaScheduler& asha, Trial& trial) {
  absl::StatusOr<std::string> text = ReadWholeFile((trial.dir / "metrics.json").string());
  if (!text.ok()) return false;
  absl::StatusOr<std::vector<runtime::EpochMetrics>> epochs = ParseMetricsJson(*text);
  if (!epochs.ok()) return false;
  bool passed = true;
  for (size_t e = trial.metric.size(); e < epochs->size(); ++e) {
    const double value = MetricOf((*epochs)[e], options.metric);
    trial.metric.push_back(value);
    const int64_t epoch = static_cast<int64_t>(e) + 1;
    passed = asha.OnResult(trial.id, epoch, value) == AshaScheduler::Decision::kContinue;
  }
  return passed;
}

std::string LastLine(const fs::path& file) {
  absl::StatusOr<std::string> text = ReadWholeFile(file.string());
  if (!text.ok()) return "";
  std::string s = *text;
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s.substr(s.rfind('\n') == std::string::npos ? 0 : s.rfind('\n') + 1);
}

// The trial with the best last metric (ties: the lower id); null if none finished an epoch.
const Trial* BestTrial(const std::vector<Trial>& trials, bool minimize) {
  const Trial* best = nullptr;
  for (const Trial& t : trials) {
    if (t.metric.empty() || !std::isfinite(t.metric.back())) continue;
    const double v = t.metric.back(), b = best ? best->metric.back() : 0;
    if (best == nullptr || (minimize ? v < b : v > b)) best = &t;
  }
  return best;
}

std::string Table(const TuneOptions& options, const std::vector<Trial>& trials) {
  std::vector<std::string> header = {"trial", "status"};
  for (const SearchDimension& d : options.space) header.push_back(d.name);
  header.insert(header.end(), {options.metric, "epochs", "time"});
  std::vector<std::vector<std::string>> rows = {header};
  int counts[5] = {0, 0, 0, 0, 0};
  for (const Trial& t : trials) {
    ++counts[static_cast<int>(t.status)];
    std::vector<std::string> row = {t.name, StatusName(t.status)};
    for (const ModelSetting& p : t.params) row.push_back(p.value);
    row.push_back(t.metric.empty() ? "-" : absl::StrFormat("%.4f", t.metric.back()));
    row.push_back(absl::StrCat(t.metric.size()));
    const double seconds =
        t.seconds + (t.status == TrialStatus::kRunning
                         ? std::chrono::duration<double>(Clock::now() - t.start).count()
                         : 0.0);
    row.push_back(t.status == TrialStatus::kPending ? "-" : absl::StrFormat("%.1fs", seconds));
    rows.push_back(std::move(row));
  }
  std::vector<size_t> width(header.size(), 0);
  for (const auto& row : rows) {
    for (size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
  }
  std::string out = absl::StrFormat(
      "== kiln tune: %d trials: %d pending, %d running, %d terminated, %d stopped, %d error\n",
      trials.size(), counts[0], counts[1], counts[2], counts[3], counts[4]);
  for (const auto& row : rows) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c) {
      absl::StrAppend(&line, c == 0 ? "" : "  ", row[c],
                      std::string(width[c] - row[c].size(), ' '));
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

std::string ResultsJson(const TuneOptions& options, const std::vector<Trial>& trials,
                        const Trial* best) {
  std::vector<std::string> entries;
  for (const Trial& t : trials) {
    std::vector<std::string> history;
    for (double v : t.metric) history.push_back(Number(v));
    entries.push_back(absl::StrCat(
        "{\"trial\":", JsonString(t.name), ",\"status\":", JsonString(StatusName(t.status)),
        ",\"params\":", ParamsJson(t.params), ",\"epochs\":", t.metric.size(), ",\"",
        options.metric, "\":[", absl::StrJoin(history, ","), "],\"seconds\":", Number(t.seconds),
        ",\"dir\":", JsonString(t.dir.string()), "}"));
  }
  return absl::StrCat("{\"metric\":", JsonString(options.metric),
                      ",\"mode\":", JsonString(options.asha.minimize ? "min" : "max"),
                      ",\"best\":", best ? JsonString(best->name) : "null", ",\"trials\":[\n",
                      absl::StrJoin(entries, ",\n"), "\n]}\n");
}

absl::Status RunTrials(const TuneOptions& options, std::vector<Trial>& trials) {
  KILN_ASSIGN_OR_RETURN(AshaScheduler asha, AshaScheduler::Create(options.asha));
  size_t next = 0;
  int running = 0;
  while (true) {
    bool changed = false;
    while (running < options.parallel && next < trials.size()) {
      KILN_RETURN_IF_ERROR(Launch(options, asha, trials[next++]));
      ++running;
      changed = true;
    }
    if (running == 0) break;
    std::this_thread::sleep_for(kPollInterval);
    for (Trial& t : trials) {
      if (t.status != TrialStatus::kRunning) continue;
      int wait_status = 0;
      if (waitpid(t.pid, &wait_status, WNOHANG) != t.pid) continue;
      t.seconds += std::chrono::duration<double>(Clock::now() - t.start).count();
      const bool passed = JudgeNewEpochs(options, asha, t);
      const int64_t done = static_cast<int64_t>(t.metric.size());
      if (!WIFEXITED(wait_status) || WEXITSTATUS(wait_status) != 0) {
        t.status = TrialStatus::kError;
        t.error = LastLine(t.dir / "train.log");
        asha.OnFailure(t.id, done);
      } else if (done >= options.asha.max_epochs || done < t.target_epochs) {
        t.status = TrialStatus::kTerminated;  // The end, or the model's own early stopping.
      } else if (!passed && options.early_stopping) {
        t.status = TrialStatus::kStopped;
      } else {
        KILN_RETURN_IF_ERROR(Launch(options, asha, t));  // Promoted: on to the next rung.
        continue;
      }
      --running;
      changed = true;
    }
    if (changed) std::cout << Table(options, trials) << std::flush;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> TakeSpaces(std::vector<std::string>& args) {
  std::vector<std::string> spaces, rest;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--space") {
      if (i + 1 >= args.size()) return absl::InvalidArgumentError("--space needs NAME=KIND(..)");
      spaces.push_back(args[++i]);
    } else if (args[i].rfind("--space=", 0) == 0) {
      spaces.push_back(args[i].substr(8));
    } else {
      rest.push_back(args[i]);
    }
  }
  args = std::move(rest);
  return spaces;
}

absl::StatusOr<TuneOptions> ReadOptions(std::vector<std::string> args) {
  TuneOptions options;
  KILN_ASSIGN_OR_RETURN(std::vector<std::string> spaces, TakeSpaces(args));
  for (const std::string& text : spaces) {
    KILN_ASSIGN_OR_RETURN(SearchDimension d, ParseSearchDimension(text));
    options.space.push_back(std::move(d));
  }
  KILN_ASSIGN_OR_RETURN(
      CommandLine line,
      CommandLine::Parse(args, {"trials", "parallel", "metric", "mode", "scheduler", "grace-period",
                                "reduction-factor", "max-epochs", "seed", "output", "out",
                                "threads", "train-limit", "test-limit", "data-dir"}));
  if (line.positional().size() != 1) {
    return absl::InvalidArgumentError(
        "usage: kiln tune FILE --space NAME=KIND(..) ... (see kiln --help)");
  }
  if (options.space.empty()) return absl::InvalidArgumentError("kiln tune needs --space");
  options.model = line.positional()[0];
  KILN_ASSIGN_OR_RETURN(auto trials, line.Int("trials"));
  KILN_ASSIGN_OR_RETURN(auto parallel, line.Int("parallel"));
  KILN_ASSIGN_OR_RETURN(auto threads, line.Int("threads"));
  KILN_ASSIGN_OR_RETURN(auto grace, line.Int("grace-period"));
  KILN_ASSIGN_OR_RETURN(auto rf, line.Int("reduction-factor"));
  KILN_ASSIGN_OR_RETURN(auto max_epochs, line.Int("max-epochs"));
  KILN_ASSIGN_OR_RETURN(auto seed, line.Int("seed"));
  options.trials = trials.value_or(10);
  options.parallel = parallel.value_or(1);
  options.threads = threads.value_or(1);
  if (options.trials < 1 || options.parallel < 1 || options.threads < 1) {
    return absl::InvalidArgumentError("--trials, --parallel and --threads must be at least 1");
  }
  options.metric = line.String("metric").value_or("test_loss");
  if (options.metric != "test_loss" && options.metric != "test_accuracy" &&
      options.metric != "train_loss") {
    return absl::InvalidArgumentError(absl::StrCat(
        "--metric ", options.metric, ": expected test_loss, test_accuracy or train_loss"));
  }
  const std::string mode =
      line.String("mode").value_or(options.metric == "test_accuracy" ? "max" : "min");
  if (mode != "min" && mode != "max") {
    return absl::InvalidArgumentError("--mode must be min or max, got '" + mode + "'");
  }
  const std::string scheduler = line.String("scheduler").value_or("asha");
  if (scheduler != "asha" && scheduler != "fifo") {
    return absl::InvalidArgumentError("--scheduler must be asha or fifo, got '" + scheduler + "'");
  }
  options.early_stopping = scheduler == "asha";
  options.asha = {.grace_period = grace.value_or(1),
                  .reduction_factor = rf.value_or(2),
                  .max_epochs = max_epochs.value_or(10),
                  .minimize = mode == "min"};
  options.seed = static_cast<uint64_t>(seed.value_or(0));
  options.out = line.String("out").value_or(line.String("output").value_or("kiln_tune"));
  for (const char* flag : {"train-limit", "test-limit", "data-dir"}) {
    if (auto value = line.String(flag)) {
      options.train_flags.insert(options.train_flags.end(), {absl::StrCat("--", flag), *value});
    }
  }
  return options;
}

absl::Status Tune(const std::vector<std::string>& args) {
  KILN_ASSIGN_OR_RETURN(TuneOptions options, ReadOptions(args));
  // Checked here too, so a bad rule is one line before any trial starts.
  KILN_RETURN_IF_ERROR(AshaScheduler::Create(options.asha).status());
  std::mt19937_64 rng(options.seed);
  std::vector<Trial> trials(options.trials);
  for (int i = 0; i < options.trials; ++i) {
    trials[i].id = i;
    trials[i].name = absl::StrCat("trial_", i);
    trials[i].dir = options.out / trials[i].name;
    trials[i].params = SampleConfiguration(options.space, rng);
  }
  KILN_RETURN_IF_ERROR(RunTrials(options, trials));
  const Trial* best = BestTrial(trials, options.asha.minimize);
  KILN_RETURN_IF_ERROR(WriteFileAtomically((options.out / "results.json").string(),
                                           ResultsJson(options, trials, best)));
  for (const Trial& t : trials) {
    if (t.status == TrialStatus::kError) std::cout << t.name << " failed: " << t.error << "\n";
  }
  if (best == nullptr) {
    return absl::AbortedError(absl::StrCat("no trial finished an epoch; see ",
                                           (options.out / "trial_0" / "train.log").string()));
  }
  std::vector<std::string> sets;
  for (const ModelSetting& p : best->params)
    sets.push_back(absl::StrCat("--set ", p.name, "=", p.value));
  std::cout << absl::StrFormat("Best trial %s: %s %.4f after %d epochs\n  kiln train %s %s\n",
                               best->name, options.metric, best->metric.back(), best->metric.size(),
                               options.model, absl::StrJoin(sets, " "))
            << absl::StrFormat("Trials, metrics and checkpoints in %s (results.json)\n",
                               options.out.string());
  return absl::OkStatus();
}

}  // namespace

int TuneCommand(const std::vector<std::string>& args) { return ExitStatus(Tune(args)); }

}  // namespace kiln::tools
