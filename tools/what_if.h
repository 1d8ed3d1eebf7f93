// WhatIf: other handler code run against an endpoint's recorded inputs without writing. Each
// entity's inputs are folded from the initial state through the new handlers, each input's
// handler picked by its message type (new code may have bumped versions), and compared version by
// version with what was recorded: the stored snapshots (or the baseline code's fold) for states,
// the recorded digests (and the baseline code's outputs, for a payload diff) for outputs.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "tools/json_diff.h"
#include "tools/store_view.h"

namespace idem::tools {

// One version whose state or outputs the new code would change.
struct WhatIfChange {
  EntityRow entity;
  std::uint64_t version = 0;
  std::string messageType;
  std::string recordedHandler;  // "id vN"
  std::string newHandler;       // "id vM"
  bool stateChanged = false;
  bool stateUnknown = false;  // no snapshot at this version and no baseline code to fold
  bool outputsChanged = false;
  std::vector<JsonDifference> stateDiff;   // recorded -> new
  std::vector<JsonDifference> outputDiff;  // baseline outputs -> new (with baseline code)
  nlohmann::json newOutputs;               // the new outputs, when there is no baseline to diff
  std::string error;                       // the new code could not re-run this version
};

struct WhatIfSummary {
  std::uint64_t versions = 0;  // versions of this (message type, handler) replayed
  std::uint64_t statesChanged = 0;
  std::uint64_t outputsChanged = 0;
};

struct WhatIfReport {
  std::uint64_t entities = 0;
  std::uint64_t versions = 0;
  std::uint64_t entitiesChanged = 0;
  std::vector<WhatIfChange> changes;
  // By message type, then "recorded handler -> new handler".
  std::map<std::string, std::map<std::string, WhatIfSummary>> summary;
  bool unchanged() const { return changes.empty(); }
};

struct WhatIfOptions {
  std::optional<std::uint64_t> onlyEntity;
  std::size_t pageSize = 256;
  std::function<void(std::uint64_t done, std::uint64_t total)> progress;
};

// Replays `view`'s store through `newHandlers`; `baseline` (the code that wrote the store, may be
// null) gives the recorded outputs for payload diffs and states where no snapshot is stored.
// Reads one entity per short read transaction; writes nothing. Handler failures become changes
// with `error` set; throws idem::Error only when the store cannot be read.
WhatIfReport replayWhatIf(const StoreView& view, const Handlers& newHandlers,
                          const Handlers* baseline, const WhatIfOptions& options = {});

std::string formatWhatIf(const WhatIfReport& report, std::size_t maxChanges);
nlohmann::json whatIfJson(const WhatIfReport& report);

}  // namespace idem::tools
