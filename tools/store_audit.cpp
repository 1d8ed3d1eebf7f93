// StoreAudit: foldHistory per entity, compared with the snapshots and digests stored.
#include "tools/store_audit.h"

#include <kj/exception.h>

#include <exception>

#include "framework/history_fold.h"

namespace idem::tools {

namespace {

std::string label(const EntityRow& row) { return row.name.entityType + "/" + row.name.key; }

std::string messageTypeOf(const StoreView& view, std::span<const std::byte> envelope) {
  CanonicalReader reader(envelope, "recorded input envelope");
  return view.messageTypeName(reader.root<wire::Envelope>().getMessageType());
}

nlohmann::json stateOrError(const StoreView& view, const std::string& entityType,
                            kj::ArrayPtr<const capnp::word> words) {
  try {
    return view.stateJson(entityType, words);
  } catch (const std::exception& e) {
    return {{"undecodable", e.what()}};
  }
}

void auditEntity(const StoreView& view, const EntityRow& entity, AuditReport& report) {
  const store::VersionStore& store = view.store();
  std::uint64_t lastVersion = entity.firstRetained - 1;
  if (entity.pruned()) ++report.prunedEntities;
  try {
    store.read([&](store::Txn& txn) {  // one consistent moment for the whole entity
      detail::foldHistory(
          store, txn, view.handlers(), entity.number, [&](const detail::FoldedVersion& f) {
            lastVersion = f.version;
            ++report.versions;
            Divergence base;
            base.entity = entity;
            base.version = f.version;
            base.handler =
                std::string(f.entry->handlerId) + " v" + std::to_string(f.entry->handlerVersion);
            base.messageType = messageTypeOf(view, f.entry->input);

            ++report.digestsChecked;
            if (!f.digestMatches) {
              Divergence d = base;
              d.kind = Divergence::Kind::kOutputs;
              d.recordedCount = f.entry->outputCount;
              d.derivedCount = static_cast<std::uint32_t>(f.result->emitted.messages.size());
              d.recordedDigest = hexOf(f.entry->outputDigest);
              d.derivedDigest = hexOf(f.result->emitted.digest);
              d.derivedOutputs = view.outputsJson(f.result->emitted.messages);
              d.detail = "outputs differ: recorded " + std::to_string(d.recordedCount) +
                         " with digest " + d.recordedDigest.substr(0, 16) + ", re-derived " +
                         std::to_string(d.derivedCount) + " with digest " +
                         d.derivedDigest.substr(0, 16);
              report.divergences.push_back(std::move(d));
            }

            if (!f.storedState) return;
            const std::span<const std::byte> stored = *f.storedState;
            ++report.snapshotsChecked;
            const std::span<const std::byte> derived = asBytes(f.result->state.asPtr());
            const auto differing = firstDifferingByte(stored, derived);
            if (!differing) return;
            Divergence d = base;
            d.kind = Divergence::Kind::kSnapshot;
            d.firstDifferingByte = differing;
            d.storedBytes = stored.size();
            d.derivedBytes = derived.size();
            const kj::ArrayPtr<const capnp::word> storedWords(
                reinterpret_cast<const capnp::word*>(stored.data()),
                stored.size() / sizeof(capnp::word));
            d.stateDiff =
                diffJson(stateOrError(view, entity.name.entityType, storedWords),
                         stateOrError(view, entity.name.entityType, f.result->state.asPtr()));
            d.detail = "snapshot differs from the re-derived state at byte " +
                       std::to_string(*differing) + " (stored " + std::to_string(d.storedBytes) +
                       " bytes, re-derived " + std::to_string(d.derivedBytes) + ")";
            report.divergences.push_back(std::move(d));
          });
    });
  } catch (const std::exception& e) {
    Divergence d;
    d.kind = Divergence::Kind::kFold;
    d.entity = entity;
    d.version = lastVersion + 1;
    d.detail = std::string("cannot re-derive: ") + e.what();
    report.divergences.push_back(std::move(d));
  } catch (const kj::Exception& e) {
    Divergence d;
    d.kind = Divergence::Kind::kFold;
    d.entity = entity;
    d.version = lastVersion + 1;
    d.detail = std::string("cannot re-derive: ") + e.getDescription().cStr();
    report.divergences.push_back(std::move(d));
  }
}

}  // namespace

const char* toString(Divergence::Kind kind) {
  switch (kind) {
    case Divergence::Kind::kSnapshot:
      return "snapshot";
    case Divergence::Kind::kOutputs:
      return "outputs";
    case Divergence::Kind::kFold:
      return "fold";
  }
  return "?";
}

AuditReport auditStore(const StoreView& view, const AuditOptions& options) {
  AuditReport report;
  if (options.onlyEntity) {
    if (auto row = view.findEntity(*options.onlyEntity)) {
      auditEntity(view, *row, report);
      report.entities = 1;
    }
    if (options.progress) options.progress(report.entities, report.entities);
    return report;
  }
  const std::uint64_t total = view.store().stats().entities;
  std::uint64_t after = 0;
  for (;;) {
    // The page is listed in one read transaction, each entity audited in its own.
    const std::vector<EntityRow> page = view.entities({}, after, options.pageSize);
    for (const EntityRow& row : page) {
      auditEntity(view, row, report);
      ++report.entities;
      if (options.progress) options.progress(report.entities, std::max(total, report.entities));
    }
    if (page.size() < options.pageSize) break;
    after = page.back().number;
  }
  return report;
}

std::string formatDivergence(const Divergence& d) {
  std::string text =
      label(d.entity) + " v" + std::to_string(d.version) + " [" + toString(d.kind) + "]";
  if (!d.handler.empty()) text += " " + d.messageType + " by " + d.handler;
  text += ": " + d.detail + "\n";
  if (d.kind == Divergence::Kind::kSnapshot && !d.stateDiff.empty()) {
    text += "  state (stored -> re-derived):\n" + formatDifferences(d.stateDiff);
  }
  if (d.kind == Divergence::Kind::kOutputs) {
    text += "  re-derived outputs: " + d.derivedOutputs.dump() + "\n";
  }
  return text;
}

nlohmann::json divergenceJson(const Divergence& d) {
  nlohmann::json json = {{"entity", label(d.entity)},
                         {"version", d.version},
                         {"kind", toString(d.kind)},
                         {"detail", d.detail}};
  if (!d.handler.empty()) {
    json["handler"] = d.handler;
    json["messageType"] = d.messageType;
  }
  if (d.kind == Divergence::Kind::kSnapshot) {
    json["firstDifferingByte"] = *d.firstDifferingByte;
    json["storedBytes"] = d.storedBytes;
    json["derivedBytes"] = d.derivedBytes;
    json["stateDiff"] = differencesJson(d.stateDiff);
  }
  if (d.kind == Divergence::Kind::kOutputs) {
    json["recorded"] = {{"count", d.recordedCount}, {"digest", d.recordedDigest}};
    json["derived"] = {
        {"count", d.derivedCount}, {"digest", d.derivedDigest}, {"outputs", d.derivedOutputs}};
  }
  return json;
}

nlohmann::json auditJson(const StoreView& view, const AuditReport& report) {
  nlohmann::json divergences = nlohmann::json::array();
  for (const Divergence& d : report.divergences) divergences.push_back(divergenceJson(d));
  return {{"endpoint", view.endpoint()},
          {"entities", report.entities},
          {"versions", report.versions},
          {"snapshotsChecked", report.snapshotsChecked},
          {"digestsChecked", report.digestsChecked},
          {"prunedEntities", report.prunedEntities},
          {"clean", report.clean()},
          {"divergences", std::move(divergences)}};
}

}  // namespace idem::tools
