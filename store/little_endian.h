// Little-endian integers in record values (log records, heads, bases: docs/storage-format.md).
// Keys stay big-endian (version_store_impl.h) so that they sort numerically.
#pragma once

#include <cstddef>
#include <cstdint>

namespace idem::store {

template <typename T>
void putLe(std::byte* out, T value) {
  auto v = static_cast<std::uint64_t>(value);
  for (std::size_t i = 0; i < sizeof(T); ++i, v >>= 8) out[i] = static_cast<std::byte>(v & 0xff);
}

template <typename T>
T getLe(const std::byte* in) {
  std::uint64_t v = 0;
  for (std::size_t i = sizeof(T); i-- > 0;) v = (v << 8) | std::to_integer<std::uint64_t>(in[i]);
  return static_cast<T>(v);
}

}  // namespace idem::store
