// Partitioning: the stable partition hash and the key resolver built from handler sets.
#include "idem/partitioning.h"

#include <kj/exception.h>

#include <map>
#include <memory>

#include "handlers/id_hash.h"
#include "idem/canonical.h"
#include "idem/error.h"

namespace idem {

std::uint32_t partitionOf(std::string_view entityKey, std::uint32_t count) {
  if (count == 0) fail(ErrorKind::kBug, "partitionOf: the partition count must be > 0");
  detail::IdHash hash("idem-partition");
  hash.addText(entityKey);
  return static_cast<std::uint32_t>(hash.finishU64() % count);
}

EntityKeyResolver keyResolverFor(std::vector<Handlers> handlerSets) {
  struct Known {
    std::vector<Handlers> sets;
    std::map<std::pair<std::string, std::uint64_t>, const detail::RegisteredHandler*, std::less<>>
        byEndpointAndType;
  };
  auto known = std::make_shared<Known>();
  known->sets = std::move(handlerSets);
  for (const Handlers& set : known->sets) {
    for (const auto& handler : set.all()) {
      if (handler->replayOnly) continue;  // new inputs are routed by the current handlers' keys
      known->byEndpointAndType[{set.endpointName(), handler->messageType}] = handler.get();
    }
  }
  return [known](std::string_view endpoint, std::uint64_t messageType,
                 std::span<const std::byte> payload) -> std::optional<std::string> {
    auto it = known->byEndpointAndType.find(std::pair(std::string(endpoint), messageType));
    if (it == known->byEndpointAndType.end()) return std::nullopt;
    const detail::RegisteredHandler& handler = *it->second;
    const std::string typeName = handler.messageSchema.getShortDisplayName().cStr();
    std::string key;
    KJ_IF_MAYBE (exception, kj::runCatchingExceptions([&] {
                   CanonicalReader reader(payload, "payload");
                   key = handler.keyOf(reader.root<capnp::AnyStruct>());
                 })) {
      fail(ErrorKind::kPermanent, "cannot derive " + std::string(endpoint) + "'s entity key of " +
                                      typeName + ": " + exception->getDescription().cStr());
    }
    return key;
  };
}

}  // namespace idem
