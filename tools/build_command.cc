// `kiln build FILE -o PROGRAM`: compile the model's training step, evaluation and optimizer ahead
// of time for one CPU and link them with the runtime into a program that trains, evaluates and
// predicts with no compiler inside (aot/), in-process with LLD.
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <filesystem>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "codegen/cpu/aot_object.h"
#include "runtime/trainer.h"
#include "support/command_line.h"
#include "support/file_io.h"
#include "support/status.h"
#include "support/version.h"
#include "tools/aot_linker.h"
#include "tools/commands.h"
#include "tools/compile_pipeline.h"
#include "tools/train_setup.h"

namespace kiln::tools {
namespace {

// Predict runs the evaluation step at the full batch; a test set smaller than one batch did not
// ask for that entry.
absl::Status AddFullEvalBatch(PreparedTraining& prepared) {
  const int64_t batch = prepared.recipe.eval_batch_size > 0 ? prepared.recipe.eval_batch_size
                                                            : prepared.recipe.batch_size;
  for (const CompiledEntry& entry : prepared.compiled.entries) {
    if (!entry.request.training && entry.request.batch_size == batch) return absl::OkStatus();
  }
  CompileOptions options = prepared.options;
  options.entries = {{false, batch}};
  KILN_ASSIGN_OR_RETURN(CompiledModel extra, CompileModel(prepared.ast, prepared.train, options));
  for (CompiledEntry& entry : extra.entries) prepared.compiled.entries.push_back(std::move(entry));
  return absl::OkStatus();
}

// "fashion_mlp" -> "FASHION_MLP": the prefix of the library header's macros.
std::string MacroPrefix(const std::string& model) {
  std::string prefix;
  for (char c : model) prefix += std::isalnum(static_cast<unsigned char>(c)) ? std::toupper(c) : '_';
  if (prefix.empty() || std::isdigit(static_cast<unsigned char>(prefix[0]))) prefix = "M_" + prefix;
  return prefix;
}

// The sizes a C caller needs, from the entries' buffers: per-sample features and labels, what
// predict writes per sample, and the static batch sizes.
absl::StatusOr<std::string> ModelMacros(const runtime::ModelBundle& bundle) {
  const runtime::TrainRecipe& recipe = bundle.recipe;
  const int64_t eval_batch = recipe.eval_batch_size > 0 ? recipe.eval_batch_size : recipe.batch_size;
  const runtime::EntrySpec* train = nullptr;
  const runtime::EntrySpec* eval = nullptr;
  for (const runtime::EntrySpec& entry : bundle.program.entries) {
    if (entry.training && entry.batch_size == recipe.batch_size) train = &entry;
    if (!entry.training && entry.batch_size == eval_batch) eval = &entry;
  }
  if (train == nullptr || eval == nullptr) {
    return absl::InternalError("the library needs a training and an evaluation entry");
  }
  auto find = [](const runtime::EntrySpec& entry, const std::string& name) {
    for (const runtime::BufferSpec& buffer : entry.buffers) {
      if (buffer.name == name) return &buffer;
    }
    return static_cast<const runtime::BufferSpec*>(nullptr);
  };
  const runtime::BufferSpec* features = find(*train, bundle.program.features_input);
  const runtime::BufferSpec* labels = find(*train, bundle.program.labels_input);
  const runtime::BufferSpec* probabilities = find(*eval, runtime::kProbabilitiesOutput);
  const runtime::BufferSpec* values =
      probabilities != nullptr ? probabilities : find(*eval, runtime::kValueOutput);
  if (features == nullptr || labels == nullptr || values == nullptr) {
    return absl::InternalError("the entries lack the features, labels or prediction buffers");
  }
  const std::string m = MacroPrefix(recipe.model_name);
  auto per_sample = [](const runtime::BufferSpec& b, int64_t batch) {
    return runtime::NumElements(b.shape) / batch;
  };
  return absl::StrFormat(
      "/* %1$s.h: the C interface of lib%1$s.a, written by `kiln build` (kiln %2$s) for %3$s. */\n"
      "#ifndef %4$s_MODEL_H_\n#define %4$s_MODEL_H_\n\n"
      "#define %4$s_BATCH_SIZE %5$d        /* samples per kiln_train_step */\n"
      "#define %4$s_EVAL_BATCH_SIZE %6$d   /* samples per kiln_eval_step and kiln_predict */\n"
      "#define %4$s_FEATURES %7$d          /* floats per sample */\n"
      "#define %4$s_LABELS_F32 %8$d        /* 1: labels are float, 0: int64_t class indices */\n"
      "#define %4$s_LABEL_VALUES %9$d      /* labels per sample */\n"
      "#define %4$s_OUTPUTS %10$d          /* kiln_predict's floats per sample */\n"
      "#define %4$s_CLASSES %11$d          /* 0: a regression model */\n\n",
      recipe.model_name, kKilnVersion, bundle.target_cpu, m, recipe.batch_size, eval_batch,
      per_sample(*features, recipe.batch_size),
      labels->type == runtime::ElementType::kF32 ? 1 : 0, per_sample(*labels, recipe.batch_size),
      per_sample(*values, eval_batch),
      probabilities != nullptr ? std::max<int64_t>(2, per_sample(*probabilities, eval_batch)) : 0);
}

// DIR/lib<model>.a and DIR/<model>.h.
absl::Status WriteLibrary(const LinkManifest& manifest, const cpu::AotObject& object,
                          const std::string& dir) {
  const std::string& name = object.bundle.recipe.model_name;
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) return absl::InvalidArgumentError(absl::StrCat(dir, ": ", error.message()));
  KILN_RETURN_IF_ERROR(WriteLibraryArchive(manifest, object.object, name + ".o",
                                           absl::StrCat(dir, "/lib", name, ".a")));
  KILN_ASSIGN_OR_RETURN(std::string header_path, manifest.Get("capi_header"));
  KILN_ASSIGN_OR_RETURN(std::string api, ReadWholeFile(header_path));
  KILN_ASSIGN_OR_RETURN(std::string macros, ModelMacros(object.bundle));
  const std::string m = MacroPrefix(name);
  return WriteFileAtomically(absl::StrCat(dir, "/", name, ".h"),
                             absl::StrCat(macros, api, "\n#endif /* ", m, "_MODEL_H_ */\n"));
}

int64_t FileSize(const std::string& path) {
  std::error_code error;
  const auto size = std::filesystem::file_size(path, error);
  return error ? 0 : static_cast<int64_t>(size);
}

absl::Status Build(const std::vector<std::string>& args) {
  const auto start = std::chrono::steady_clock::now();
  KILN_ASSIGN_OR_RETURN(
      CommandLine line,
      CommandLine::Parse(args, {"output", "cpu", "batch-size", "eval-batch-size", "epochs",
                                "lr", "seed", "data-dir", "train-limit", "test-limit",
                                "init-weights", "ranks"},
                         {"lib", "no-cache"}));
  const std::string output = line.String("output").value_or("");
  if (output.empty()) {
    return absl::InvalidArgumentError("usage: kiln build FILE -o PROGRAM [options] (see kiln --help)");
  }
  const std::string cpu = line.String("cpu").value_or("native");
  KILN_ASSIGN_OR_RETURN(LinkManifest manifest, FindLinkManifest());  // Before compiling.
  KILN_ASSIGN_OR_RETURN(auto ranks, line.Int("ranks"));
  if (ranks && (*ranks < 1 || *ranks > 4096)) {
    return absl::InvalidArgumentError("--ranks must be between 1 and 4096");
  }
  const int world = static_cast<int>(ranks.value_or(1));
  if (world > 1 && line.Has("lib")) {
    return absl::InvalidArgumentError("--ranks builds programs; the C library (--lib) runs on "
                                      "one process");
  }
  // A data-parallel program holds every rank's entry points: one binary for the whole job.
  KILN_ASSIGN_OR_RETURN(PreparedTraining prepared,
                        PrepareTraining(line, "build", {}, {.world = world}));
  KILN_RETURN_IF_ERROR(AddFullEvalBatch(prepared));

  runtime::ModelBundle bundle;
  bundle.kiln_version = kKilnVersion;
  bundle.recipe = prepared.recipe;
  KILN_ASSIGN_OR_RETURN(cpu::AotObject object,
                        cpu::EmitAotObject(prepared.compiled, cpu, std::move(bundle),
                                            /*use_cache=*/!line.Has("no-cache")));
  if (line.Has("lib")) {
    KILN_RETURN_IF_ERROR(WriteLibrary(manifest, object, output));
    std::cout << absl::StrFormat("kiln: built %s/lib%s.a and %s/%s.h for %s\n", output,
                                 prepared.compiled.name, output, prepared.compiled.name,
                                 object.bundle.target_cpu);
    return absl::OkStatus();
  }
  const std::string object_path = absl::StrCat(output, ".kiln-", getpid(), ".o");
  KILN_RETURN_IF_ERROR(WriteFileAtomically(object_path, object.object));
  KILN_ASSIGN_OR_RETURN(std::vector<std::string> link_args,
                        ExecutableLinkArgs(manifest, {object_path}, output, world > 1));
  absl::Status linked = RunLld(link_args);
  std::filesystem::remove(object_path);
  KILN_RETURN_IF_ERROR(linked);

  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << absl::StrFormat(
      "kiln: built %s — %s for %s, %d entry points; %d KiB (generated object %d KiB) in %.2fs\n",
      output, prepared.compiled.name, object.bundle.target_cpu, prepared.compiled.entries.size(),
      FileSize(output) / 1024, static_cast<int64_t>(object.object.size()) / 1024, seconds);
  return absl::OkStatus();
}

}  // namespace

int BuildCommand(const std::vector<std::string>& args) {
  return ExitStatus(Build(args));
}

}  // namespace kiln::tools
