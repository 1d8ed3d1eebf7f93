// Log setup: spdlog's environment levels and a JSON-lines formatter.
#include "tools/log_setup.h"

#include <spdlog/cfg/env.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <ctime>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "tools/usage_error.h"

namespace idem::tools {

namespace {

class JsonLineFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const auto since = msg.time.time_since_epoch();
    const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(since);
    const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(since - seconds);
    const std::time_t t = seconds.count();
    std::tm utc{};
    ::gmtime_r(&t, &utc);
    char time[40];
    const std::size_t n = std::strftime(time, sizeof time, "%Y-%m-%dT%H:%M:%S", &utc);
    std::snprintf(time + n, sizeof time - n, ".%06lldZ", static_cast<long long>(micros.count()));
    const spdlog::string_view_t level = spdlog::level::to_string_view(msg.level);
    const nlohmann::ordered_json line = {
        {"time", time},
        {"level", std::string(level.data(), level.size())},
        {"pid", ::getpid()},
        {"thread", msg.thread_id},
        {"message", std::string(msg.payload.data(), msg.payload.size())}};
    // Invalid UTF-8 in a message (bytes quoted from a payload) is replaced, never a throw.
    const std::string text =
        line.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
    dest.append(text.data(), text.data() + text.size());
    dest.push_back('\n');
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonLineFormatter>();
  }
};

}  // namespace

void levelsFromEnvironment() { spdlog::cfg::load_env_levels(); }

void useLogFormat(std::string_view format) {
  if (format == "text") return;
  if (format != "json") {
    throw UsageError("--log-format is text or json, not '" + std::string(format) + "'");
  }
  spdlog::set_formatter(std::make_unique<JsonLineFormatter>());
}

}  // namespace idem::tools
