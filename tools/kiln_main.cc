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
  kiln import MODEL.onnx         Convert an ONNX model into a .kiln file and a weights file.
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

Each epoch prints: train loss, test loss, test accuracy, epoch seconds (training only), and
training samples per second.

kiln compile options:
  --emit=KIND          What to print (default: fusion):
                         summary the layers, their output shapes and parameter counts
                         dot     the model graph for Graphviz (| dot -Tpng > model.png)
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
  --mode=train|eval    Which step to show for ir/fusion/memory (default: train).
  --batch-size N       The static batch size to compile for (default: the train section's).
  -o FILE / --output FILE   Where to write the output (default: stdout; obj: <model>.o).
  --disable-pass NAME  Skip a pass of simplify (fold-constants, cse, dce).
  --dump-passes        Print the graph after every pass (to stderr).
  --device cpu|cuda    The backend to generate for (cuda: only --emit=cuda).
  --cpu NAME           The CPU that llvm, asm and obj are generated for (default: native):
                       the names kiln train takes; the code need not run on this machine.

kiln profile options:
  --mode=train|eval    Which step to time (default: train).
  --batch-size N       The static batch size (default: the train section's).
  --iterations N       Calls per measurement (default: 200).
  --threads N          Worker threads including the caller (default: one per core).
  --device cpu|cuda    Where to time it (cuda: the step as the trainer runs it, then each
                       kernel alone, timed with device events).
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
  --no-unfused         Skip the one-op-per-kernel comparison and its correctness gate.
  --json F             Write the whole report as JSON (schema kiln-bench/1).
  --compare BASE.json  Mark kernels slower than BASE beyond the noise; exit 1 if any.
  --device cpu         Where to benchmark (cuda: not yet).
Fails (exit 1) when the fused and unfused steps differ by more than 1e-4 relative.

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
Links in-process with LLD against the runtime archive built with kiln (<kiln dir>/aot/).

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
  if (command == "import") return kiln::tools::ImportCommand(args);
  std::cerr << "kiln: unknown command '" << command << "' (expected train, compile, profile, bench, opt, build or import; see kiln --help)\n";
  return 2;
}
