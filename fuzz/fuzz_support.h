// What every fuzz target asserts: a decoder given any bytes returns or throws idem::Error of the
// kind its contract names; anything else (another exception type, another kind) aborts, so that
// libFuzzer reports it as a crash and keeps the input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <span>
#include <string_view>

#include "idem/error.h"

namespace idem::fuzz {

inline std::span<const std::byte> bytesOf(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const std::byte*>(data), size};
}

inline std::string_view textOf(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

[[noreturn]] inline void finding(const char* what, const char* detail) {
  std::fprintf(stderr, "fuzz finding: %s: %s\n", what, detail);
  std::abort();
}

// Runs `decode`; an idem::Error of `allowed` kind is a rejection, anything else escaping is a
// finding.
template <typename F>
void expectOnly(ErrorKind allowed, F&& decode) {
  try {
    decode();
  } catch (const Error& e) {
    if (e.kind() != allowed) finding("idem::Error of an unexpected kind", e.what());
  } catch (const std::exception& e) {
    finding("a non-idem exception escaped", e.what());
  } catch (...) {
    finding("a non-std exception escaped", "(unknown type)");
  }
}

// Runs `f`, which must not throw at all.
template <typename F>
void expectNoThrow(F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    finding("an exception escaped a function that must not throw", e.what());
  } catch (...) {
    finding("a non-std exception escaped", "(unknown type)");
  }
}

}  // namespace idem::fuzz
