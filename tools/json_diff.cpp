// JsonDiff: a plain recursive walk; enough for states and payloads of a few kilobytes.
#include "tools/json_diff.h"

#include <algorithm>

namespace idem::tools {

namespace {

// Escapes per RFC 6901, so that member names with '/' or '~' stay unambiguous.
std::string pointerToken(const std::string& name) {
  std::string out;
  for (const char c : name) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

void walk(const std::string& path, const nlohmann::json& a, const nlohmann::json& b,
          std::vector<JsonDifference>& out) {
  if (a.is_object() && b.is_object()) {
    for (const auto& [name, value] : a.items()) {
      const std::string child = path + "/" + pointerToken(name);
      if (auto it = b.find(name); it != b.end()) {
        walk(child, value, *it, out);
      } else {
        out.push_back({child, value, nullptr, false, true});
      }
    }
    for (const auto& [name, value] : b.items()) {
      if (!a.contains(name)) out.push_back({path + "/" + pointerToken(name), nullptr, value, true});
    }
    return;
  }
  if (a.is_array() && b.is_array()) {
    const std::size_t common = std::min(a.size(), b.size());
    for (std::size_t i = 0; i < common; ++i) walk(path + "/" + std::to_string(i), a[i], b[i], out);
    for (std::size_t i = common; i < a.size(); ++i) {
      out.push_back({path + "/" + std::to_string(i), a[i], nullptr, false, true});
    }
    for (std::size_t i = common; i < b.size(); ++i) {
      out.push_back({path + "/" + std::to_string(i), nullptr, b[i], true});
    }
    return;
  }
  if (a != b) out.push_back({path.empty() ? "/" : path, a, b});
}

std::string side(const nlohmann::json& value, bool missing) {
  return missing ? "(absent)" : value.dump();
}

}  // namespace

std::vector<JsonDifference> diffJson(const nlohmann::json& before, const nlohmann::json& after) {
  std::vector<JsonDifference> out;
  walk("", before, after, out);
  return out;
}

std::string formatDifferences(const std::vector<JsonDifference>& differences,
                              std::size_t maxLines) {
  std::string text;
  std::size_t shown = 0;
  for (const JsonDifference& d : differences) {
    if (shown == maxLines) {
      text += "    ... " + std::to_string(differences.size() - shown) + " more\n";
      break;
    }
    text += "    " + d.path + ": " + side(d.before, d.missingBefore) + " -> " +
            side(d.after, d.missingAfter) + "\n";
    ++shown;
  }
  return text;
}

nlohmann::json differencesJson(const std::vector<JsonDifference>& differences) {
  nlohmann::json out = nlohmann::json::array();
  for (const JsonDifference& d : differences) {
    nlohmann::json entry = {{"path", d.path}};
    if (!d.missingBefore) entry["before"] = d.before;
    if (!d.missingAfter) entry["after"] = d.after;
    out.push_back(std::move(entry));
  }
  return out;
}

std::optional<std::size_t> firstDifferingByte(std::span<const std::byte> a,
                                              std::span<const std::byte> b) {
  const auto [ia, ib] = std::ranges::mismatch(a, b);
  if (ia == a.end() && ib == b.end()) return std::nullopt;
  return static_cast<std::size_t>(ia - a.begin());
}

}  // namespace idem::tools
