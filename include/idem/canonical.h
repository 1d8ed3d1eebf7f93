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
// number of words or is not a canonical message of a struct (canonicalize() of its root would
// not give back the same bytes), naming `what` (e.g. "payload").
// Its traversal limit (2 x size + 64 words) is for the checks and a single read through; a
// handler run reads its input through a RunReader of its own.
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

// Reads words that a CanonicalReader already verified as canonical, for one handler run, with a
// traversal limit of its own: kRunTraversalFactor x size + kRunTraversalSlack words, counted per
// run. Canonical messages cannot alias (every object is reached by exactly one pointer, in
// preorder), so the amplification Cap'n Proto's limit guards against can only come from a
// handler reading the same field repeatedly: this bounds that per run without failing a
// handler that reads a field a few times, or the second run of verifyDeterminism. `words` must
// outlive the reader and be word-aligned.
class RunReader {
 public:
  static constexpr std::size_t kRunTraversalFactor = 64;
  static constexpr std::size_t kRunTraversalSlack = 8192;

  explicit RunReader(kj::ArrayPtr<const capnp::word> words);
  RunReader(const RunReader&) = delete;
  RunReader& operator=(const RunReader&) = delete;

  template <typename T>
  typename T::Reader root() {
    return reader_.getRoot<T>();
  }

 private:
  kj::ArrayPtr<const capnp::word> segments_[1];
  capnp::SegmentArrayMessageReader reader_;
};

}  // namespace idem
