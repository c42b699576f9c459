// The operational log: timestamped lines on stderr, filtered by level. Thread-safe.
#pragma once

#include <string_view>

#include "config/config.hpp"

namespace ringproxy::log {

void set_level(LogLevel level);
bool enabled(LogLevel level);
// Writes one line (a newline is added); callers check enabled() before building costly text.
void write(LogLevel level, std::string_view message);

inline void info(std::string_view m) {
  write(LogLevel::info, m);
}
inline void warn(std::string_view m) {
  write(LogLevel::warn, m);
}
inline void error(std::string_view m) {
  write(LogLevel::error, m);
}
inline void debug(std::string_view m) {
  if (enabled(LogLevel::debug)) write(LogLevel::debug, m);
}

}  // namespace ringproxy::log
