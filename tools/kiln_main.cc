// kiln: compile and train .kiln model files.
#include <csignal>
#include <iostream>
#include <string>
#include <vector>

#include "tools/commands.h"
#include "tools/version_line.h"

namespace {

constexpr char kUsage[] = R"(kiln — a compiler and runtime for training neural networks

Usage:
  kiln train FILE [options]      Compile FILE and train it, one line per epoch.
  kiln compile FILE [options]    Compile FILE and print or write an intermediate form.
  kiln profile FILE [options]    Time the compiled step and each of its fused kernels.
  kiln bench FILE [options]      Benchmark every fused kernel: percentiles, roofline, and
                                 the same step unfused; --calibrate measures the roofline.
  kiln opt FILE.kir --passes=P   Run graph passes on IR text and print the resulting graph.
  kiln build FILE -o PROGRAM     Compile FILE ahead of time into a program that trains,
                                 evaluates and predicts with no compiler inside.
  kiln plot METRICS.json...      Draw train/test loss and test accuracy by epoch as an SVG
                                 (several files: their runs compared in one plot).
  kiln tune FILE --space ...     Search hyperparameters: trials of kiln train --set ...,
                                 stopped early by ASHA.
  kiln import MODEL.onnx         Convert an ONNX model into a .kiln file and a weights file.
  kiln export FILE --weights W -o MODEL.onnx
                                 Write the evaluation graph with weights W as ONNX.
  kiln run MODEL --input NAME=FILE ...
                                 Evaluate a .kiln (with --weights) or .onnx model on
                                 tensor files; --test-dir DIR checks ONNX test data.
  kiln predict FILE --weights W  Predict the test split with checkpoint W: CSV (class,p0,..)
                                 to stdout or -o FILE.csv; --grid FILE.svg draws the first
                                 --count N (20) test images captioned predicted (truth),
                                 green when right, red when wrong (--columns, 10 a row).
                                 Takes --data-dir, --test-limit, --eval-batch-size.
  kiln features FILE --weights W --capture NAME[,NAME...] -o FILE.svg
                                 Draw test sample --index I (0) and the first six
                                 channels of each named value (c1, layer1.0.conv1) as
                                 images; --out-tensors F.kt writes the values (one
                                 capture: F.kt, several: F.NAME.kt). The values are extra
                                 outputs of a separate compile; ordinary runs are unchanged.
  kiln --version                 The version and the commit it was built from.
  kiln --help                    This text.

kiln train options (override the model's train section):
  --epochs N           Number of epochs.
  --batch-size N       Mini-batch size (the static batch dimension B).
  --lr X               Learning rate.
  --seed S             Seed for initialization, shuffling and dropout.
  --metrics-out FILE   Write per-epoch metrics as JSON:
                       {"epochs":[{"epoch":1,"train_loss":..,"test_loss":..,
                                   "test_accuracy":..,"seconds":..},...]}
  --tensorboard DIR    Write TensorBoard scalars to a new event file in DIR (tensorboard
                       --logdir DIR): per epoch train/test loss, test accuracy, learning
                       rate and seconds; the training loss every --log-every steps. A
                       resumed run adds a file continuing the steps.
  --log-every N        Steps between --tensorboard loss points (default 100; 0: epochs only).
  --progress           During each epoch, redraw one line in place: steps done of total,
                       steps/s, ETA and the mean loss so far (at most ~10 times a second),
                       replaced by the epoch line. The default when stdout is a terminal.
  --quiet              No progress line even on a terminal: one line per epoch.
  --plot FILE.svg      After every epoch, draw the run's loss and accuracy so far to
                       FILE.svg (as kiln plot does).
  --set NAME=VALUE     Override a top-level constant of the model (hidden = 16), a train
                       section key (batch_size) or an optimizer setting (lr, momentum);
                       repeatable. An unknown NAME is an error listing what can be set.
  --checkpoint FILE    After every epoch, save parameters, optimizer state and metrics to
                       FILE (atomically: temp file, fsync, rename; CRC-32 checked on load).
  --resume             Continue the run saved in --checkpoint FILE from the epoch after its
                       last one, as if it had never stopped (missing file: start fresh).
                       The run must keep the settings the checkpoint records (model,
                       optimizer, --lr, schedule, --batch-size, --seed, the limits, the
                       data); only --epochs, --threads and the output files may change.
  --save-best FILE     After every epoch with the lowest test loss so far, save a checkpoint
                       to FILE: the model with the best validation loss (load it with
                       --init-weights FILE).
  --per-class          After the last epoch, print the test loss and each class's test
                       accuracy (Test Accuracy of 7: 98% (1010/1028)), as the train
                       section's metrics = [.., per_class_accuracy] does.
  --init-weights FILE  Start from the parameters and batch-norm running statistics in FILE
                       (a kiln checkpoint, or PyTorch weights written by
                       scripts/export_pytorch_weights.py), matched by name; the train
                       section's init_exclude names those that keep their initializers.
  --data-dir DIR       Directory with the IDX files (default: the data source's own).
  --train-limit N      Train on the first N samples only.
  --test-limit N       Evaluate on the first N test samples only.
  --threads N          Worker threads including the caller (default: one per core).
  --device cpu|cuda    Where the step runs (default: cpu). cuda needs an NVIDIA GPU and a
                       kiln built with the CUDA toolkit; without one: "no CUDA device found".
  --cpu NAME           The CPU the host code is generated for (default: native, this
                       machine's; host means the same): x86-64-v2 (SSE4.2), x86-64-v3
                       (AVX2, FMA), x86-64-v4 (AVX-512), or an LLVM CPU name (znver3,
                       skylake-avx512, ...). A CPU whose features this machine lacks is
                       refused, naming them.
  --no-cache           Compile from scratch and store nothing in the code cache (below).

Each epoch prints: train loss, test loss, test accuracy, epoch seconds (training only), and
training samples per second.

kiln compile options:
  --emit=KIND          What to print (default: fusion):
                         summary the layers, their output shapes and parameter counts
                         dot     the model graph for Graphviz (| dot -Tpng > model.png);
                                 with --mode, the compiled step, each fused kernel a
                                 cluster
                         svg     the same picture drawn by Graphviz's dot (needs the
                                 graphviz package; without it, one line saying so)
                         ir      the training-step graph after the graph passes
                         graph   the same graph serialized (Protobuf, with its train
                                 config; written to -o, default <model>.train.kgraph)
                         fusion  the kernels and the ops fused into each, then
                                 why each value read across kernels was not fused
                         memory  the buffer plan: planned peak vs. no reuse
                         llvm    the optimized LLVM IR of every kernel and entry point
                         asm     assembly for the target CPU (--cpu)
                         obj     an object file (written to -o, default <model>.o)
                         cuda    the CUDA C of every kernel (with --device cuda)
  --mode=train|eval    Which step to show for ir/fusion/memory (default: train) and
                       for dot/svg (default there: the model, not a step).
  --batch-size N       The static batch size to compile for (default: the train section's).
  -o FILE / --output FILE   Where to write the output (default: stdout; obj: <model>.o).
  --disable-pass NAME  Skip a pass of simplify (convolve-input-gradients, factor-sums,
                       split-sums, fold-constants, cse, dce).
  --dump-passes        Print the graph after every pass (to stderr).
  --device cpu|cuda    The backend to generate for (cuda: only --emit=cuda).
  --cpu NAME           The CPU that llvm, asm and obj are generated for (default: native):
                       the names kiln train takes; the code need not run on this machine.
  --no-cache           Compile obj from scratch and store nothing in the code cache.
  --data-parallel      Build the data-parallel training step: every gradient averaged over
                       the ranks by all_reduce ops on ~25 MB buckets before clipping and the
                       optimizer (docs/distributed.md). On one process it trains exactly as
                       without the flag; multi-process launch is not there yet.

kiln profile options:
  --mode=train|eval    Which step to time (default: train).
  --batch-size N       The static batch size (default: the train section's).
  --iterations N       Calls per measurement (default: 200).
  --threads N          Worker threads including the caller (default: one per core).
  --device cpu|cuda    Where to time it (cuda: the step as the trainer runs it, then each
                       kernel alone, timed with device events).
  --cpu NAME           The CPU the code is generated for, as kiln train --cpu (default:
                       native): x86-64-v3 times the AVX2 code on an AVX-512 machine.
  --data-parallel      Time one rank's step of a data-parallel run (gradients bucketed for
                       the all-reduce, which is the identity here).
Prints microseconds per step, then for every kernel its time, share of the step, achieved
GFLOP/s and GB/s (bytes of the buffers it reads and writes). The quick form of kiln bench:
one best-of-10 figure per kernel, warm caches, no roofline or unfused comparison.

kiln bench options (docs/cli.md explains every column):
  --mode=train|eval    Which step to benchmark (default: train).
  --batch-size N       The static batch size (default: the train section's).
  --threads N          Worker threads including the caller (default: one per core).
  --cold | --warm      Evict 2x the last-level cache before every run (default) or not.
  --budget-ms N        Timed runs per kernel until N ms are spent (default 200; 5..2000 runs).
  --calibrate          First measure FP32 FMA peak and triad bandwidth for --threads and
                       store them in ~/.cache/kiln/machine.json; FILE is then optional.
  --cpu NAME           The CPU the code is generated for, as kiln train --cpu (default:
                       native). The roofline is the one --calibrate --cpu NAME measured
                       with that code (an AVX2 build's peak on an AVX-512 machine is half).
  --no-unfused         Skip the one-op-per-kernel comparison and its correctness gate.
  --no-cache           Compile from scratch and store nothing in the code cache.
  --json F             Write the whole report as JSON (schema kiln-bench/1).
  --compare BASE.json  Mark kernels slower than BASE beyond the noise; exit 1 if any.
  --device cpu         Where to benchmark (cuda: not yet).
Fails (exit 1) when the fused and unfused steps differ by more than 1e-2 relative (L2).

kiln build options:
  -o PROGRAM / --output PROGRAM  The program to write (PROGRAM --help lists its commands:
                       train, eval, predict, info).
  --cpu CPU            The CPU to compile for: native (default), x86-64-v2, x86-64-v3
                       (any AVX2 machine), x86-64-v4 (AVX-512), or an LLVM CPU name.
  --batch-size N       The static training batch size (default: the train section's).
  --eval-batch-size N  The static evaluation and prediction batch size (default: the same).
  --train-limit N, --test-limit N, --data-dir DIR
                       The data the program trains on by default; its batch sizes (full
                       batches and the last one) are compiled for these sample counts.
  --epochs N, --lr X, --seed S, --init-weights FILE
                       The program's defaults (its own flags override them).
  --ranks N            A data-parallel program for mpirun -np N (linked with MPI): every
                       rank's entry points, batch_size / N per rank (docs/distributed.md).
  --no-cache           Compile from scratch and store nothing in the code cache.
Links in-process with LLD against the runtime archive built with kiln (<kiln dir>/aot/).

kiln plot options (METRICS.json: files that kiln train --metrics-out wrote):
  -o FILE / --output FILE   Where to write the SVG (default: the first file with .svg for
                       .json; - for stdout).
  --title TEXT         The plot's title (default: "<runs>: loss and accuracy by epoch").
Train loss (solid) and test loss (dashed) share the left axis, test accuracy (dotted) has
its own on the right; a ring marks each run's lowest test loss. One run: a colour per
metric; several: a colour per run, named by its file in the legend (by its folder when
the files share a name, as kiln tune's DIR/trial_<i>/metrics.json do).

kiln tune options (each trial is kiln train FILE --set NAME=VALUE ... in its own process):
  --space 'NAME=KIND(..)'  A dimension to search (repeatable): choice(a,b,..),
                       uniform(lo,hi), loguniform(lo,hi), randint(lo,hi); NAME as --set.
  --trials N           Configurations to try (default 10), sampled with --seed S (default 0).
  --parallel P         Trials running at once (default 1); --threads N each (default 1).
  --metric M           test_loss (default), test_accuracy or train_loss, after each epoch.
  --mode min|max       Whether smaller or larger M is better (default: max for accuracy).
  --scheduler asha|fifo  asha (default) stops trials early; fifo runs all to the end.
  --grace-period G, --reduction-factor RF, --max-epochs R
                       ASHA: rungs at epochs G*RF^k below R (defaults 1, 2, 10); at a rung a
                       trial continues only if among the best max(1, floor(n/RF)) of the n
                       recorded there (ties: the earlier trial; NaN and failures worst).
  --out DIR            Where each trial keeps params.json, metrics.json, checkpoint.ckpt and
                       train.log (DIR/trial_<i>/), plus DIR/results.json (default: kiln_tune).
  --train-limit N, --test-limit N, --data-dir DIR   Passed to every trial.
Prints a table of the trials (status, parameters, metric, epochs, time) whenever one changes
status, then the best trial (by its last metric) as a kiln train command.

The code cache: kiln train, bench, build and compile --emit=obj keep the machine code of
every kernel they compile, keyed by its IR, the target CPU and features and the kiln and
LLVM versions, and reuse it next time (a model compiled before loads in a fraction of a
second). It lives in $KILN_CACHE_DIR, else $XDG_CACHE_HOME/kiln/code, else
~/.cache/kiln/code; KILN_CACHE_DIR=off turns it off. Entries are checksummed (a damaged
one is compiled again) and may be deleted at any time.

kiln opt options (FILE.kir is a graph in the IR text format, ir/printer.h):
  --passes=a,b,c       Registered passes to run in order, the graph verified after each.
  --list-passes        Print the registered passes with a line about each.
  -o FILE / --output FILE   Where to write the result (default: stdout).
  --dump-passes        Print the graph after every pass (to stderr).
Prints the resulting graph; the analyses fuse and plan-memory leave it unchanged and print
their report after it ("// fuse", "// plan-memory").

kiln import options (MODEL.onnx: IR version 3 and up, opsets 9-21):
  -o FILE / --output FILE   The .kiln file to write (default: MODEL.kiln).
  --weights FILE       The weights to write, a kiln checkpoint named by the model's
                       init_weights (default: the output's name with .kckpt).
  --name NAME          The model's name (default: from the file name).
Parameters keep the ONNX initializers' names; the model's loss and train section are stubs
to edit. An op kiln cannot express is a one-line error naming the op, node and opset.

kiln export options (FILE: a .kiln model; the output is what its loss compares, e.g. logits):
  --weights FILE       The trained weights (a kiln checkpoint); required.
  -o FILE / --output FILE   The .onnx file to write; required.
  --opset N            The ONNX opset to write (13-21, default 17).
  --batch-size N       The batch size of a model that cannot take any (default 1); the
                       batch dim is the symbol N wherever the graph allows.

kiln run options (MODEL: a .kiln model or an .onnx model; evaluation mode):
  --weights FILE       A kiln checkpoint: required for .kiln; for .onnx it replaces the
                       initializers of the same names.
  --input NAME=FILE    A value for input NAME: an ONNX TensorProto (.pb) or a kiln tensor
                       file (.kt); repeat for each input. The batch size is the first
                       input's first dim.
  -o DIR / --output DIR   Write every output as DIR/NAME.pb and DIR/NAME.kt (default: print
                       each output's shape and first values).
  --test-dir DIR       ONNX's test-runner layout: read DIR/input_<i>.pb, compare the outputs
                       with DIR/output_<i>.pb (rtol 1e-3, atol 1e-7); exit 0 only on a match.
)";

}  // namespace

int kiln::tools::ExitStatus(const absl::Status& status) {
  if (status.ok()) return 0;
  std::cerr << "kiln: " << status.message() << "\n";
  return 1;
}

int main(int argc, char** argv) {
  // Past `ulimit -f` the kernel sends SIGXFSZ, whose default action kills kiln mid-write and
  // leaves a temporary file behind. Ignored, the write fails with EFBIG instead, which every
  // writer reports as a one-line error after removing its temporary file, like ENOSPC.
  std::signal(SIGXFSZ, SIG_IGN);
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::cout << kUsage;
    return args.empty() ? 2 : 0;
  }
  if (args[0] == "--version" || args[0] == "version") {
    std::cout << "kiln " << kiln::tools::VersionLine() << "\n";
    return 0;
  }
  std::string command = args[0];
  args.erase(args.begin());
  for (std::string& arg : args) {
    if (arg == "-o") arg = "--output";
  }
  if (command == "train") return kiln::tools::TrainCommand(args);
  if (command == "compile") return kiln::tools::CompileCommand(args);
  if (command == "profile") return kiln::tools::ProfileCommand(args);
  if (command == "bench") return kiln::tools::BenchCommand(args);
  if (command == "opt") return kiln::tools::OptCommand(args);
  if (command == "build") return kiln::tools::BuildCommand(args);
  if (command == "plot") return kiln::tools::PlotCommand(args);
  if (command == "tune") return kiln::tools::TuneCommand(args);
  if (command == "import") return kiln::tools::ImportCommand(args);
  if (command == "export") return kiln::tools::ExportCommand(args);
  if (command == "run") return kiln::tools::RunCommand(args);
  if (command == "predict") return kiln::tools::PredictCommand(args);
  if (command == "features") return kiln::tools::FeaturesCommand(args);
  std::cerr << "kiln: unknown command '" << command << "' (expected train, compile, profile, bench, opt, build, plot, tune, import, export, run, predict or features; see kiln --help)\n";
  return 2;
}
