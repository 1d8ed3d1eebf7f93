// WhatIf: two folds of the same recorded inputs per entity, in one read transaction: the
// baseline's (recorded handlers) when given, then the new code's (handlers by message type).
#include "tools/what_if.h"

#include <kj/exception.h>

#include <exception>

#include "framework/history_fold.h"

namespace idem::tools {

namespace {

std::string label(const EntityRow& row) { return row.name.entityType + "/" + row.name.key; }

std::string specOf(std::string_view id, std::uint32_t version) {
  return std::string(id) + " v" + std::to_string(version);
}

kj::ArrayPtr<const capnp::word> wordsOf(std::span<const std::byte> bytes) {
  return {reinterpret_cast<const capnp::word*>(bytes.data()), bytes.size() / sizeof(capnp::word)};
}

struct BaselineVersion {
  Words state;
  nlohmann::json outputs;
};

void replayEntity(const StoreView& view, const EntityRow& entity, const Handlers& newHandlers,
                  const Handlers* baseline, WhatIfReport& report) {
  const store::VersionStore& store = view.store();
  const std::string& type = entity.name.entityType;
  bool changed = false;
  std::uint64_t reached = entity.firstRetained - 1;
  WhatIfChange failed;
  try {
    store.read([&](store::Txn& txn) {
      std::vector<BaselineVersion> recorded;
      if (baseline != nullptr) {
        detail::foldHistory(store, txn, *baseline, entity.number,
                            [&](const detail::FoldedVersion& f) {
                              recorded.push_back({kj::heapArray(f.result->state.asPtr()),
                                                  view.outputsJson(f.result->emitted.messages)});
                            });
      }
      const detail::HandlerChoice byType = [&](const store::HistoryEntry&, std::uint64_t t) {
        return newHandlers.findByMessageType(t);
      };
      detail::foldHistory(
          store, txn, newHandlers, entity.number, byType, [&](const detail::FoldedVersion& f) {
            reached = f.version;
            ++report.versions;
            WhatIfChange c;
            c.entity = entity;
            c.version = f.version;
            c.messageType = view.messageTypeName(f.handler->messageType);
            c.recordedHandler = specOf(f.entry->handlerId, f.entry->handlerVersion);
            c.newHandler = specOf(f.handler->spec.id, f.handler->spec.version);
            const std::span<const std::byte> newState = asBytes(f.result->state.asPtr());
            std::optional<std::span<const std::byte>> oldState;
            if (baseline != nullptr) {
              oldState = asBytes(recorded.at(f.version - entity.firstRetained).state.asPtr());
            } else if (f.storedState) {
              oldState = f.storedState;
            }
            c.stateUnknown = !oldState;
            c.stateChanged = oldState && firstDifferingByte(*oldState, newState).has_value();
            c.outputsChanged = !f.digestMatches;
            WhatIfSummary& summary =
                report.summary[c.messageType][c.recordedHandler + " -> " + c.newHandler];
            ++summary.versions;
            if (c.stateChanged) ++summary.statesChanged;
            if (c.outputsChanged) ++summary.outputsChanged;
            if (!c.stateChanged && !c.outputsChanged) return;
            if (c.stateChanged) {
              c.stateDiff = diffJson(view.stateJson(type, wordsOf(*oldState)),
                                     view.stateJson(type, f.result->state.asPtr()));
            }
            if (c.outputsChanged) {
              nlohmann::json outputs = view.outputsJson(f.result->emitted.messages);
              if (baseline != nullptr) {
                c.outputDiff =
                    diffJson(recorded.at(f.version - entity.firstRetained).outputs, outputs);
              } else {
                c.newOutputs = std::move(outputs);
              }
            }
            changed = true;
            report.changes.push_back(std::move(c));
          });
    });
    if (changed) ++report.entitiesChanged;
    return;
  } catch (const std::exception& e) {
    failed.error = e.what();
  } catch (const kj::Exception& e) {
    failed.error = e.getDescription().cStr();
  }
  failed.entity = entity;
  failed.version = reached + 1;
  report.changes.push_back(std::move(failed));
  ++report.entitiesChanged;
}

}  // namespace

WhatIfReport replayWhatIf(const StoreView& view, const Handlers& newHandlers,
                          const Handlers* baseline, const WhatIfOptions& options) {
  WhatIfReport report;
  if (options.onlyEntity) {
    if (auto row = view.findEntity(*options.onlyEntity)) {
      replayEntity(view, *row, newHandlers, baseline, report);
      report.entities = 1;
    }
    return report;
  }
  const std::uint64_t total = view.store().stats().entities;
  std::uint64_t after = 0;
  for (;;) {
    const std::vector<EntityRow> page = view.entities({}, after, options.pageSize);
    for (const EntityRow& row : page) {
      replayEntity(view, row, newHandlers, baseline, report);
      ++report.entities;
      if (options.progress) options.progress(report.entities, std::max(total, report.entities));
    }
    if (page.size() < options.pageSize) break;
    after = page.back().number;
  }
  return report;
}

std::string formatWhatIf(const WhatIfReport& report, std::size_t maxChanges) {
  std::string text = "what-if: " + std::to_string(report.entities) + " entities, " +
                     std::to_string(report.versions) +
                     " versions replayed through the new handlers; " +
                     std::to_string(report.entitiesChanged) + " entities would change\n";
  text += "by message type and handler (recorded -> new):\n";
  for (const auto& [type, byHandler] : report.summary) {
    for (const auto& [handlers, s] : byHandler) {
      char line[256];
      std::snprintf(line, sizeof line,
                    "  %-18s %-48s %6llu versions: %llu states, %llu outputs "
                    "changed\n",
                    type.c_str(), handlers.c_str(), static_cast<unsigned long long>(s.versions),
                    static_cast<unsigned long long>(s.statesChanged),
                    static_cast<unsigned long long>(s.outputsChanged));
      text += line;
    }
  }
  if (report.changes.empty()) return text + "no state or output would change\n";
  text += "changes (" +
          (report.changes.size() > maxChanges ? "first " + std::to_string(maxChanges) + " of " +
                                                    std::to_string(report.changes.size())
                                              : std::to_string(report.changes.size())) +
          "):\n";
  std::size_t shown = 0;
  for (const WhatIfChange& c : report.changes) {
    if (shown++ == maxChanges) break;
    text += "  " + label(c.entity) + " v" + std::to_string(c.version);
    if (!c.error.empty()) {
      text += ": the new code cannot re-run it: " + c.error + "\n";
      continue;
    }
    text += " " + c.messageType + " (" + c.recordedHandler + " -> " + c.newHandler + "):";
    if (c.stateChanged) text += " state";
    if (c.outputsChanged) text += c.stateChanged ? ", outputs" : " outputs";
    text += "\n";
    if (c.stateChanged)
      text += "    state (recorded -> new):\n" + formatDifferences(c.stateDiff, 8);
    if (c.outputsChanged && !c.outputDiff.empty()) {
      text += "    outputs (recorded -> new):\n" + formatDifferences(c.outputDiff, 8);
    } else if (c.outputsChanged) {
      text +=
          "    outputs differ from the recorded digest; new outputs: " + c.newOutputs.dump() + "\n";
    }
  }
  return text;
}

nlohmann::json whatIfJson(const WhatIfReport& report) {
  nlohmann::json summary = nlohmann::json::array();
  for (const auto& [type, byHandler] : report.summary) {
    for (const auto& [handlers, s] : byHandler) {
      summary.push_back({{"messageType", type},
                         {"handlers", handlers},
                         {"versions", s.versions},
                         {"statesChanged", s.statesChanged},
                         {"outputsChanged", s.outputsChanged}});
    }
  }
  nlohmann::json changes = nlohmann::json::array();
  for (const WhatIfChange& c : report.changes) {
    nlohmann::json j = {{"entity", label(c.entity)}, {"version", c.version}};
    if (!c.error.empty()) {
      j["error"] = c.error;
    } else {
      j["messageType"] = c.messageType;
      j["recordedHandler"] = c.recordedHandler;
      j["newHandler"] = c.newHandler;
      j["stateChanged"] = c.stateChanged;
      j["outputsChanged"] = c.outputsChanged;
      if (c.stateUnknown) j["stateUnknown"] = true;
      if (c.stateChanged) j["stateDiff"] = differencesJson(c.stateDiff);
      if (!c.outputDiff.empty()) j["outputDiff"] = differencesJson(c.outputDiff);
      if (!c.newOutputs.is_null()) j["newOutputs"] = c.newOutputs;
    }
    changes.push_back(std::move(j));
  }
  return {{"entities", report.entities},
          {"versions", report.versions},
          {"entitiesChanged", report.entitiesChanged},
          {"summary", std::move(summary)},
          {"changes", std::move(changes)}};
}

}  // namespace idem::tools
