// idem::Error: the one exception root, whose kind tells recoverability what to do.
#pragma once

#include <stdexcept>
#include <string>

namespace idem {

// What the caller (in the end, the endpoint's recoverability) should do about a failure.
enum class ErrorKind {
  kTransient,   // retry now: a race, a lost connection, a lease that expired
  kOverloaded,  // back off, then retry: a full queue, a broker asking to slow down
  kPermanent,   // retrying cannot help: malformed or unknown input; goes to the error queue
  kBug,         // an invariant of idem itself broke: stop the endpoint loudly
};

const char* toString(ErrorKind kind) noexcept;

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& what) : std::runtime_error(what), kind_(kind) {}
  ErrorKind kind() const noexcept { return kind_; }

 private:
  ErrorKind kind_;
};

// Throws idem::Error of `kind` with `what`.
[[noreturn]] void fail(ErrorKind kind, const std::string& what);

}  // namespace idem
