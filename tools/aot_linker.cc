#include "tools/aot_linker.h"

#include <unistd.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "lld/Common/Driver.h"
#include "llvm/Object/Archive.h"
#include "llvm/Object/ArchiveWriter.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"
#include "support/file_io.h"
#include "support/status.h"

LLD_HAS_DRIVER(elf)

namespace kiln::tools {

absl::StatusOr<std::string> LinkManifest::Get(const std::string& key) const {
  auto it = values.find(key);
  if (it == values.end() || it->second.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("the link manifest has no '", key, "' (rebuild kiln)"));
  }
  return it->second;
}

absl::StatusOr<LinkManifest> ParseLinkManifest(const std::string& text, const std::string& path) {
  LinkManifest manifest;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    const size_t eq = line.find('=');
    if (eq == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ":", line_number, ": expected key=value"));
    }
    manifest.values[std::string(line.substr(0, eq))] = std::string(line.substr(eq + 1));
  }
  return manifest;
}

absl::StatusOr<LinkManifest> FindLinkManifest() {
  std::error_code error;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", error);
  if (error) return absl::InternalError("cannot find the kiln executable (/proc/self/exe)");
  const std::string path = (self.parent_path() / "aot" / "link.txt").string();
  absl::StatusOr<std::string> text = ReadWholeFile(path);
  if (!text.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "kiln build needs the runtime archive and link manifest built with kiln (", path,
        " is missing; build the kiln_aot_runtime target, or a sanitizer build, which has none)"));
  }
  return ParseLinkManifest(*text, path);
}

absl::StatusOr<std::vector<std::string>> ExecutableLinkArgs(const LinkManifest& manifest,
                                                            const std::vector<std::string>& objects,
                                                            const std::string& output,
                                                            bool data_parallel) {
  if (data_parallel && !manifest.values.contains("main_mpi")) {
    return absl::FailedPreconditionError(
        "kiln build --ranks needs a kiln built with MPI (apt-get install libopenmpi-dev, then "
        "rebuild kiln)");
  }
  std::vector<std::string> args = {"ld.lld", "--build-id", "--eh-frame-hdr", "-m", "elf_x86_64",
                                   "--hash-style=gnu", "--as-needed", "-o", output};
  KILN_ASSIGN_OR_RETURN(std::string linker, manifest.Get("dynamic_linker"));
  args.insert(args.end(), {"-dynamic-linker", linker});
  for (const char* key : {"crt1", "crti", "crtbegin"}) {
    KILN_ASSIGN_OR_RETURN(std::string object, manifest.Get(key));
    args.push_back(object);
  }
  KILN_ASSIGN_OR_RETURN(std::string libdirs, manifest.Get("libdirs"));
  for (absl::string_view dir : absl::StrSplit(libdirs, ':', absl::SkipEmpty())) {
    args.push_back(absl::StrCat("-L", dir));
  }
  args.insert(args.end(), objects.begin(), objects.end());
  KILN_ASSIGN_OR_RETURN(std::string main_archive,
                        manifest.Get(data_parallel ? "main_mpi" : "main"));
  KILN_ASSIGN_OR_RETURN(std::string runtime_archive, manifest.Get("runtime"));
  args.insert(args.end(), {"--start-group", main_archive, runtime_archive});
  if (data_parallel) {
    KILN_ASSIGN_OR_RETURN(std::string mpi_runtime, manifest.Get("mpi_runtime"));
    args.push_back(mpi_runtime);
  }
  args.push_back("--end-group");
  if (data_parallel) {
    KILN_ASSIGN_OR_RETURN(std::string mpi_libs, manifest.Get("mpi_libs"));
    for (absl::string_view lib : absl::StrSplit(mpi_libs, ':', absl::SkipEmpty())) {
      args.emplace_back(lib);
    }
  }
  // libstdc++, libm, libgcc_s, libc and libz are the only other shared objects a program needs.
  args.insert(args.end(),
              {"-lz", "-lstdc++", "-lm", "-lgcc_s", "-lgcc", "-lc", "-lgcc_s", "-lgcc"});
  for (const char* key : {"crtend", "crtn"}) {
    KILN_ASSIGN_OR_RETURN(std::string object, manifest.Get(key));
    args.push_back(object);
  }
  return args;
}

absl::Status WriteLibraryArchive(const LinkManifest& manifest, const std::string& object,
                                 const std::string& object_name, const std::string& output) {
  KILN_ASSIGN_OR_RETURN(std::string runtime_path, manifest.Get("runtime"));
  llvm::ErrorOr<std::unique_ptr<llvm::MemoryBuffer>> runtime =
      llvm::MemoryBuffer::getFile(runtime_path);
  if (!runtime) {
    return absl::FailedPreconditionError(
        absl::StrCat(runtime_path, ": ", runtime.getError().message()));
  }
  auto describe = [](llvm::Error error) { return llvm::toString(std::move(error)); };
  llvm::Expected<std::unique_ptr<llvm::object::Archive>> archive =
      llvm::object::Archive::create((*runtime)->getMemBufferRef());
  if (!archive) return absl::InternalError(absl::StrCat(runtime_path, ": ", describe(archive.takeError())));
  std::vector<llvm::NewArchiveMember> members;
  members.emplace_back(llvm::MemoryBufferRef(object, object_name));
  llvm::Error error = llvm::Error::success();
  for (const llvm::object::Archive::Child& child : (*archive)->children(error)) {
    llvm::Expected<llvm::NewArchiveMember> member =
        llvm::NewArchiveMember::getOldMember(child, /*Deterministic=*/true);
    if (!member) return absl::InternalError(describe(member.takeError()));
    members.push_back(std::move(*member));
  }
  if (error) return absl::InternalError(absl::StrCat(runtime_path, ": ", describe(std::move(error))));
  if (llvm::Error written = llvm::writeArchive(output, members, llvm::SymtabWritingMode::NormalSymtab,
                                               llvm::object::Archive::K_GNU,
                                               /*Deterministic=*/true, /*Thin=*/false)) {
    return absl::InternalError(absl::StrCat(output, ": ", describe(std::move(written))));
  }
  return absl::OkStatus();
}

absl::Status RunLld(const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  for (const std::string& arg : args) argv.push_back(arg.c_str());
  std::string out_text, err_text;
  llvm::raw_string_ostream out(out_text), err(err_text);
  lld::Result result = lld::lldMain(argv, out, err, {{lld::Gnu, &lld::elf::link}});
  out.flush();
  err.flush();
  if (result.retCode == 0) return absl::OkStatus();
  std::string message(absl::StripTrailingAsciiWhitespace(err_text));
  return absl::InternalError(absl::StrCat("linking failed: ", message));
}

}  // namespace kiln::tools
