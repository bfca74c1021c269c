#include "support/command_line.h"

#include <iostream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "support/file_io.h"
#include "support/source_location.h"

namespace kiln {

absl::StatusOr<CommandLine> CommandLine::Parse(const std::vector<std::string>& args,
                                               const std::set<std::string>& flags,
                                               const std::set<std::string>& switches) {
  CommandLine line;
  std::vector<std::string> known(flags.begin(), flags.end());
  known.insert(known.end(), switches.begin(), switches.end());
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg.rfind("--", 0) != 0) {
      line.positional_.push_back(arg);
      continue;
    }
    std::string name = arg.substr(2), value;
    size_t eq = name.find('=');
    bool inline_value = eq != std::string::npos;
    if (inline_value) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    if (switches.count(name)) {
      if (inline_value) return absl::InvalidArgumentError("--" + name + " takes no value");
      line.values_[name] = "";
      continue;
    }
    if (!flags.count(name)) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown flag --", name, DidYouMean(name, known)));
    }
    if (!inline_value) {
      if (i + 1 >= args.size()) return absl::InvalidArgumentError("--" + name + " needs a value");
      value = args[++i];
    }
    line.values_[name] = value;
  }
  return line;
}

std::optional<std::string> CommandLine::String(const std::string& flag) const {
  auto it = values_.find(flag);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

absl::StatusOr<std::optional<int64_t>> CommandLine::Int(const std::string& flag) const {
  std::optional<std::string> text = String(flag);
  if (!text) return std::optional<int64_t>();
  int64_t value;
  if (!absl::SimpleAtoi(*text, &value)) {
    return absl::InvalidArgumentError(absl::StrCat("--", flag, " expects an integer, got '", *text, "'"));
  }
  return std::optional<int64_t>(value);
}

absl::StatusOr<std::optional<double>> CommandLine::Double(const std::string& flag) const {
  std::optional<std::string> text = String(flag);
  if (!text) return std::optional<double>();
  double value;
  if (!absl::SimpleAtod(*text, &value)) {
    return absl::InvalidArgumentError(absl::StrCat("--", flag, " expects a number, got '", *text, "'"));
  }
  return std::optional<double>(value);
}

absl::Status WriteCommandOutput(const std::string& contents, const std::string& path) {
  if (path.empty() || path == "-") {
    std::cout << contents;
    return absl::OkStatus();
  }
  return WriteFileAtomically(path, contents);
}

}  // namespace kiln
