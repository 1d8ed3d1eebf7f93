// Stats files: naming, and the cleanup of dead processes' files.
#include "tools/stats_files.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <fstream>
#include <string>
#include <system_error>

namespace idem::tools {

std::filesystem::path statsFile(const Workspace& workspace, std::string_view label, pid_t pid) {
  return workspace.statsDirectory() / (std::string(label) + "." + std::to_string(pid) + ".json");
}

void writeStatsFile(const Workspace& workspace, std::string_view label, nlohmann::json identity,
                    const EndpointStats& s) {
  nlohmann::json json = std::move(identity);
  json["pid"] = ::getpid();
  json["batches"] = s.batches;
  json["processed"] = s.processed;
  json["duplicates"] = s.duplicates;
  json["alreadyPublished"] = s.alreadyPublished;
  json["published"] = s.published;
  json["retried"] = s.retried;
  json["deadLettered"] = s.deadLettered;
  json["prunedDuplicates"] = s.prunedDuplicates;
  json["prunedVersions"] = s.prunedVersions;
  json["prunedApplied"] = s.prunedApplied;
  json["reemittedOwed"] = s.reemittedOwed;
  json["nonDeterminism"] = s.nonDeterminism;
  json["storeCommits"] = s.storeCommits;
  json["storeSyncs"] = s.storeSyncs;
  json["storePagesWritten"] = s.storePagesWritten;
  std::filesystem::create_directories(workspace.statsDirectory());
  const auto file = statsFile(workspace, label, ::getpid());
  const auto tmp = file.string() + ".tmp";
  std::ofstream(tmp) << json.dump() << "\n";
  std::filesystem::rename(tmp, file);
}

std::size_t removeStatsOfGoneProcesses(const Workspace& workspace) {
  std::error_code error;
  std::size_t removed = 0;
  for (const auto& entry : std::filesystem::directory_iterator(workspace.statsDirectory(), error)) {
    const std::string stem = entry.path().stem().string();  // <label>.<pid>
    if (entry.path().extension() != ".json") continue;
    const std::size_t dot = stem.rfind('.');
    if (dot == std::string::npos) continue;
    pid_t pid = 0;
    const char* first = stem.data() + dot + 1;
    const char* last = stem.data() + stem.size();
    const auto [end, ec] = std::from_chars(first, last, pid);
    if (ec != std::errc() || end != last || pid <= 0) continue;
    if (::kill(pid, 0) == 0 || errno != ESRCH) continue;  // alive, or not ours to signal
    if (std::filesystem::remove(entry.path(), error)) ++removed;
  }
  return removed;
}

}  // namespace idem::tools
