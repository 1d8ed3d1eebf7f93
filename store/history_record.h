// HistoryRecord decoding: the value of a "history" entry (a canonical records.capnp
// HistoryRecord; grammar in version_store.cpp) read into a HistoryEntry. No LMDB.
#pragma once

#include <cstddef>
#include <span>
#include <string>

#include "store/version_store.h"

namespace idem::store {

// Reads `words`, which must be 8-byte aligned: the entry's spans point into them, so they must
// outlive it. Throws idem::Error kPermanent naming `what` when the bytes are not a canonical
// HistoryRecord or its output digest is not 32 bytes; kBug when `words` is unaligned.
HistoryEntry decodeHistoryRecord(std::span<const std::byte> words, const std::string& what);

}  // namespace idem::store
