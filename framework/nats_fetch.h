// Fetching from a JetStream pull consumer safely with nats.c 3.4 (Debian 12's libnats 3.4.1).
//
// The defect: a pull request whose client-side wait ends while the server is still delivering
// (nats.c gives the server a 10 ms shorter expiry than its own wait: a margin easily lost on a
// loaded machine) leaves late messages queued on the subscription. nats.c 3.4's fetch first
// collects such queued messages, then keeps receiving until it holds "batch - collected" in
// total, so when more than half of the batch was queued it never stops at the batch and writes
// past the array it allocated for it, corrupting the heap: endpoint processes died with
// `malloc(): unaligned fastbin chunk detected` (exit 134) in the NATS kill -9 tests, and
// idem-bench's NATS row within seconds (AddressSanitizer named the array).
//
// The guard: before each fetch, count the messages already queued (q) and ask for
// batch + 2q, so that what the fetch collects first stays within half of its array. A fetch may
// therefore return more messages than `request.Batch`; callers take them all. Upgrading to a
// nats.c that checks the batch in that loop (newer releases do) makes the guard unnecessary.
#pragma once

#include <nats/nats.h>

namespace idem::detail::nats {

// natsSubscription_FetchRequest(&list, subscription, &request) with the guard above. The caller
// destroys `list` with natsMsgList_Destroy.
natsStatus guardedFetch(natsMsgList& list, natsSubscription* subscription, jsFetchRequest request);

}  // namespace idem::detail::nats
