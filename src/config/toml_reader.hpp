// Internal to the config loader: the TOML value type, error collection and a checked
// reader for one table (typed getters that report errors, unknown-key detection).
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <toml.hpp>

#include "config/config_loader.hpp"

namespace ringproxy::config_detail {

// std::map keeps keys sorted, so the order of checks (and errors) does not depend on hashing.
using TomlValue = toml::basic_value<toml::discard_comments, std::map, std::vector>;

// Every error found in one file, in the order found.
class Diagnostics {
 public:
  explicit Diagnostics(std::string file) : file_(std::move(file)) {}

  void add(int line, std::string message);
  bool empty() const { return errors_.empty(); }
  // The errors sorted by line (stable); errors without a line come last.
  std::vector<ConfigError> take();

 private:
  std::string file_;
  std::vector<ConfigError> errors_;
};

// The 1-based line a value starts on, as toml11 recorded it.
int line_of(const TomlValue& value);
// "a string", "an integer", "a table", ... for "expected X, got Y" messages.
std::string describe_type(const TomlValue& value);
// A float as a person would write it: "0.5", "2", "1e+100".
std::string format_number(double value);
// text in double quotes, with '"', '\' and control characters escaped.
std::string quote(std::string_view text);

// Reads one table; remembers which keys were asked for so finish() can report the rest.
class TableReader {
 public:
  static constexpr std::int64_t kNoMax = std::numeric_limits<std::int64_t>::max();

  // context names the table in messages: "server" or `upstream "app"`. With dotted_keys a
  // key is labelled "server.idle_timeout", otherwise `upstream "app": connect_timeout`.
  // An empty context is the document root.
  TableReader(const TomlValue& table, std::string context, bool dotted_keys, Diagnostics& diag);

  // The value under key (nullptr when absent); the key counts as known either way.
  const TomlValue* find(std::string_view key);
  int line() const { return line_of(table_); }
  const std::string& context() const { return context_; }
  void set_context(std::string context) { context_ = std::move(context); }

  // "server.key" or `upstream "app": key`.
  std::string label(std::string_view key) const;
  // "<label>: <problem>" at the value's line.
  void key_error(const TomlValue& at, std::string_view key, std::string_view problem);
  // "<label>: expected <expected>, got <type of at>".
  void type_error(const TomlValue& at, std::string_view key, std::string_view expected);
  // "<context>: <problem>" (or just the problem at the root).
  void error(int line, std::string_view problem);

  // Each reader leaves out untouched and returns false when the key is absent or invalid
  // (an error is reported in the latter case).
  bool read_string(std::string_view key, std::string& out);
  bool read_bool(std::string_view key, bool& out);
  bool read_integer(std::string_view key, std::int64_t min, std::int64_t max, std::int64_t& out);
  template <typename T>
  bool read_integer(std::string_view key, std::int64_t min, std::int64_t max, T& out) {
    std::int64_t value = 0;
    if (!read_integer(key, min, max, value)) return false;
    out = static_cast<T>(value);
    return true;
  }
  // A float or an integer; NaN and infinities are refused.
  bool read_number(std::string_view key, double& out);
  // A duration string of at least 1ms.
  bool read_duration(std::string_view key, Duration& out);

  // Reports every key that no find() asked for.
  void finish();

 private:
  const TomlValue& table_;
  std::string context_;
  bool dotted_keys_;
  Diagnostics& diag_;
  std::set<std::string, std::less<>> known_;
};

}  // namespace ringproxy::config_detail
