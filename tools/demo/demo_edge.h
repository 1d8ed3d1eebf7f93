// The demo's edge messages: each with an id derived from a stable key ("demo" source), so that a
// re-run or a duplicate delivery sends the same logical message again.
#pragma once

#include <capnp/generated-header-support.h>

#include <string_view>

#include "idem/edge.h"

namespace idem::tools::demo {

template <typename M, typename Fill>
Outbound demoMessage(std::string_view stableKey, std::string_view destination, TimePoint now,
                     Fill fill) {
  const EdgeAddress address{MessageId::forEdge("demo", stableKey), destination, now};
  return edgeOutbound(address, capnp::typeId<M>(), edgeMessage<M>(address, fill));
}

}  // namespace idem::tools::demo
