// guardedFetch: a fetch whose array has room for every message already queued (nats_fetch.h).
#include "framework/nats_fetch.h"

#include <algorithm>
#include <climits>

namespace idem::detail::nats {

natsStatus guardedFetch(natsMsgList& list, natsSubscription* subscription, jsFetchRequest request) {
  int queued = 0;
  if (natsSubscription_GetPending(subscription, &queued, nullptr) != NATS_OK) queued = 0;
  const int room = (INT_MAX - request.Batch) / 2;
  request.Batch += 2 * std::clamp(queued, 0, room);
  list = natsMsgList{};
  return natsSubscription_FetchRequest(&list, subscription, &request);
}

}  // namespace idem::detail::nats
