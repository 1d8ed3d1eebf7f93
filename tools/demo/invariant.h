// Invariant: one property the demo checks at the end, whether it held, and the numbers behind it.
#pragma once

#include <string>

namespace idem::tools::demo {

struct Invariant {
  std::string name;  // e.g. "money conserved"
  bool holds = false;
  std::string detail;  // the numbers, e.g. "sum of balances 51234567 = sum of initial 51234567"
};

}  // namespace idem::tools::demo
