// TempDir: a fresh, empty directory for one test, removed with all its contents when it ends.
#pragma once

#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>

namespace idem::test {

class TempDir {
 public:
  // Creates $TMPDIR/<prefix>-XXXXXX. Throws std::runtime_error when it cannot.
  explicit TempDir(std::string_view prefix = "idem-test") {
    std::string pattern =
        (std::filesystem::temp_directory_path() / (std::string(prefix) + "-XXXXXX")).string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      throw std::runtime_error("mkdtemp failed for " + pattern);
    }
    path_ = pattern;
  }
  // IDEM_KEEP_TEST_DIRS=1 keeps them, for a post-mortem (logs of endpoint processes, stores).
  ~TempDir() {
    if (const char* keep = std::getenv("IDEM_KEEP_TEST_DIRS"); keep && *keep == '1') return;
    std::error_code ignored;  // best effort: a leftover directory must not fail a test
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const noexcept { return path_; }
  std::filesystem::path operator/(std::string_view name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

}  // namespace idem::test
