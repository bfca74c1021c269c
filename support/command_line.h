// Parsing of command flags (`kiln` subcommands and AOT-built programs): `--name value` or `--name=value`, with typed getters that
// report bad values as one-line errors.
#ifndef KILN_SUPPORT_COMMAND_LINE_H_
#define KILN_SUPPORT_COMMAND_LINE_H_

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace kiln {

class CommandLine {
 public:
  // `flags` lists the flags the subcommand accepts with a value, `switches` those that take
  // none (both without "--"); the rest are positional.
  static absl::StatusOr<CommandLine> Parse(const std::vector<std::string>& args,
                                           const std::set<std::string>& flags,
                                           const std::set<std::string>& switches = {});

  const std::vector<std::string>& positional() const { return positional_; }
  bool Has(const std::string& flag) const { return values_.count(flag) > 0; }
  std::optional<std::string> String(const std::string& flag) const;
  absl::StatusOr<std::optional<int64_t>> Int(const std::string& flag) const;
  absl::StatusOr<std::optional<double>> Double(const std::string& flag) const;

 private:
  std::vector<std::string> positional_;
  std::map<std::string, std::string> values_;
};

// A command's output: to stdout when `path` is empty or "-", else written to the file
// atomically (support/file_io.h), so a failed write leaves no half file behind.
absl::Status WriteCommandOutput(const std::string& contents, const std::string& path);

}  // namespace kiln

#endif  // KILN_SUPPORT_COMMAND_LINE_H_
