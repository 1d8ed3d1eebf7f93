// StoreView: read-only access, one short read transaction per call.
#include "tools/store_view.h"

#include <capnp/compat/json.h>
#include <capnp/dynamic.h>
#include <kj/exception.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>

#include "framework/decoded_input.h"
#include "framework/state_loader.h"
#include "idem/error.h"

namespace idem::tools {

namespace {

store::StoreOptions readOnlyOptions() {
  store::StoreOptions options;
  options.readOnly = true;
  return options;
}

}  // namespace

Handlers endpointHandlers(const App& app, const std::string& appEndpoint,
                          const std::string& storeEndpoint) {
  for (const AppEndpoint& e : app.endpoints) {
    if (e.name == appEndpoint) {
      Handlers handlers(storeEndpoint);
      e.registerHandlers(handlers);
      return handlers;
    }
  }
  return app.handlers(appEndpoint);  // throws, naming the app's endpoints
}

namespace {

std::string hexOfData(capnp::Data::Reader data) { return hexOf({data.begin(), data.size()}); }

nlohmann::json jsonOf(capnp::StructSchema schema, kj::ArrayPtr<const capnp::word> words) {
  capnp::JsonCodec codec;
  std::string text;
  if (words.size() == 0) {
    capnp::MallocMessageBuilder empty;
    text = codec.encode(empty.initRoot<capnp::DynamicStruct>(schema).asReader()).cStr();
  } else {
    CanonicalReader reader(asBytes(words), "state");
    text = codec.encode(reader.message().getRoot<capnp::DynamicStruct>(schema)).cStr();
  }
  return nlohmann::json::parse(text);
}

}  // namespace

std::string hexOf(std::span<const std::uint8_t> bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const std::uint8_t b : bytes) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 0xf]);
  }
  return out;
}

