// JsonDiff: what differs between two JSON values (states, output payloads), as a list of paths
// with the value on each side; and the first differing byte of two byte strings.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace idem::tools {

// One difference at `path` (JSON-pointer-like: "/holds/0/amount"). A side that lacks the member
// or element holds null and `missingBefore`/`missingAfter` says so.
struct JsonDifference {
  std::string path;
  nlohmann::json before;
  nlohmann::json after;
  bool missingBefore = false;
  bool missingAfter = false;
};

// A recursive diff: objects by member name, arrays by index, anything else by value. Empty when
// the values are equal.
std::vector<JsonDifference> diffJson(const nlohmann::json& before, const nlohmann::json& after);

// The differences as lines "  /path: before -> after", at most `maxLines` (then "... N more").
std::string formatDifferences(const std::vector<JsonDifference>& differences,
                              std::size_t maxLines = 20);
nlohmann::json differencesJson(const std::vector<JsonDifference>& differences);

// The offset of the first byte where `a` and `b` differ (the shorter length when one is a
// prefix of the other), or nullopt when they are equal.
std::optional<std::size_t> firstDifferingByte(std::span<const std::byte> a,
                                              std::span<const std::byte> b);

}  // namespace idem::tools
