// Oracles: DESIGN.md §4's O1–O7 checked by bytes over a SimWorld's stores and everything its
// transport ever published or acked.
#pragma once

#include <string>
#include <vector>

#include "tests/sim_world.h"

namespace idem::test {

struct OracleReport {
  std::vector<std::string> violations;
  std::size_t historyEntries = 0;   // over all stores
  std::size_t outputsDerived = 0;   // outputs re-derived from the committed histories
  std::size_t copiesCompared = 0;   // published copies compared byte for byte
};

// Closes the world's endpoints, then re-folds every store named in `endpoints` from its recorded
// inputs and compares with what was published and acked:
//   O1 each input id has exactly one history entry, and the applied index points at it;
//   O2/O4 every published copy equals, byte for byte, an output re-derived from committed
//         history (no ghost, no alternative world);
//   O3 each entry's recorded output digest equals the re-derived outputs' digest;
//   O5 every re-derived output was published;
//   O6 every acked input of these endpoints has a history entry;
//   O7 the state loaded at each head equals the serial fold of the entity's inputs.
OracleReport checkOracles(SimWorld& world, const std::vector<std::string>& endpoints);

}  // namespace idem::test
