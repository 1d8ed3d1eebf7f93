// The idem tool's log lines: plain text (spdlog's default pattern) or one JSON object per line,
// at the levels SPDLOG_LEVEL sets (e.g. SPDLOG_LEVEL=debug, or warn).
#pragma once

#include <string_view>

namespace idem::tools {

// Applies SPDLOG_LEVEL from the environment to every logger. Call once, first thing in main().
void levelsFromEnvironment();

// "text" (the default) or "json": each record then is one line
//   {"time":"2026-12-02T01:50:00.123456Z","level":"warning","pid":42,"thread":43,"message":"..."}
// for a log collector. Throws UsageError (tools/usage_error.h) for another format.
void useLogFormat(std::string_view format);

}  // namespace idem::tools
