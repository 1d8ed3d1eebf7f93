// Oracles: DESIGN.md §4's O1–O7 checked by bytes over a SimWorld's stores and everything its
// transport ever published or acked.
#pragma once

#include <climits>
#include <cstdint>
#include <string>
#include <vector>

#include "tests/sim_world.h"

namespace idem::test {

struct OracleReport {
  std::vector<std::string> violations;
  std::size_t historyEntries = 0;  // over all stores
  std::size_t outputsDerived = 0;  // outputs re-derived from the committed histories
  std::size_t copiesCompared = 0;  // published copies compared byte for byte
  // Copies whose input's version retention pruned (not re-derivable: see checkOracles).
  std::size_t copiesOfPrunedVersions = 0;
  // Copies and acked inputs whose input the store no longer knows at all (applied horizon).
  std::size_t forgottenInputs = 0;
};

// One endpoint's store to check, with the handlers that wrote it.
struct StoreUnderTest {
  std::string endpoint;
  std::filesystem::path directory;
  std::function<Handlers()> handlers;
  // The applied horizon's cutoff (ns since the epoch): the store may have forgotten, history and
  // applied entry both, an input it applied before this. INT64_MIN: it forgets nothing.
  std::int64_t forgetsInputsBeforeNs = INT64_MIN;
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
// Pruned history (retention): the fold starts from the base snapshot kept below the oldest
// retained version (VersionStore::firstRetainedVersion), so O1, O3 and O7 cover the retained
// versions and O7 trusts the base. A copy that matches no re-derived output is not a ghost when
// its causation input's version was pruned (the source store's applied index points below the
// entity's first retained version), nor when the source store knows the input no more and the
// copy was recorded before that store's `forgetsInputsBeforeNs`; both are counted, not compared.
// Likewise an acked input has no history entry to show when its version was pruned, or when the
// store knows it no more and its envelope was recorded (sent) before `forgetsInputsBeforeNs`:
// its applied time went with the applied entry, and the time it was sent is no later, so this
// also excuses an input sent before the cutoff but applied after it (a weaker O6 for those
// only). A copy of a forgotten input that was processed anew is compared with the new version's
// outputs: the documented second effect past the applied horizon, which O2 reports.
OracleReport checkOracles(const std::vector<StoreUnderTest>& stores,
                          const std::vector<Outbound>& copies,
                          const std::vector<std::pair<std::string, Bytes>>& acked);

// The same over a SimWorld: closes its endpoints, then checks the stores named in `endpoints`
// against everything its transport published and acked.
OracleReport checkOracles(SimWorld& world, const std::vector<std::string>& endpoints);

// The routing facts of a copy seen on the wire, read from its envelope.
Outbound observedCopy(Bytes envelope);

}  // namespace idem::test
