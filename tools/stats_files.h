// Stats files: DIR/stats/<label>.<pid>.json, the counters each `idem run` process rewrites every
// 200 ms (tools/serve.cpp) and keeps after it stops; removed once their process is gone by
// `idem queues` (not by `idem run`: the demo's report sums the files of every process it ran).
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string_view>

#include "idem/endpoint.h"
#include "tools/workspace.h"

namespace idem::tools {

std::filesystem::path statsFile(const Workspace& workspace, std::string_view label, pid_t pid);

// Replaces this process's stats file of `label` (written to a temporary file, then renamed) with
// `identity` (e.g. endpoint, partition; "pid" is added) plus every counter of `stats`.
void writeStatsFile(const Workspace& workspace, std::string_view label, nlohmann::json identity,
                    const EndpointStats& stats);

// Removes the stats files whose process no longer exists (kill(pid, 0) says ESRCH); files of a
// live process, of another user's process, and files not named <label>.<pid>.json stay.
// Returns how many it removed; a file it cannot remove is left (nothing throws).
std::size_t removeStatsOfGoneProcesses(const Workspace& workspace);

}  // namespace idem::tools
