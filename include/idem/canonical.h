// Canonical Cap'n Proto bytes: the one encoding idem stores, sends and digests, so that
// "identical" means byte-identical. A canonical message is one segment without a segment table.
#pragma once

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/array.h>

#include <cstddef>
#include <optional>
#include <span>

namespace idem {

using Words = kj::Array<capnp::word>;

// First-segment size of the message builders idem creates per message (states, outputs,
// envelopes, history records). Cap'n Proto's default, 1024 words, is calloc'ed: 8 KiB zeroed per
// builder, which was 40% of the pipeline's instructions (docs/benchmarks.md). A larger message
// just gets further segments; canonical bytes do not depend on how the builder was segmented.
inline constexpr unsigned kBuilderFirstSegmentWords = 64;

// The canonical bytes of `reader`'s struct.
template <typename Reader>
Words canonicalOf(Reader reader) {
  return capnp::canonicalize(reader);
}

inline std::span<const std::byte> asBytes(kj::ArrayPtr<const capnp::word> words) {
  return {reinterpret_cast<const std::byte*>(words.begin()), words.size() * sizeof(capnp::word)};
}

// Reads canonical bytes in place when they are word-aligned, from a private copy otherwise.
// `bytes` must outlive the reader. Throws idem::Error (permanent) when `bytes` is not a whole
// number of words or is not a canonical message, naming `what` (e.g. "payload").
class CanonicalReader {
 public:
  CanonicalReader(std::span<const std::byte> bytes, const char* what);
  CanonicalReader(const CanonicalReader&) = delete;
  CanonicalReader& operator=(const CanonicalReader&) = delete;

  template <typename T>
  typename T::Reader root() {
    return reader_->getRoot<T>();
  }
  // The message, e.g. for getRoot<capnp::DynamicStruct>(schema).
  capnp::MessageReader& message() { return *reader_; }
  // The bytes read, word-aligned.
  kj::ArrayPtr<const capnp::word> words() const { return words_; }

 private:
  Words copy_;
  kj::ArrayPtr<const capnp::word> words_;
  kj::ArrayPtr<const capnp::word> segments_[1];
  std::optional<capnp::SegmentArrayMessageReader> reader_;
};

}  // namespace idem
