// Value: canonical bytes of one struct, read in place and printed as JSON (include/idem/testing.h).
#include <capnp/compat/json.h>
#include <capnp/dynamic.h>

#include <cstring>
#include <limits>

#include "idem/testing.h"

namespace idem::testing {

// The bytes, a word-aligned copy of them and a reader over that copy. Tests read the same fields
// many times over a Value's life, so the reader has no traversal limit: the bytes were checked
// as canonical, and canonical messages cannot alias.
struct Value::Held {
  explicit Held(Bytes b)
      : bytes(std::move(b)), words(kj::heapArray<capnp::word>(bytes.size() / 8)) {
    std::memcpy(words.begin(), bytes.data(), bytes.size());
    segments[0] = words.asPtr();
    capnp::ReaderOptions options;
    options.traversalLimitInWords = std::numeric_limits<std::uint64_t>::max();
    reader.emplace(kj::arrayPtr(segments, 1), options);
  }
  Held(const Held&) = delete;
  Held& operator=(const Held&) = delete;

  Bytes bytes;
  Words words;
  kj::ArrayPtr<const capnp::word> segments[1];
  mutable std::optional<capnp::SegmentArrayMessageReader> reader;
};

Value::Value(Bytes bytes, std::optional<capnp::StructSchema> schema) : schema_(schema) {
  if (bytes.empty()) return;
  { CanonicalReader check(bytes, "value"); }  // throws idem::Error (permanent) when not canonical
  held_ = std::make_shared<const Held>(std::move(bytes));
}

const Bytes& Value::bytes() const {
  static const Bytes kNone;
  return held_ ? held_->bytes : kNone;
}

capnp::AnyStruct::Reader Value::root() const {
  if (!held_) throw std::logic_error("this value holds nothing");
  return held_->reader->getRoot<capnp::AnyStruct>();
}

std::string Value::displayName() const {
  return schema_ ? schema_->getShortDisplayName().cStr() : "struct of unknown type";
}

std::string Value::json() const {
  if (!schema_) {
    throw std::logic_error(
        "no schema for this value: Harness::addSchema<M>() for types no endpoint of the harness "
        "handles");
  }
  if (!held_) throw std::logic_error("this value holds nothing");
  capnp::JsonCodec codec;
  return codec.encode(held_->reader->getRoot<capnp::DynamicStruct>(*schema_)).cStr();
}

}  // namespace idem::testing
