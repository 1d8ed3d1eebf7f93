// Outbox baselines: the benchmark's counter (Increment -> value + 1, one Counted output) written
// the transactional-outbox way on raw LMDB, over the same MemoryTransport, batches and entities
// as idem's store-only runs.
//   classic  per batch, one transaction writes each input's state, its processed id and its
//            outgoing message (keyed by the output id); the outputs are dispatched; a second
//            durable transaction deletes the dispatched rows. Cap'n Proto builders start with
//            the default first segment (1024 words, calloc'ed per builder).
//   tuned    per batch, one transaction: it first deletes the rows the previous batch
//            dispatched, then writes state, processed ids and outgoing rows keyed by a
//            big-endian sequence number (MDB_APPEND, so the live outbox is one small run of
//            pages); the outputs are dispatched after its commit. Builders start with
//            kBuilderFirstSegmentWords words, as idem's do. What a team that cared about the
//            outbox's speed would write.
// The processed ids are the duplicate filter; both keep them forever (nothing expires within a
// run at idem's default horizons), except the tuned one with horizonsZero, which deletes each
// processed id together with its dispatched row (no duplicate window: idem with both retention
// horizons at 0).
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "bench/benchmarks.h"

namespace idem::bench {

enum class OutboxKind { kClassic, kTuned };

struct OutboxRun {
  Figures figures;  // with the store's cost
  // Bytes in the pages of each named database after the run, and "total".
  std::map<std::string, std::uint64_t> liveBytes;
};

// One run: settings.entities warm-up messages (one per entity, untimed), then settings.messages
// timed ones. horizonsZero applies to kTuned only.
OutboxRun runOutboxOnce(const Settings& settings, OutboxKind kind, bool horizonsZero = false);

}  // namespace idem::bench
