// Oracles: DESIGN.md §4's O1–O7 checked by bytes over a SimWorld's stores and everything its
// transport ever published or acked.
#pragma once

#include <string>
#include <vector>

#include "tests/sim_world.h"

namespace idem::test {

struct OracleReport {
  std::vector<std::string> violations;
  std::size_t historyEntries = 0;  // over all stores
  std::size_t outputsDerived = 0;  // outputs re-derived from the committed histories
  std::size_t copiesCompared = 0;  // published copies compared byte for byte
};

// One endpoint's store to check, with the handlers that wrote it.
struct StoreUnderTest {
  std::string endpoint;
  std::filesystem::path directory;
  std::function<Handlers()> handlers;
};

// Re-folds every store (which no process may have open for writing... or at all in this
// process) from its recorded inputs and compares with every copy observed on the wire
// (`copies`) and every delivery acked (`acked`, endpoint and bytes; may be empty):
//   O1 each input id has exactly one history entry, and the applied index points at it;
//   O2/O4 every published copy equals, byte for byte, an output re-derived from committed
//         history (no ghost, no alternative world);
//   O3 each entry's recorded output digest equals the re-derived outputs' digest;
//   O5 every re-derived output was published;
//   O6 every acked input of these endpoints has a history entry;
//   O7 the state loaded at each head equals the serial fold of the entity's inputs.
OracleReport checkOracles(const std::vector<StoreUnderTest>& stores,
                          const std::vector<Outbound>& copies,
                          const std::vector<std::pair<std::string, Bytes>>& acked);

// The same over a SimWorld: closes its endpoints, then checks the stores named in `endpoints`
// against everything its transport published and acked.
OracleReport checkOracles(SimWorld& world, const std::vector<std::string>& endpoints);

// The routing facts of a copy seen on the wire, read from its envelope.
Outbound observedCopy(Bytes envelope);

}  // namespace idem::test
