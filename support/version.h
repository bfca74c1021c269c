// kiln's version, as `kiln --version` and built programs' `info` report it.
#ifndef KILN_SUPPORT_VERSION_H_
#define KILN_SUPPORT_VERSION_H_

namespace kiln {

inline constexpr char kKilnVersion[] = "0.5.0";

}  // namespace kiln

#endif  // KILN_SUPPORT_VERSION_H_
