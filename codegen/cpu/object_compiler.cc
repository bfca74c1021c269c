#include "codegen/cpu/object_compiler.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "codegen/cpu/llvm_target.h"
#include "codegen/cpu/split_model.h"
#include "codegen/cpu/vector_isa.h"
#include "lld/Common/Driver.h"
#include "llvm/Support/raw_ostream.h"
#include "support/file_io.h"
#include "support/status.h"

LLD_HAS_DRIVER(elf)

namespace kiln::cpu {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// One module to turn into an object: from the cache, or compiled by a worker.
struct Job {
  llvm::Module* module = nullptr;
  std::string digest;  // Its cache key.
  std::string object;
  absl::Status status;
};

// O3 and code generation of `job.module`, with a TargetMachine of the worker's own (LLVM's are
// not safe to share between threads).
absl::Status CompileJob(Job& job, llvm::TargetMachine& target,
                        const std::optional<CodeCache>& cache) {
  KILN_RETURN_IF_ERROR(OptimizeModule(*job.module, target));
  KILN_ASSIGN_OR_RETURN(job.object, EmitModule(*job.module, target, OutputKind::kObject));
  // A cache that cannot be written costs the next run a compile, nothing more.
  if (cache) (void)cache->Store(job.digest, job.object);
  return absl::OkStatus();
}

// Runs the jobs the cache lacked on `threads` threads, each taking the next job in turn.
void CompileMissing(std::vector<Job*>& missing, const std::string& cpu, int threads,
                    const std::optional<CodeCache>& cache) {
  std::atomic<size_t> next{0};
  auto work = [&] {
    absl::StatusOr<std::unique_ptr<llvm::TargetMachine>> target = CreateTargetMachine(cpu);
    for (size_t i = next++; i < missing.size(); i = next++) {
      missing[i]->status = target.ok() ? CompileJob(*missing[i], **target, cache) : target.status();
    }
  };
  std::vector<std::thread> workers;
  for (int t = 1; t < threads; ++t) workers.emplace_back(work);
  work();
  for (std::thread& worker : workers) worker.join();
}

int CompilerThreads(int requested, size_t jobs) {
  int threads = requested > 0 ? requested : static_cast<int>(std::thread::hardware_concurrency());
  return std::clamp(threads, 1, static_cast<int>(std::max<size_t>(jobs, 1)));
}

}  // namespace

absl::StatusOr<CpuObjects> CompileObjects(const codegen::CompiledModel& model,
                                          const ObjectOptions& options) {
  const Clock::time_point start = Clock::now();
  CpuObjects out;
  KILN_ASSIGN_OR_RETURN(out.target, CreateTargetMachine(options.cpu));
  KILN_ASSIGN_OR_RETURN(SplitModel split, SplitModelIntoKernels(model, VectorIsaOf(*out.target)));
  if (options.finish_entries) options.finish_entries(split.spec, *split.entries);

  std::vector<Job> jobs(1 + split.bodies.size());
  jobs[0].module = split.entries.get();

  const llvm::TargetMachine& target = *out.target;
  auto key = [&](const std::string& ir) {
    return KeyForThisCompiler(ir, target.getTargetTriple().str(), target.getTargetCPU().str(),
                              target.getTargetFeatureString().str())
        .Digest();
  };
  jobs[0].digest = key(ModuleBitcode(*split.entries));
  // A body's name is already the digest of its bitcode: no need to hash that again.
  for (size_t i = 0; i < split.bodies.size(); ++i) {
    jobs[i + 1].module = split.bodies[i].module.get();
    jobs[i + 1].digest = key(split.bodies[i].name);
  }
  std::vector<Job*> missing;
  for (Job& job : jobs) {
    std::optional<std::string> cached =
        options.cache ? options.cache->Load(job.digest) : std::nullopt;
    if (cached) {
      job.object = std::move(*cached);
      ++out.stats.cached;
    } else {
      missing.push_back(&job);
    }
  }
  out.stats.emit_seconds = SecondsSince(start);

  const Clock::time_point compile_start = Clock::now();
  CompileMissing(missing, options.cpu, CompilerThreads(options.threads, missing.size()),
                 options.cache);
  out.stats.compile_seconds = SecondsSince(compile_start);
  for (Job& job : jobs) {
    KILN_RETURN_IF_ERROR(job.status);
    out.objects.push_back(std::move(job.object));
  }
  out.spec = std::move(split.spec);
  out.stats.kernels = split.num_kernels;
  out.stats.modules = static_cast<int>(jobs.size());
  return out;
}

absl::StatusOr<std::string> MergeObjects(const std::vector<std::string>& objects) {
  if (objects.size() == 1) return objects[0];
  // LLD reads and writes files: stage them in a private temporary directory.
  std::string pattern = (std::filesystem::temp_directory_path() / "kiln-merge-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) {
    return absl::InternalError(absl::StrCat("cannot create a temporary directory like ", pattern));
  }
  const std::filesystem::path dir = pattern;
  std::vector<std::string> args = {"ld.lld", "-r", "-o", (dir / "merged.o").string()};
  for (size_t i = 0; i < objects.size(); ++i) {
    args.push_back((dir / absl::StrCat(i, ".o")).string());
    std::ofstream file(args.back(), std::ios::binary);
    file << objects[i];
    if (!file.flush()) return absl::InternalError(absl::StrCat(args.back(), ": write failed"));
  }
  std::vector<const char*> argv;
  for (const std::string& arg : args) argv.push_back(arg.c_str());
  std::string out_text, err_text;
  llvm::raw_string_ostream out(out_text), err(err_text);
  lld::Result result = lld::lldMain(argv, out, err, {{lld::Gnu, &lld::elf::link}});
  absl::StatusOr<std::string> merged =
      result.retCode == 0
          ? ReadWholeFile((dir / "merged.o").string())
          : absl::InternalError(absl::StrCat("merging objects failed: ",
                                             absl::StripTrailingAsciiWhitespace(err.str())));
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
  return merged;
}

}  // namespace kiln::cpu
