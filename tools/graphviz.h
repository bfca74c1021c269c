// Rendering DOT text with Graphviz's `dot` program (Debian: graphviz), for
// `kiln compile --emit=svg`. kiln does not link Graphviz; it runs `dot` found on PATH, so a
// machine without it still builds, and gets one clear line when it asks for a picture.
#ifndef KILN_TOOLS_GRAPHVIZ_H_
#define KILN_TOOLS_GRAPHVIZ_H_

#include <string>

#include "absl/status/statusor.h"

namespace kiln::tools {

// The error when no `dot` is on PATH.
inline constexpr char kDotMissing[] =
    "--emit=svg needs Graphviz's 'dot' on PATH (Debian: apt-get install graphviz); "
    "--emit=dot writes the graph without it";

// Runs `dot -Tsvg` on `dot_text` and returns the SVG. Errors: kDotMissing, or dot's own first
// line of complaint when it fails.
absl::StatusOr<std::string> RenderDotToSvg(const std::string& dot_text);

}  // namespace kiln::tools

#endif  // KILN_TOOLS_GRAPHVIZ_H_
