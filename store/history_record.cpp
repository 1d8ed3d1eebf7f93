// HistoryRecord decoding, shared by VersionStore::findHistory and fuzz/fuzz_store_records.cpp.
#include "store/history_record.h"

#include <kj/exception.h>

#include <cstdint>
#include <cstring>

#include "idem/canonical.h"
#include "idem/error.h"
#include "store/records.capnp.h"

namespace idem::store {

HistoryEntry decodeHistoryRecord(std::span<const std::byte> words, const std::string& what) {
  // An unaligned value would be read from CanonicalReader's private copy, which dies here.
  if (reinterpret_cast<std::uintptr_t>(words.data()) % alignof(capnp::word) != 0) {
    fail(ErrorKind::kBug, what + ": history record bytes are not word-aligned");
  }
  // CanonicalReader checks the bytes (throwing Error kPermanent); the getters below then only
  // read what it verified, and any kj::Exception left is translated all the same.
  CanonicalReader reader(words, what.c_str());
  HistoryEntry entry;
  bool digestOk = false;
  KJ_IF_MAYBE (exception, kj::runCatchingExceptions([&] {
                 auto r = reader.root<records::HistoryRecord>();
                 const auto handlerId = r.getHandlerId();
                 entry.handlerId = {handlerId.begin(), handlerId.size()};
                 entry.handlerVersion = r.getHandlerVersion();
                 entry.outputCount = r.getOutputCount();
                 entry.recordedAtNs = r.getRecordedAtNs();
                 entry.stateChanged = r.getStateChanged();
                 const auto digest = r.getOutputDigest();
                 digestOk = digest.size() == entry.outputDigest.size();
                 if (digestOk)
                   std::memcpy(entry.outputDigest.data(), digest.begin(), digest.size());
                 const auto input = r.getInput();
                 entry.input = {reinterpret_cast<const std::byte*>(input.begin()), input.size()};
               })) {
    fail(ErrorKind::kPermanent, what + " is malformed: " + exception->getDescription().cStr());
  }
  if (!digestOk) fail(ErrorKind::kPermanent, what + ": output digest is not 32 bytes");
  return entry;
}

}  // namespace idem::store
