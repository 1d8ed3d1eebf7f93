// LogRecord: the value of one "log" entry of a format-2 version store (what produced one version
// of one entity), encoded and decoded without LMDB or Cap'n Proto. The grammar is in
// docs/storage-format.md, "Log record":
//
//   record    := header handlerId pad input state?
//   header    := entity:u64 version:u64 prevSeq:u64 recordedAtNs:i64          (little-endian)
//                handlerVersion:u32 outputCount:u32 inputBytes:u32 stateBytes:u32
//                handlerIdBytes:u16 flags:u8 zero:5*u8 outputDigest:32*u8       (88 bytes)
//   flags     := bit 0 stateChanged, bit 1 hasState; other bits zero
//   pad       := zero bytes to the next multiple of 8
//   input     := inputBytes bytes, the canonical input envelope (a multiple of 8)
//   state     := stateBytes bytes of canonical state words, present iff hasState
//
// Every part starts at a multiple of 8 from the record's start, so a record read in place from
// an 8-byte-aligned value gives word-aligned input and state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "store/version_store.h"

namespace idem::store {

inline constexpr std::size_t kLogHeaderBytes = 88;

// What an encoder needs besides the HistoryEntry.
struct LogRecordPlace {
  std::uint64_t entity = 0;
  std::uint64_t version = 0;
  std::uint64_t prevSeq = 0;  // the entity's previous record; 0 for version 1
};

// The exact size of the encoded record.
std::size_t logRecordBytes(const HistoryEntry& entry,
                           const std::optional<std::span<const std::byte>>& state);

// Writes the record into `out` (exactly logRecordBytes(...) bytes). Throws idem::Error (bug)
// when the input or state is not a whole number of words or a length does not fit its field.
void encodeLogRecord(std::span<std::byte> out, const LogRecordPlace& place,
                     const HistoryEntry& entry,
                     const std::optional<std::span<const std::byte>>& state);

// Reads `bytes` (8-byte aligned: the spans of the result point into them). Throws idem::Error
// kPermanent naming `what` when the lengths disagree with the size, a reserved bit or byte is
// set, or a length is not a multiple of 8; kBug when `bytes` is unaligned.
LogRecord decodeLogRecord(std::span<const std::byte> bytes, std::uint64_t seq,
                          const std::string& what);

}  // namespace idem::store
