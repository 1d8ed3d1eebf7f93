// idem::Error helpers.
#include "idem/error.h"

namespace idem {

const char* toString(ErrorKind kind) noexcept {
  switch (kind) {
    case ErrorKind::kTransient:
      return "transient";
    case ErrorKind::kOverloaded:
      return "overloaded";
    case ErrorKind::kPermanent:
      return "permanent";
    case ErrorKind::kBug:
      return "bug";
  }
  return "unknown";
}

void fail(ErrorKind kind, const std::string& what) { throw Error(kind, what); }

}  // namespace idem
