// HtmlReport: an audit as one self-contained HTML page (inline CSS, no scripts, no external
// assets): a summary, the divergences, and for chosen entities a timeline of their versions with
// the input, the state change and the outputs of each, readable at a glance.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "tools/store_audit.h"
#include "tools/store_view.h"

namespace idem::tools {

// The page for `report` of `view`, with a timeline of each of `entities`; when `entities` is
// empty, of each divergent entity (at most kMaxTimelines). Re-derives the timelines with
// foldHistory, one read transaction per entity.
std::string htmlReport(const StoreView& view, const AuditReport& report,
                       const std::vector<EntityRow>& entities);

// Writes htmlReport(...) to `path`. Throws idem::Error (permanent) when it cannot.
void writeHtmlReport(const std::filesystem::path& path, const StoreView& view,
                     const AuditReport& report, const std::vector<EntityRow>& entities);

inline constexpr std::size_t kMaxTimelines = 20;

}  // namespace idem::tools
