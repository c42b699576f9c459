// Reading and validating a config file: every error, with file:line, in one pass.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"

namespace ringproxy {

// One problem found in a config file.
struct ConfigError {
  std::string file;
  int line = 0;  // 0 when no line applies (unreadable file)
  std::string message;

  // "FILE:LINE: MESSAGE" (or "FILE: MESSAGE" without a line).
  std::string to_string() const;
};

// The outcome of loading: a config when errors is empty.
struct ConfigLoadResult {
  std::optional<Config> config;
  std::vector<ConfigError> errors;
  bool ok() const { return errors.empty() && config.has_value(); }
};

// Parses and validates the file at path. Never throws.
ConfigLoadResult load_config_file(const std::string& path);
// Same, from text already in memory; name is used in messages.
ConfigLoadResult load_config_text(const std::string& text, const std::string& name);

// Parses "250ms", "2s", "1m", "1h"; nullopt when malformed or negative.
std::optional<Duration> parse_duration(std::string_view text);

}  // namespace ringproxy
