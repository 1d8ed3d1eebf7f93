// Oracles: a full re-fold of every store, compared with the transport's observations.
#include "tests/oracles.h"

#include <algorithm>
#include <map>
#include <memory>
#include <set>

#include "framework/history_fold.h"
#include "framework/state_loader.h"
#include "idem/envelope.capnp.h"

namespace idem::test {

namespace {
MessageId idOfEnvelope(std::span<const std::byte> bytes) {
  CanonicalReader reader(bytes, "envelope");
  auto id = reader.root<wire::Envelope>().getId();
  return MessageId::fromBytes({id.begin(), id.size()}).value_or(MessageId{});
}
}  // namespace

Outbound observedCopy(Bytes envelope) {
  Outbound out;
  {
    CanonicalReader reader(envelope, "observed envelope");
    auto e = reader.root<wire::Envelope>();
    out.id = MessageId::fromBytes({e.getId().begin(), e.getId().size()}).value_or(MessageId{});
    out.messageType = e.getMessageType();
    out.destination = e.getDestination();
  }
  out.envelope = std::move(envelope);
  return out;
}

OracleReport checkOracles(SimWorld& world, const std::vector<std::string>& endpoints) {
  world.closeAll();
  std::vector<StoreUnderTest> stores;
  for (const std::string& name : endpoints) {
    StoreUnderTest under{name, world.storeOf(name), world.factory(name)};
    // Every prune ran at a virtual time no later than now, so with a cutoff no later than now
    // minus the applied horizon.
    const RetentionPolicy& retention = world.options(name).retention;
    if (retention.enabled) {
      under.forgetsInputsBeforeNs =
          std::chrono::duration_cast<std::chrono::nanoseconds>(
              (world.transport.now() - retention.appliedHorizon).time_since_epoch())
              .count();
    }
    stores.push_back(std::move(under));
  }
  return checkOracles(stores, world.transport.published(), world.transport.acked());
}

OracleReport checkOracles(const std::vector<StoreUnderTest>& stores,
                          const std::vector<Outbound>& copies,
                          const std::vector<std::pair<std::string, Bytes>>& acked) {
  OracleReport report;
  auto violation = [&](std::string text) { report.violations.push_back(std::move(text)); };
  std::vector<std::string> endpoints;
  for (const StoreUnderTest& s : stores) endpoints.push_back(s.endpoint);

  // Open for the whole check: pruned and forgotten inputs are looked up after the fold.
  std::vector<std::unique_ptr<store::VersionStore>> open;
  std::map<MessageId, Bytes> derived;  // output id -> bytes, over all endpoints
  std::map<std::string, std::set<MessageId>> appliedBy;
  for (const StoreUnderTest& under : stores) {
    const std::string& name = under.endpoint;
    Handlers handlers = under.handlers();
    open.push_back(std::make_unique<store::VersionStore>(under.directory, name));
    store::VersionStore& store = *open.back();
    detail::StateLoader loader(store, handlers);
    std::set<MessageId>& applied = appliedBy[name];
    store.read([&](store::Txn& txn) {
      store.forEachEntity(txn, 0, [&](std::uint64_t entity, const store::EntityName& entityName) {
        const std::string label = name + ":" + entityName.entityType + "/" + entityName.key;
        Words finalState;
        bool folded = false;  // retention may have removed every record: the head is the base
        detail::foldHistory(store, txn, handlers, entity, [&](const detail::FoldedVersion& f) {
          ++report.historyEntries;
          const MessageId input = idOfEnvelope(f.entry->input);
          if (!applied.insert(input).second) {
            violation("O1: input " + input.toHex() + " has two history entries in " + name);
          }
          auto where = store.findApplied(txn, input);
          if (!where || where->entity != entity || where->version != f.version) {
            violation("O1: applied index of " + input.toHex() + " does not point at " + label +
                      " v" + std::to_string(f.version));
          }
          if (!f.digestMatches) {
            violation("O3: " + label + " v" + std::to_string(f.version) +
                      " re-derives outputs whose digest differs from the recorded one");
          }
          for (const Outbound& out : f.result->emitted.messages) {
            ++report.outputsDerived;
            derived[out.id] = out.envelope;
          }
          finalState = kj::heapArray<capnp::word>(f.result->state.asPtr());
          folded = true;
        });
        const std::uint64_t head = store.headVersion(txn, entity);
        detail::LoadedState loaded = loader.load(txn, entity, head);
        if (folded && loaded.words().asBytes() != finalState.asPtr().asBytes()) {
          violation("O7: the state loaded at " + label + " v" + std::to_string(head) +
                    " differs from the fold of its inputs");
        }
        return true;
      });
    });
  }

  // What the stores of `endpoint` still know of `input`, which has no retained history entry.
  enum class Known { kNot, kPruned, kApplied };
  auto known = [&](const std::string& endpoint, const MessageId& input) {
    Known result = Known::kNot;
    for (std::size_t i = 0; i < stores.size(); ++i) {
      if (stores[i].endpoint != endpoint) continue;
      open[i]->read([&](store::Txn& txn) {
        auto where = open[i]->findApplied(txn, input);
        if (!where) return;
        result = where->version < open[i]->firstRetainedVersion(txn, where->entity)
                     ? Known::kPruned
                     : Known::kApplied;
      });
      if (result != Known::kNot) break;
    }
    return result;
  };
  auto forgetsBefore = [&](const std::string& endpoint) {
    std::int64_t cutoff = INT64_MIN;
    for (const StoreUnderTest& s : stores) {
      if (s.endpoint == endpoint) cutoff = std::max(cutoff, s.forgetsInputsBeforeNs);
    }
    return cutoff;
  };

  std::set<MessageId> publishedIds;
  for (const Outbound& copy : copies) {
    ++report.copiesCompared;
    publishedIds.insert(copy.id);
    auto it = derived.find(copy.id);
    if (it == derived.end()) {
      CanonicalReader reader(copy.envelope, "published envelope");
      auto envelope = reader.root<wire::Envelope>();
      std::string source = envelope.getSource();
      if (std::find(endpoints.begin(), endpoints.end(), source) == endpoints.end()) {
        continue;  // edge messages and endpoints not checked here
      }
      const MessageId cause = MessageId::fromBytes({envelope.getCausationId().begin(),
                                                    envelope.getCausationId().size()})
                                  .value_or(MessageId{});
      const Known k = known(source, cause);
      if (k == Known::kPruned) {
        ++report.copiesOfPrunedVersions;
      } else if (k == Known::kNot && envelope.getRecordedAt() < forgetsBefore(source)) {
        ++report.forgottenInputs;
      } else {
        violation("O4: ghost: " + source + " published " + copy.id.toHex() +
                  ", which no committed history entry produces");
      }
      continue;
    }
    if (it->second != copy.envelope) {
      violation("O2/O4: a published copy of " + copy.id.toHex() +
                " differs from the output re-derived from committed history");
    }
  }
  for (const auto& [id, bytes] : derived) {
    if (publishedIds.count(id) == 0) violation("O5: output " + id.toHex() + " was never published");
  }
  for (const auto& [endpoint, envelope] : acked) {
    auto it = appliedBy.find(endpoint);
    if (it == appliedBy.end()) continue;
    const MessageId input = idOfEnvelope(envelope);
    if (it->second.count(input) != 0) continue;
    const Known k = known(endpoint, input);
    if (k == Known::kPruned) continue;
    if (k == Known::kNot) {
      CanonicalReader reader(envelope, "acked envelope");
      if (reader.root<wire::Envelope>().getRecordedAt() < forgetsBefore(endpoint)) {
        ++report.forgottenInputs;
        continue;
      }
    }
    violation("O6: " + endpoint + " acked input " + input.toHex() + " without a history entry");
  }
  return report;
}

}  // namespace idem::test
