#include "log/log.hpp"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <ctime>
#include <string>

namespace ringproxy::log {

namespace {

std::atomic<int> g_level{static_cast<int>(LogLevel::info)};

constexpr std::string_view level_name(LogLevel l) {
  switch (l) {
    case LogLevel::trace:
      return "trace";
    case LogLevel::debug:
      return "debug";
    case LogLevel::info:
      return "info";
    case LogLevel::warn:
      return "warn";
    case LogLevel::error:
      return "error";
  }
  return "?";
}

}  // namespace

void set_level(LogLevel level) {
  g_level.store(static_cast<int>(level));
}

bool enabled(LogLevel level) {
  return static_cast<int>(level) >= g_level.load(std::memory_order_relaxed);
}

void write(LogLevel level, std::string_view message) {
  if (!enabled(level)) return;
  using namespace std::chrono;
  const auto now = system_clock::now();
  const std::time_t secs = system_clock::to_time_t(now);
  const auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char stamp[40];
  const int n = std::snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ ",
                              tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                              tm.tm_sec, static_cast<int>(ms));
  std::string line;
  line.reserve(static_cast<std::size_t>(n) + message.size() + 24);
  line.append(stamp, static_cast<std::size_t>(n));
  line.append(level_name(level));
  line.append(" ringproxy: ");
  line.append(message);
  line.push_back('\n');
  // One write(2) per line keeps lines whole across threads.
  const char* p = line.data();
  std::size_t left = line.size();
  while (left > 0) {
    const ssize_t w = ::write(STDERR_FILENO, p, left);
    if (w <= 0) break;
    p += w;
    left -= static_cast<std::size_t>(w);
  }
}

}  // namespace ringproxy::log
