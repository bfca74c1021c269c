// Linking what `kiln build` generates into a program, in-process with LLD (no compiler driver or
// system linker needed): the generated object, the runtime archive built with kiln, and the C and
// C++ runtime of this machine. Where those are is recorded when kiln is built (the link manifest,
// aot/CMakeLists.txt), so a machine set up by the README links with nothing else installed.
#ifndef KILN_TOOLS_AOT_LINKER_H_
#define KILN_TOOLS_AOT_LINKER_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace kiln::tools {

// The link manifest: "key=value" lines naming the runtime archives (runtime, main, capi), the
// C runtime objects (crt1, crti, crtbegin, crtend, crtn), library directories (libdirs,
// ':'-separated) and the dynamic linker; where kiln was built with MPI, also what data-parallel
// programs link instead or in addition (main_mpi, mpi_runtime, mpi_libs: ':'-separated).
struct LinkManifest {
  std::map<std::string, std::string> values;
  absl::StatusOr<std::string> Get(const std::string& key) const;
};

// Reads the manifest installed next to the running kiln (<dir of kiln>/aot/link.txt). Errors
// say what is missing and that `kiln build` needs the build's aot/ folder.
absl::StatusOr<LinkManifest> FindLinkManifest();
absl::StatusOr<LinkManifest> ParseLinkManifest(const std::string& text, const std::string& path);

// ld.lld's arguments for an executable from `objects` (the generated one first); with
// `data_parallel`, one that joins mpirun's world (kiln build --ranks): an error naming what to
// install when kiln was built without MPI.
absl::StatusOr<std::vector<std::string>> ExecutableLinkArgs(const LinkManifest& manifest,
                                                            const std::vector<std::string>& objects,
                                                            const std::string& output,
                                                            bool data_parallel = false);

// A static library for C programs: `object` (the generated code, named `object_name` in the
// archive) and every member of the runtime archive, with one symbol table.
absl::Status WriteLibraryArchive(const LinkManifest& manifest, const std::string& object,
                                 const std::string& object_name, const std::string& output);

// Runs LLD in this process; its diagnostics become the error.
absl::Status RunLld(const std::vector<std::string>& args);

}  // namespace kiln::tools

#endif  // KILN_TOOLS_AOT_LINKER_H_
