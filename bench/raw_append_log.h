// The raw append-log baseline: the physical limit of the bytes a time-ordered log store writes
// per message, on bare LMDB. Per message, one log record appended (MDB_APPEND) under the next
// sequence number and the entity's head updated in place; one commit per batch. No applied
// index: the limit of the log and the heads alone.
//
// Layout (the benchmark's own; idem's is docs/storage-format.md):
//   "log"    key   = be64(seq)                          seq = 1, 2, ... in commit order
//            value = header ‖ input envelope            the envelope bytes of that message
//            header (kLogHeaderBytes = 64) = be64(entity) ‖ be64(version) ‖
//                    be64(seq of the entity's previous record, 0 for none) ‖
//                    be64(recorded at, ns) ‖ be32(handler version) ‖ be32(output count) ‖
//                    output digest (24 bytes)
//   "heads"  key   = be64(entity)
//            value = be64(version) ‖ be64(seq of its last record) ‖ state bytes
#pragma once

#include <cstddef>

#include "bench/benchmarks.h"

namespace idem::bench {

constexpr std::size_t kLogHeaderBytes = 64;

// One run: settings.entities warm-up messages (one per entity, untimed), then settings.messages
// timed ones over the same entities as idem's runs, with the same envelopes (built before the
// clock starts) and `stateBytes` of state per head. Figures carry the store's cost.
Figures rawAppendLog(const Settings& settings, std::size_t stateBytes);

}  // namespace idem::bench
