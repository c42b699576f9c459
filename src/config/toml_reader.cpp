// Checked reading of TOML tables for the config loader.
#include "config/toml_reader.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace ringproxy::config_detail {

void Diagnostics::add(int line, std::string message) {
  errors_.push_back(ConfigError{file_, line, std::move(message)});
}

std::vector<ConfigError> Diagnostics::take() {
  auto key = [](const ConfigError& e) { return e.line > 0 ? e.line : INT32_MAX; };
  std::stable_sort(errors_.begin(), errors_.end(),
                   [&](const ConfigError& a, const ConfigError& b) { return key(a) < key(b); });
  return std::move(errors_);
}

int line_of(const TomlValue& value) {
  return static_cast<int>(value.location().line());
}

std::string describe_type(const TomlValue& value) {
  switch (value.type()) {
    case toml::value_t::boolean:
      return "a boolean";
    case toml::value_t::integer:
      return "an integer";
    case toml::value_t::floating:
      return "a float";
    case toml::value_t::string:
      return "a string";
    case toml::value_t::offset_datetime:
    case toml::value_t::local_datetime:
      return "a date-time";
    case toml::value_t::local_date:
      return "a date";
    case toml::value_t::local_time:
      return "a time";
    case toml::value_t::array:
      return "an array";
    case toml::value_t::table:
      return "a table";
    case toml::value_t::empty:
      break;
  }
  return "nothing";
}

std::string format_number(double value) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", value);
  return buf;
}

std::string quote(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x",
                    static_cast<unsigned>(static_cast<unsigned char>(c)));
      out += buf;
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

TableReader::TableReader(const TomlValue& table, std::string context, bool dotted_keys,
                         Diagnostics& diag)
    : table_(table), context_(std::move(context)), dotted_keys_(dotted_keys), diag_(diag) {}

const TomlValue* TableReader::find(std::string_view key) {
  known_.emplace(key);
  const auto& table = table_.as_table();
  auto it = table.find(std::string(key));
  return it == table.end() ? nullptr : &it->second;
}

std::string TableReader::label(std::string_view key) const {
  if (context_.empty()) return std::string(key);
  return context_ + (dotted_keys_ ? "." : ": ") + std::string(key);
}

void TableReader::key_error(const TomlValue& at, std::string_view key, std::string_view problem) {
  diag_.add(line_of(at), label(key) + ": " + std::string(problem));
}

void TableReader::type_error(const TomlValue& at, std::string_view key, std::string_view expected) {
  key_error(at, key, "expected " + std::string(expected) + ", got " + describe_type(at));
}

void TableReader::error(int line, std::string_view problem) {
  diag_.add(line, context_.empty() ? std::string(problem) : context_ + ": " + std::string(problem));
}

bool TableReader::read_string(std::string_view key, std::string& out) {
  const TomlValue* v = find(key);
  if (!v) return false;
  if (!v->is_string()) {
    type_error(*v, key, "a string");
    return false;
  }
  out = v->as_string().str;
  return true;
}

bool TableReader::read_bool(std::string_view key, bool& out) {
  const TomlValue* v = find(key);
  if (!v) return false;
  if (!v->is_boolean()) {
    type_error(*v, key, "true or false");
    return false;
  }
  out = v->as_boolean();
  return true;
}

bool TableReader::read_integer(std::string_view key, std::int64_t min, std::int64_t max,
                               std::int64_t& out) {
  const TomlValue* v = find(key);
  if (!v) return false;
  if (!v->is_integer()) {
    type_error(*v, key, "an integer");
    return false;
  }
  std::int64_t value = v->as_integer();
  if (value < min || value > max) {
    std::string got = ", got " + std::to_string(value);
    if (max == kNoMax) {
      key_error(*v, key, "must be at least " + std::to_string(min) + got);
    } else {
      key_error(*v, key,
                "must be between " + std::to_string(min) + " and " + std::to_string(max) + got);
    }
    return false;
  }
  out = value;
  return true;
}

bool TableReader::read_number(std::string_view key, double& out) {
  const TomlValue* v = find(key);
  if (!v) return false;
  double value = 0;
  if (v->is_floating()) {
    value = v->as_floating();
  } else if (v->is_integer()) {
    value = static_cast<double>(v->as_integer());
  } else {
    type_error(*v, key, "a number");
    return false;
  }
  if (!std::isfinite(value)) {
    key_error(*v, key, "must be a finite number");
    return false;
  }
  out = value;
  return true;
}

bool TableReader::read_duration(std::string_view key, Duration& out) {
  const TomlValue* v = find(key);
  if (!v) return false;
  constexpr std::string_view kExpected = R"(expected a duration string like "250ms", "2s", "1m")";
  if (!v->is_string()) {
    key_error(*v, key, std::string(kExpected) + ", got " + describe_type(*v));
    return false;
  }
  const std::string& text = v->as_string().str;
  auto d = parse_duration(text);
  if (!d) {
    key_error(*v, key, std::string(kExpected) + ", got " + quote(text));
    return false;
  }
  if (d->count() < 1) {
    key_error(*v, key, "must be at least 1ms, got " + quote(text));
    return false;
  }
  out = *d;
  return true;
}

void TableReader::finish() {
  for (const auto& [key, value] : table_.as_table()) {
    if (known_.count(key)) continue;
    if (context_.empty()) {
      diag_.add(line_of(value), "unknown top-level key " + quote(key));
    } else {
      error(line_of(value), "unknown key " + quote(key));
    }
  }
}

}  // namespace ringproxy::config_detail