std::string formatTimeNs(std::int64_t ns) {
  const std::time_t seconds = static_cast<std::time_t>(ns / 1'000'000'000);
  std::tm utc{};
  ::gmtime_r(&seconds, &utc);
  char text[64];
  const std::size_t n = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &utc);
  std::snprintf(text + n, sizeof text - n, ".%09lldZ", static_cast<long long>(ns % 1'000'000'000));
  return text;
}

StoreView::StoreView(const std::filesystem::path& dir, const App& app, std::string endpoint)
    : app_(app),
      store_(dir, "", readOnlyOptions()),
      handlers_(endpointHandlers(app, endpoint.empty() ? store_.endpointName() : endpoint,
                                 store_.endpointName())) {
  for (const auto& handler : handlers_.all()) {
    stateSchemas_.emplace(handler->entityType, handler->stateSchema);
  }
  for (const App::MessageType& type : app_.messageTypes()) {
    messageSchemas_.emplace(type.schema.getProto().getId(), type.schema);
  }
}

std::string EntityRow::prunedNote() const {
  if (!pruned()) return {};
  return "history below version " + std::to_string(firstRetained) +
         " was pruned (retention); the state at version " + std::to_string(firstRetained - 1) +
         " is kept as a snapshot";
}

std::vector<EntityRow> StoreView::entities(const EntityFilter& filter, std::uint64_t after,
                                           std::size_t limit) const {
  std::vector<EntityRow> rows;
  if (limit == 0) return rows;
  store_.read([&](store::Txn& txn) {
    store_.forEachEntity(txn, after, [&](std::uint64_t number, const store::EntityName& name) {
      if (!filter.entityType.empty() && name.entityType != filter.entityType) return true;
      if (!name.key.starts_with(filter.keyPrefix)) return true;
      rows.push_back({number, name, store_.headVersion(txn, number),
                      std::max<std::uint64_t>(store_.firstRetainedVersion(txn, number), 1)});
      return rows.size() < limit;
    });
  });
  return rows;
}

std::optional<EntityRow> StoreView::findEntity(std::string_view typeSlashKey) const {
  const std::size_t slash = typeSlashKey.find('/');
  if (slash == std::string_view::npos) {
    fail(ErrorKind::kPermanent, "an entity is named TYPE/KEY (e.g. account/alice), not '" +
                                    std::string(typeSlashKey) + "'");
  }
  std::optional<std::uint64_t> number;
  store_.read([&](store::Txn& txn) {
    number = store_.findEntity(txn, typeSlashKey.substr(0, slash), typeSlashKey.substr(slash + 1));
  });
  return number ? findEntity(*number) : std::nullopt;
}

std::optional<EntityRow> StoreView::findEntity(std::uint64_t number) const {
  std::optional<EntityRow> row;
  store_.read([&](store::Txn& txn) {
    if (auto name = store_.findEntityName(txn, number)) {
      row = EntityRow{number, *name, store_.headVersion(txn, number),
                      std::max<std::uint64_t>(store_.firstRetainedVersion(txn, number), 1)};
    }
  });
  return row;
}

std::vector<HistoryRow> StoreView::history(std::uint64_t entity) const {
  std::vector<HistoryRow> rows;
  store_.read([&](store::Txn& txn) {
    const std::optional<store::Head> head = store_.findHead(txn, entity);
    for (const std::uint64_t seq : store_.retainedRecords(txn, entity)) {
      const std::optional<store::LogRecord> record = store_.findRecord(txn, seq);
      if (!record) continue;
      const store::HistoryEntry* entry = &record->entry;
      HistoryRow row;
      row.version = record->version;
      CanonicalReader reader(entry->input, "recorded input envelope");
      auto envelope = reader.root<wire::Envelope>();
      auto id = envelope.getId();
      row.inputId = MessageId::fromBytes({id.begin(), id.size()}).value_or(MessageId{});
      row.messageType = envelope.getMessageType();
      row.messageTypeName = messageTypeName(row.messageType);
      row.recordedAtNs = entry->recordedAtNs;
      row.handlerId = entry->handlerId;
      row.handlerVersion = entry->handlerVersion;
      row.outputCount = entry->outputCount;
      row.outputDigest = entry->outputDigest;
      row.stateChanged = entry->stateChanged;
      row.hasSnapshot = record->state.has_value() || (head && head->seq == seq);
      rows.push_back(std::move(row));
    }
  });
  return rows;
}

std::optional<store::Applied> StoreView::findApplied(const MessageId& id) const {
  std::optional<store::Applied> applied;
  store_.read([&](store::Txn& txn) { applied = store_.findApplied(txn, id); });
  return applied;
}

nlohmann::json StoreView::stateAt(const EntityRow& entity, std::uint64_t version) const {
  nlohmann::json json;
  store_.read([&](store::Txn& txn) {
    detail::StateLoader loader(store_, handlers_);
    detail::LoadedState state = loader.load(txn, entity.number, version);
    json = stateJson(entity.name.entityType, state.words());
  });
  return json;
}

nlohmann::json StoreView::outputsAt(const EntityRow& entity, std::uint64_t version) const {
  nlohmann::json json;
  store_.read([&](store::Txn& txn) {
    auto entry = store_.findHistory(txn, entity.number, version);
    if (!entry) {
      const std::uint64_t first = store_.firstRetainedVersion(txn, entity.number);
      fail(ErrorKind::kPermanent, entity.name.entityType + "/" + entity.name.key +
                                      (version != 0 && version < first
                                           ? ": the history of version " + std::to_string(version) +
                                                 " is gone: history below version " +
                                                 std::to_string(first) + " was pruned (retention)"
                                           : " has no version " + std::to_string(version)));
    }
    detail::StateLoader loader(store_, handlers_);
    detail::LoadedState before = loader.load(txn, entity.number, version - 1);
    detail::RunResult result =
        detail::rerunRecorded(handlers_, *entry, entity.name, version, before.words());
    json = {{"version", version},
            {"digestMatches", result.emitted.digest == entry->outputDigest &&
                                  result.emitted.messages.size() == entry->outputCount},
            {"outputs", outputsJson(result.emitted.messages)}};
  });
  return json;
}

nlohmann::json StoreView::stateJson(std::string_view entityType,
                                    kj::ArrayPtr<const capnp::word> state) const {
  auto it = stateSchemas_.find(entityType);
  if (it == stateSchemas_.end()) {
    return {
        {"unknownEntityType", entityType},
        {"hex", hexOf({reinterpret_cast<const std::uint8_t*>(state.begin()), state.size() * 8})}};
  }
  return jsonOf(it->second, state);
}

nlohmann::json StoreView::envelopeJson(std::span<const std::byte> bytes) const {
  CanonicalReader reader(bytes, "envelope");
  auto envelope = reader.root<wire::Envelope>();
  const std::uint64_t type = envelope.getMessageType();
  nlohmann::json json = {
      {"id", hexOfData(envelope.getId())},
      {"messageType", messageTypeName(type)},
      {"destination", envelope.getDestination().cStr()},
      {"source", envelope.getSource().cStr()},
      {"causationId", hexOfData(envelope.getCausationId())},
      {"correlationId", hexOfData(envelope.getCorrelationId())},
      {"recordedAt", formatTimeNs(envelope.getRecordedAt())},
  };
  if (envelope.getDeliverAt() != 0) json["deliverAt"] = formatTimeNs(envelope.getDeliverAt());
  if (envelope.getEntityKey().size() != 0) json["entityKey"] = envelope.getEntityKey().cStr();
  for (auto header : envelope.getHeaders()) {
    json["headers"][header.getName().cStr()] = header.getValue().cStr();
  }
  auto payload = envelope.getPayload();
  const std::span<const std::byte> payloadBytes{reinterpret_cast<const std::byte*>(payload.begin()),
                                                payload.size()};
  auto schema = messageSchemas_.find(type);
  if (schema == messageSchemas_.end() || payloadBytes.size() % 8 != 0) {
    json["payloadHex"] = hexOfData(payload);
  } else {
    CanonicalReader payloadReader(payloadBytes, "payload");
    json["payload"] = jsonOf(schema->second, payloadReader.words());
  }
  return json;
}

nlohmann::json StoreView::outputsJson(const std::vector<Outbound>& outputs) const {
  nlohmann::json json = nlohmann::json::array();
  for (const Outbound& out : outputs) json.push_back(envelopeJson(out.envelope));
  return json;
}

std::string StoreView::messageTypeName(std::uint64_t messageType) const {
  auto it = messageSchemas_.find(messageType);
  if (it != messageSchemas_.end()) return it->second.getShortDisplayName().cStr();
  return detail::messageTypeName(messageType);
}

}  // namespace idem::tools
