// UsageError: the command line asks for something that cannot be done as written (a missing or
// contradictory option, a malformed value). The tool prints it with a hint to --help and exits 2,
// where an idem::Error (the operation itself failed) exits 1.
#pragma once

#include <stdexcept>
#include <string>

namespace idem::tools {

class UsageError : public std::runtime_error {
 public:
  explicit UsageError(const std::string& what) : std::runtime_error(what) {}
};

}  // namespace idem::tools
