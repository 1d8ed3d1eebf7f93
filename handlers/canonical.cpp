// CanonicalReader: reads canonical bytes in place, or from an aligned copy.
#include "idem/canonical.h"

#include <kj/exception.h>

#include <cstdint>
#include <cstring>
#include <string>

#include "idem/error.h"

namespace idem {

CanonicalReader::CanonicalReader(std::span<const std::byte> bytes, const char* what) {
  if (bytes.size() % sizeof(capnp::word) != 0) {
    fail(ErrorKind::kPermanent, std::string(what) + " is " + std::to_string(bytes.size()) +
                                    " bytes, not a whole number of 8-byte words");
  }
  const std::size_t wordCount = bytes.size() / sizeof(capnp::word);
  if (reinterpret_cast<std::uintptr_t>(bytes.data()) % alignof(capnp::word) == 0) {
    words_ = {reinterpret_cast<const capnp::word*>(bytes.data()), wordCount};
  } else {
    copy_ = kj::heapArray<capnp::word>(wordCount);
    if (wordCount > 0) std::memcpy(copy_.begin(), bytes.data(), bytes.size());
    words_ = copy_.asPtr();
  }
  if (wordCount == 0) fail(ErrorKind::kPermanent, std::string(what) + " is empty");
  segments_[0] = words_;
  capnp::ReaderOptions options;
  options.traversalLimitInWords = wordCount * 2 + 64;
  reader_.emplace(kj::arrayPtr(segments_, 1), options);
  // Canonical means canonicalize() gives back these very bytes. Cap'n Proto's isCanonical()
  // is weaker: it accepts any root pointer (a list root then makes root<T>() throw kj::Exception
  // outside this check) and an empty list pointer with any offset, so that one value would
  // have several accepted encodings (both found by fuzz/fuzz_canonical).
  // The check reads through a reader of its own: canonicalize() walks the message twice (size,
  // then copy), which must not spend the traversal budget of the reads that follow.
  bool canonical = false;
  KJ_IF_MAYBE (exception, kj::runCatchingExceptions([&] {
                 capnp::SegmentArrayMessageReader check(kj::arrayPtr(segments_, 1), options);
                 const Words again = check.getRoot<capnp::AnyStruct>().canonicalize();
                 canonical = again.size() == words_.size() &&
                             std::memcmp(again.begin(), words_.begin(), bytes.size()) == 0;
               })) {
    fail(ErrorKind::kPermanent,
         std::string(what) + " is malformed: " + exception->getDescription().cStr());
  }
  if (!canonical) fail(ErrorKind::kPermanent, std::string(what) + " is not in canonical form");
}

namespace {
capnp::ReaderOptions runOptions(std::size_t words) {
  capnp::ReaderOptions options;
  options.traversalLimitInWords =
      words * RunReader::kRunTraversalFactor + RunReader::kRunTraversalSlack;
  return options;
}
}  // namespace

RunReader::RunReader(kj::ArrayPtr<const capnp::word> words)
    : segments_{words}, reader_(kj::arrayPtr(segments_, 1), runOptions(words.size())) {}

}  // namespace idem
