// HtmlReport: string building; every value from the store is escaped.
#include "tools/html_report.h"

#include <exception>
#include <fstream>
#include <map>
#include <set>

#include "framework/history_fold.h"
#include "idem/error.h"

namespace idem::tools {

namespace {

constexpr const char* kStyle = R"css(
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
header{background:#1d2330;color:#fff;padding:18px 28px}
header h1{margin:0;font-size:20px;font-weight:600}
header .sub{opacity:.75;margin-top:4px}
main{padding:20px 28px;max-width:1400px}
.summary{display:flex;gap:14px;flex-wrap:wrap;margin-bottom:22px}
.stat{background:#fff;border:1px solid #dde1e8;border-radius:8px;padding:10px 16px;min-width:120px}
.stat b{display:block;font-size:22px}
.stat.bad{border-color:#d33;background:#fff3f3}.stat.bad b{color:#c11}
.stat.good{border-color:#2a9d5b;background:#f1fbf5}.stat.good b{color:#1c7a44}
h2{font-size:17px;margin:26px 0 10px}
table.div{border-collapse:collapse;width:100%;background:#fff;border:1px solid #dde1e8}
table.div td,table.div th{border-bottom:1px solid #eceff3;padding:6px 10px;text-align:left;vertical-align:top}
table.div th{background:#f0f2f5;font-weight:600}
.kind{display:inline-block;border-radius:10px;padding:1px 8px;font-size:12px;font-weight:600;color:#fff}
.kind.snapshot{background:#c0392b}.kind.outputs{background:#d35400}.kind.fold{background:#7d3c98}
.timeline{position:relative;margin-left:18px;border-left:3px solid #c9ced8;padding-left:22px}
.version{position:relative;background:#fff;border:1px solid #dde1e8;border-radius:8px;margin:0 0 12px;padding:10px 14px}
.version::before{content:"";position:absolute;left:-31px;top:14px;width:13px;height:13px;border-radius:50%;background:#2a9d5b;border:2px solid #fff;box-shadow:0 0 0 1px #2a9d5b}
.version.bad{border-color:#d33;box-shadow:0 0 0 1px #d33}
.version.bad::before{background:#d33;box-shadow:0 0 0 1px #d33}
.version.same::before{background:#c9ced8;box-shadow:0 0 0 1px #aab}
.head{display:flex;gap:12px;align-items:baseline;flex-wrap:wrap}
.head .v{font-weight:700;font-size:15px}
.type{background:#e8eefc;color:#1f4fbf;border-radius:4px;padding:1px 7px;font-weight:600}
.muted{color:#6b7383;font-size:12px}
.cols{display:grid;grid-template-columns:1fr 1fr 1fr;gap:12px;margin-top:8px}
.col h4{margin:0 0 4px;font-size:12px;text-transform:uppercase;letter-spacing:.04em;color:#6b7383}
pre{margin:0;background:#f7f8fa;border:1px solid #eceff3;border-radius:6px;padding:6px 8px;font:12px/1.4 ui-monospace,Menlo,Consolas,monospace;white-space:pre-wrap;word-break:break-all;max-height:260px;overflow:auto}
.diff .path{color:#6b7383}.diff .old{color:#b3261e;text-decoration:line-through}.diff .new{color:#1c7a44;font-weight:600}
.out{border-left:3px solid #1f4fbf;padding-left:8px;margin-bottom:6px}
.alert{margin-top:8px;background:#fff3f3;border:1px solid #f0b4b4;border-radius:6px;padding:6px 10px;color:#8a1c1c}
.entity{margin-top:30px}
.entity h3{margin:0 0 10px;font-size:16px}
)css";

std::string escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

std::string label(const EntityRow& row) { return row.name.entityType + "/" + row.name.key; }

std::string diffHtml(const std::vector<JsonDifference>& differences) {
  if (differences.empty()) return "<span class=\"muted\">no change</span>";
  std::string html = "<pre class=\"diff\">";
  for (const JsonDifference& d : differences) {
    html += "<span class=\"path\">" + escape(d.path) + "</span> ";
    if (!d.missingBefore) html += "<span class=\"old\">" + escape(d.before.dump()) + "</span> ";
    html += "&rarr; ";
    html += d.missingAfter ? std::string("<span class=\"muted\">(removed)</span>")
                           : "<span class=\"new\">" + escape(d.after.dump()) + "</span>";
    html += "\n";
  }
  return html + "</pre>";
}

std::string outputsHtml(const nlohmann::json& outputs) {
  if (outputs.empty()) return "<span class=\"muted\">none</span>";
  std::string html;
  for (const auto& out : outputs) {
    const std::string to = out.value("destination", "");
    html += "<div class=\"out\"><span class=\"type\">" + escape(out.value("messageType", "?")) +
            "</span> <span class=\"muted\">" + (to.empty() ? "published" : "&rarr; " + escape(to)) +
            " &middot; id " + escape(out.value("id", "").substr(0, 12)) + "&hellip;</span>";
    const auto payload = out.contains("payload") ? out["payload"] : out["payloadHex"];
    html += "<pre>" + escape(payload.dump(1)) + "</pre></div>";
  }
  return html;
}

// One entity's versions, re-derived, as timeline cards.
std::string timelineHtml(const StoreView& view, const EntityRow& entity,
                         const std::multimap<std::uint64_t, const Divergence*>& divergences) {
  std::string html = "<section class=\"entity\"><h3>" + escape(label(entity)) +
                     " <span class=\"muted\">entity " + std::to_string(entity.number) + ", " +
                     std::to_string(entity.head) + " versions" +
                     (entity.pruned() ? "; " + escape(entity.prunedNote()) : "") +
                     "</span></h3><div class=\"timeline\">";
  std::uint64_t reached = entity.firstRetained - 1;
  try {
    view.store().read([&](store::Txn& txn) {
      detail::foldHistory(
          view.store(), txn, view.handlers(), entity.number, [&](const detail::FoldedVersion& f) {
            reached = f.version;
            const auto [from, to] = divergences.equal_range(f.version);
            const bool bad = from != to;
            CanonicalReader reader(f.entry->input, "recorded input envelope");
            const nlohmann::json input = view.envelopeJson(f.entry->input);
            const auto before = view.stateJson(entity.name.entityType, f.stateBefore);
            const auto after = view.stateJson(entity.name.entityType, f.result->state.asPtr());
            html += std::string("<div class=\"version") +
                    (bad ? " bad" : (f.entry->stateChanged ? "" : " same")) + "\">";
            html +=
                "<div class=\"head\"><span class=\"v\">v" + std::to_string(f.version) +
                "</span><span class=\"type\">" + escape(input.value("messageType", "?")) +
                "</span><span class=\"muted\">" + escape(formatTimeNs(f.entry->recordedAtNs)) +
                " &middot; from " +
                escape(input.value("source", "").empty() ? "the edge" : input.value("source", "")) +
                " &middot; input " + escape(input.value("id", "")) + " &middot; " +
                escape(std::string(f.entry->handlerId)) + " v" +
                std::to_string(f.entry->handlerVersion) + "</span></div>";
            html +=
                "<div class=\"cols\"><div class=\"col\"><h4>Input</h4><pre>" +
                escape(
                    (input.contains("payload") ? input["payload"] : input["payloadHex"]).dump(1)) +
                "</pre></div>";
            html += "<div class=\"col\"><h4>State change</h4>" + diffHtml(diffJson(before, after)) +
                    "</div>";
            html += "<div class=\"col\"><h4>Outputs (" + std::to_string(f.entry->outputCount) +
                    ")</h4>" + outputsHtml(view.outputsJson(f.result->emitted.messages)) +
                    "</div></div>";
            for (auto it = from; it != to; ++it) {
              html += "<div class=\"alert\"><span class=\"kind " +
                      std::string(toString(it->second->kind)) + "\">" + toString(it->second->kind) +
                      "</span> " + escape(it->second->detail);
              if (!it->second->stateDiff.empty()) {
                html += "<div class=\"muted\">stored snapshot &rarr; re-derived state</div>" +
                        diffHtml(it->second->stateDiff);
              }
              html += "</div>";
            }
            html += "</div>";
          });
    });
  } catch (const std::exception& e) {
    html += "<div class=\"version bad\"><div class=\"head\"><span class=\"v\">v" +
            std::to_string(reached + 1) +
            "</span></div><div class=\"alert\">cannot re-derive: " + escape(e.what()) +
            "</div></div>";
  }
  return html + "</div></section>";
}

}  // namespace

std::string htmlReport(const StoreView& view, const AuditReport& report,
                       const std::vector<EntityRow>& entities) {
  std::string html =
      "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>idem audit: " +
      escape(view.endpoint()) + "</title><style>" + kStyle + "</style></head><body>";
  html += "<header><h1>idem audit &middot; endpoint " + escape(view.endpoint()) +
          "</h1><div class=\"sub\">" + escape(view.store().directory().string()) +
          " &middot; every version re-derived from its recorded input</div></header><main>";
  const auto stat = [](const std::string& value, const char* what, const char* cls = "") {
    return std::string("<div class=\"stat ") + cls + "\"><b>" + value + "</b>" + what + "</div>";
  };
  html += "<div class=\"summary\">" +
          stat(report.clean() ? "clean" : std::to_string(report.divergences.size()),
               report.clean() ? "no divergence" : "divergences", report.clean() ? "good" : "bad") +
          stat(std::to_string(report.entities), "entities") +
          stat(std::to_string(report.versions), "versions re-derived") +
          stat(std::to_string(report.snapshotsChecked), "snapshots checked") +
          stat(std::to_string(report.digestsChecked), "output digests checked") + "</div>";

  std::map<std::uint64_t, std::multimap<std::uint64_t, const Divergence*>> divergent;
  std::vector<EntityRow> shown = entities;
  std::set<std::uint64_t> listed;
  for (const EntityRow& e : entities) listed.insert(e.number);
  if (!report.clean()) {
    html +=
        "<h2>Divergences</h2><table class=\"div\"><tr><th>entity</th><th>version</th>"
        "<th>what</th><th>input</th><th>handler</th><th>detail</th></tr>";
    for (const Divergence& d : report.divergences) {
      divergent[d.entity.number].emplace(d.version, &d);
      if (entities.empty() && listed.size() < kMaxTimelines &&
          listed.insert(d.entity.number).second) {
        shown.push_back(d.entity);
      }
      html += "<tr><td>" + escape(label(d.entity)) + "</td><td>v" + std::to_string(d.version) +
              "</td><td><span class=\"kind " + toString(d.kind) + "\">" + toString(d.kind) +
              "</span></td><td>" + escape(d.messageType) + "</td><td>" + escape(d.handler) +
              "</td><td>" + escape(d.detail) + "</td></tr>";
    }
    html += "</table>";
  }
  if (!shown.empty()) html += "<h2>Timelines</h2>";
  for (const EntityRow& e : shown) html += timelineHtml(view, e, divergent[e.number]);
  return html + "</main></body></html>\n";
}

void writeHtmlReport(const std::filesystem::path& path, const StoreView& view,
                     const AuditReport& report, const std::vector<EntityRow>& entities) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << htmlReport(view, report, entities);
  out.close();
  if (!out) fail(ErrorKind::kPermanent, path.string() + ": cannot write the HTML report");
}

}  // namespace idem::tools
