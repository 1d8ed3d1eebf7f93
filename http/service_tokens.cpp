// ServiceTokens: write-fsync-link files, so that a kill -9 leaves each token whole or absent.
#include "http/service_tokens.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

#include "idem/error.h"

namespace idem::http {

namespace {

constexpr std::string_view kRequest = ".request";
constexpr std::string_view kDeleted = ".deleted";
constexpr std::uint8_t kStatePut = 1;
constexpr std::uint8_t kStatePosted = 2;

[[noreturn]] void failOn(const std::string& what, const std::filesystem::path& path) {
  fail(ErrorKind::kTransient, what + " " + path.string() + ": " + std::strerror(errno));
}

void syncDirectory(const std::filesystem::path& directory) {
  const int fd = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) failOn("cannot open", directory);
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) failOn("cannot fsync", directory);
}

// Writes `state ‖ payload` (or nothing, for a tombstone) to a fresh temporary file beside
// `final`, fsynced. Returns its path.
std::filesystem::path writeTemporary(const std::filesystem::path& final, const std::uint8_t* state,
                                     std::span<const std::byte> payload) {
  std::filesystem::path tmp = final;
  tmp += "." + std::to_string(::getpid()) + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) failOn("cannot create", tmp);
  auto writeAll = [&](const void* data, std::size_t size) {
    const auto* p = static_cast<const char*>(data);
    while (size > 0) {
      const ssize_t n = ::write(fd, p, size);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        ::close(fd);
        failOn("cannot write", tmp);
      }
      p += n;
      size -= static_cast<std::size_t>(n);
    }
  };
  if (state) writeAll(state, 1);
  writeAll(payload.data(), payload.size());
  if (::fsync(fd) != 0) {
    ::close(fd);
    failOn("cannot fsync", tmp);
  }
  ::close(fd);
  return tmp;
}

}  // namespace

ServiceTokens::ServiceTokens(std::filesystem::path directory) : directory_(std::move(directory)) {}

std::filesystem::path ServiceTokens::file(std::string_view route, const MessageId& id,
                                          std::string_view suffix) const {
  return directory_ / std::filesystem::path(route) / (id.toHex() + std::string(suffix));
}

ServiceToken ServiceTokens::find(std::string_view route, const MessageId& id) const {
  ServiceToken token;
  if (std::filesystem::exists(file(route, id, kDeleted))) {
    token.state = ServiceToken::State::kDeleted;
    return token;
  }
  const std::filesystem::path path = file(route, id, kRequest);
  std::ifstream in(path, std::ios::binary);
  if (!in) return token;  // absent
  const std::string content{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (content.empty()) fail(ErrorKind::kBug, path.string() + " is empty (written without state)");
  token.state = static_cast<std::uint8_t>(content[0]) == kStatePosted ? ServiceToken::State::kPosted
                                                                      : ServiceToken::State::kPut;
  const auto* bytes = reinterpret_cast<const std::byte*>(content.data());
  token.payload.assign(bytes + 1, bytes + content.size());
  return token;
}

bool ServiceTokens::put(std::string_view route, const MessageId& id,
                        std::span<const std::byte> payload) {
  const std::filesystem::path final = file(route, id, kRequest);
  std::filesystem::create_directories(final.parent_path());
  const std::filesystem::path tmp = writeTemporary(final, &kStatePut, payload);
  // link(2) fails with EEXIST when the request exists: creation is atomic across processes.
  const bool created = ::link(tmp.c_str(), final.c_str()) == 0;
  const int linkErrno = errno;
  ::unlink(tmp.c_str());
  if (!created && linkErrno != EEXIST) {
    errno = linkErrno;
    failOn("cannot create", final);
  }
  if (created) syncDirectory(final.parent_path());
  return created;
}

void ServiceTokens::markPosted(std::string_view route, const MessageId& id,
                               std::span<const std::byte> payload) {
  const std::filesystem::path final = file(route, id, kRequest);
  const std::filesystem::path tmp = writeTemporary(final, &kStatePosted, payload);
  if (::rename(tmp.c_str(), final.c_str()) != 0) failOn("cannot rename into", final);
  syncDirectory(final.parent_path());
}

void ServiceTokens::remove(std::string_view route, const MessageId& id) {
  const std::filesystem::path tombstone = file(route, id, kDeleted);
  std::filesystem::create_directories(tombstone.parent_path());
  // 1. The tombstone, durable before the request goes: from here on the id is deleted.
  const std::filesystem::path tmp = writeTemporary(tombstone, nullptr, {});
  if (::rename(tmp.c_str(), tombstone.c_str()) != 0) failOn("cannot rename into", tombstone);
  syncDirectory(tombstone.parent_path());
  // 2. The request itself.
  const std::filesystem::path request = file(route, id, kRequest);
  if (::unlink(request.c_str()) != 0 && errno != ENOENT) failOn("cannot remove", request);
  syncDirectory(request.parent_path());
}

std::size_t ServiceTokens::prune(std::chrono::system_clock::time_point now,
                                 std::chrono::milliseconds maxAge) {
  if (!std::filesystem::exists(directory_)) return 0;
  std::size_t removed = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(directory_)) {
    if (!entry.is_regular_file()) continue;
    const std::string name = entry.path().filename().string();
    const std::optional<MessageId> id = MessageId::fromHex(name.substr(0, 32));
    if (!id || id->createdAt() >= now - maxAge) continue;
    std::error_code ignored;
    removed += std::filesystem::remove(entry.path(), ignored);
  }
  return removed;
}

ServiceTokenCounts ServiceTokens::count() const {
  ServiceTokenCounts counts;
  if (!std::filesystem::exists(directory_)) return counts;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(directory_)) {
    const std::string name = entry.path().filename().string();
    if (name.size() != 32 + kRequest.size() && name.size() != 32 + kDeleted.size()) continue;
    if (name.ends_with(kRequest)) ++counts.requests;
    if (name.ends_with(kDeleted)) ++counts.tombstones;
  }
  return counts;
}

}  // namespace idem::http
