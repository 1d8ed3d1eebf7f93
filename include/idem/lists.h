// Lists: growing and shrinking a list field of a Cap'n Proto struct builder in place, through
// the field's orphan (disown, truncate, adopt), e.g. the holds of an account's state.
//
//   constexpr auto kHolds =
//       idem::listField(&bank::Account::Builder::disownHolds, &bank::Account::Builder::adoptHolds);
//   auto hold = idem::append(account, kHolds);  // a zeroed element at the end
//   hold.setTransferId(id);
//   idem::removeIf(account, kHolds, [&](bank::Hold::Reader h) { return h.getTransferId() == id; });
//
// Both keep the order of the remaining elements, so the result is deterministic. Space left
// behind by a grown or shrunk list stays in the message until it is copied; idem stores states
// and payloads in canonical form (a fresh copy), so nothing of it is ever stored or sent.
// Lists of structs, primitives, enums, Text and Data are supported; lists of lists are not.
#pragma once

#include <capnp/list.h>
#include <capnp/orphan.h>

#include <cstddef>
#include <utility>

namespace idem {

// Names one list field of struct builders of type `Builder` by its generated disown and adopt
// accessors. A value type; build it with listField().
template <typename Builder, typename ListType>
struct ListField {
  capnp::Orphan<ListType> (Builder::*disown)();
  void (Builder::*adopt)(capnp::Orphan<ListType>&&);
};

template <typename Builder, typename ListType>
constexpr ListField<Builder, ListType> listField(
    capnp::Orphan<ListType> (Builder::*disown)(),
    void (Builder::*adopt)(capnp::Orphan<ListType>&&)) {
  return {disown, adopt};
}

namespace detail {
template <typename ListType>
struct ListOf;
template <typename T, capnp::Kind kKind>
struct ListOf<capnp::List<T, kKind>> {
  static constexpr capnp::Kind kElementKind = kKind;
};

// Takes `field` out of `parent`, lets `edit(orphan)` resize or change it, and puts it back.
// Adopting writes a pointer to the list and does not move it, so builders of its elements taken
// inside `edit` stay valid. A field that was never set is an empty list.
template <typename Builder, typename ListType, typename Edit>
auto editList(Builder parent, ListField<Builder, ListType> field, Edit edit) {
  capnp::Orphan<ListType> list = (parent.*field.disown)();
  auto result = edit(list);
  (parent.*field.adopt)(kj::mv(list));
  return result;
}
}  // namespace detail

// Appends a zeroed element to a list of structs and returns its builder, valid while `parent`'s
// message lives and the list is not resized again.
template <typename Builder, typename ListType>
auto append(Builder parent, ListField<Builder, ListType> field) {
  static_assert(detail::ListOf<ListType>::kElementKind == capnp::Kind::STRUCT,
                "append(parent, field) is for lists of structs; pass the value for other lists");
  return detail::editList(parent, field, [](capnp::Orphan<ListType>& list) {
    unsigned size = list.get().size();
    list.truncate(size + 1);
    return list.get()[size];
  });
}

// Appends `value` to a list of primitives, enums, Text or Data.
template <typename Builder, typename ListType, typename Value>
void append(Builder parent, ListField<Builder, ListType> field, Value&& value) {
  detail::editList(parent, field, [&](capnp::Orphan<ListType>& list) {
    unsigned size = list.get().size();
    list.truncate(size + 1);
    list.get().set(size, std::forward<Value>(value));
    return 0;
  });
}

// Removes every element for which `predicate(element reader)` is true, keeping the order of the
// others, and returns how many were removed. `predicate` must not touch the list.
template <typename Builder, typename ListType, typename Predicate>
std::size_t removeIf(Builder parent, ListField<Builder, ListType> field, Predicate predicate) {
  return detail::editList(parent, field, [&](capnp::Orphan<ListType>& orphan) {
    auto list = orphan.get();
    auto reader = list.asReader();
    unsigned kept = 0;
    for (unsigned i = 0; i < list.size(); ++i) {
      if (predicate(reader[i])) continue;
      if (kept != i) {
        constexpr capnp::Kind kKind = detail::ListOf<ListType>::kElementKind;
        if constexpr (kKind == capnp::Kind::STRUCT) {
          list.setWithCaveats(kept, reader[i]);
        } else if constexpr (kKind == capnp::Kind::BLOB) {
          list.adopt(kept, list.disown(i));
        } else {
          list.set(kept, reader[i]);
        }
      }
      ++kept;
    }
    std::size_t removed = list.size() - kept;
    if (removed != 0) orphan.truncate(kept);
    return removed;
  });
}

}  // namespace idem
