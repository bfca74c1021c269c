// The version line `kiln --version` and `kiln bench`'s report header print.
#ifndef KILN_TOOLS_VERSION_LINE_H_
#define KILN_TOOLS_VERSION_LINE_H_

#include <string>

namespace kiln::tools {

// "0.5.0 (commit 91660ea at configure time)": kKilnVersion and the commit CMake saw.
std::string VersionLine();

}  // namespace kiln::tools

#endif  // KILN_TOOLS_VERSION_LINE_H_
