// Loading a config file: reading it, parsing TOML, and checking every table.
#include "config/config_loader.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string_view>
#include <system_error>

#include "config/sections.hpp"

namespace ringproxy {

namespace {

using config_detail::Diagnostics;
using config_detail::line_of;
using config_detail::TomlValue;

std::string trim(std::string_view text) {
  std::size_t begin = text.find_first_not_of(" \t\r");
  if (begin == std::string_view::npos) return {};
  std::size_t end = text.find_last_not_of(" \t\r");
  return std::string(text.substr(begin, end - begin + 1));
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// The line number of a toml11 snippet line " 12 | text", or 0 for other lines.
int snippet_line_number(std::string_view line) {
  std::size_t i = 0;
  while (i < line.size() && line[i] == ' ') ++i;
  std::size_t digits = i;
  int number = 0;
  while (i < line.size() && line[i] >= '0' && line[i] <= '9' && i - digits < 9) {
    number = number * 10 + (line[i] - '0');
    ++i;
  }
  if (i == digits || line.substr(i, 2) != " |") return 0;
  return number;
}

// Turns toml11's multi-line syntax_error text into one ConfigError. toml11 v3 shows the
// offending line(s) as " 3 | text" followed by "   |   ^--- note"; the last one shown is the
// culprit (for a duplicate key the first one is the earlier definition). The headline is
// "[error] toml::parse_xxx: what went wrong".
ConfigError syntax_error(const std::string& name, const std::string& what, int fallback_line) {
  std::vector<std::string> lines = split_lines(what);
  int line = 0;
  std::string note;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    int number = snippet_line_number(lines[i]);
    if (number == 0) continue;
    line = number;
    note.clear();
    if (i + 1 < lines.size()) {
      const std::string& marker = lines[i + 1];
      std::size_t at = marker.find_first_of("^~");
      if (at != std::string::npos) {
        at = marker.find_first_not_of("^~- ", at);
        if (at != std::string::npos) note = trim(marker.substr(at));
      }
    }
  }
  std::string headline = lines.empty() ? std::string() : lines.front();
  if (headline.starts_with("[error] ")) headline.erase(0, 8);
  // Drop the function name, "toml::parse_key: " or "parse_ml_basic_string: ".
  std::size_t colon = headline.find(": ");
  if (colon != std::string::npos && headline.find(' ') > colon) headline.erase(0, colon + 2);
  if (headline.find(' ') == std::string::npos && headline.find("::") != std::string::npos) {
    headline.clear();  // only a function name, e.g. "toml::parse_hexadecimal_integer"
  }
  headline = trim(headline);
  while (!headline.empty() && headline.back() == '.') headline.pop_back();
  while (!note.empty() && note.back() == '.') note.pop_back();

  std::string message = "TOML syntax error";
  if (!headline.empty() && !note.empty()) {
    message += ": " + headline + " (" + note + ")";
  } else if (!headline.empty() || !note.empty()) {
    message += ": " + headline + note;
  }
  return ConfigError{name, line > 0 ? line : fallback_line, message};
}

// Checks that a top-level key holds a table; reports it otherwise.
bool expect_table(const TomlValue& v, std::string_view key, Diagnostics& diag) {
  if (v.is_table()) return true;
  diag.add(line_of(v), std::string(key) + ": expected a table ([" + std::string(key) + "]), got " +
                           config_detail::describe_type(v));
  return false;
}

// Checks that a top-level key holds an array of tables; reports it otherwise.
bool expect_array(const TomlValue& v, std::string_view key, Diagnostics& diag) {
  if (v.is_array()) return true;
  diag.add(line_of(v), std::string(key) + ": expected an array of tables ([[" + std::string(key) +
                           "]]), got " + config_detail::describe_type(v));
  return false;
}

// Checks the parsed document and builds the config; errors go to diag.
Config build_config(const TomlValue& doc, const std::string& name, Diagnostics& diag) {
  Config config;
  config.path = name;
  config_detail::TableReader root(doc, "", true, diag);
  if (const TomlValue* v = root.find("server"); v && expect_table(*v, "server", diag)) {
    config_detail::read_server(*v, diag, config.server);
  }
  if (const TomlValue* v = root.find("admin"); v && expect_table(*v, "admin", diag)) {
    config_detail::read_admin(*v, diag, config.admin);
  }
  if (const TomlValue* v = root.find("log"); v && expect_table(*v, "log", diag)) {
    config_detail::read_log(*v, diag, config.log);
  }
  const TomlValue* upstreams = root.find("upstream");
  if (!upstreams) {
    diag.add(0, "no [[upstream]] defined; at least one is required");
  } else if (expect_array(*upstreams, "upstream", diag)) {
    config_detail::read_upstreams(*upstreams, diag, config.upstreams);
    if (upstreams->as_array().empty()) {
      diag.add(line_of(*upstreams), "upstream: at least one [[upstream]] is required");
    }
  }
  if (const TomlValue* v = root.find("rate_limit"); v && expect_table(*v, "rate_limit", diag)) {
    RateLimitConfig limit;
    bool key_set = false;
    config_detail::read_rate_limit(*v, "rate_limit", diag, limit, key_set);
    config.rate_limit = std::move(limit);
  }
  if (const TomlValue* v = root.find("route"); v && expect_array(*v, "route", diag)) {
    config_detail::read_routes(*v, config.upstreams, config.rate_limit, diag, config.routes);
  }
  if (const TomlValue* v = root.find("tls"); v && expect_table(*v, "tls", diag)) {
    TlsConfig tls;
    config_detail::read_tls(*v, config.server.listen, diag, tls);
    config.tls = std::move(tls);
  }
  root.finish();
  return config;
}

}  // namespace

std::string ConfigError::to_string() const {
  if (line > 0) return file + ":" + std::to_string(line) + ": " + message;
  return file + ": " + message;
}

namespace {

// The 1-based line of the first byte that breaks UTF-8 (RFC 3629: no overlongs, no surrogates,
// nothing above U+10FFFF) or is a NUL, or 0 when the text is clean. TOML documents must be
// valid UTF-8, and toml11 3.7 reads past the end of its buffer on some invalid sequences
// (found by fuzz/config_fuzz), so the loader refuses them before parsing.
int first_bad_utf8_line(std::string_view text) {
  int line = 1;
  for (std::size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '\n') ++line;
    if (c == 0) return line;
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t length = 0;
    std::uint32_t min = 0;
    std::uint32_t code = 0;
    if ((c & 0xE0) == 0xC0) {
      length = 2, min = 0x80, code = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      length = 3, min = 0x800, code = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      length = 4, min = 0x10000, code = c & 0x07;
    } else {
      return line;
    }
    if (i + length > text.size()) return line;
    for (std::size_t k = 1; k < length; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xC0) != 0x80) return line;
      code = (code << 6) | (next & 0x3F);
    }
    if (code < min || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return line;
    i += length;
  }
  return 0;
}

}  // namespace

ConfigLoadResult load_config_text(const std::string& text, const std::string& name) {
  ConfigLoadResult result;
  if (const int line = first_bad_utf8_line(text); line != 0) {
    result.errors.push_back(ConfigError{name, line, "not valid UTF-8 (TOML files must be)"});
    return result;
  }
  try {
    TomlValue doc;
    try {
      std::istringstream in(text);
      doc = toml::parse<toml::discard_comments, std::map, std::vector>(in, name);
    } catch (const toml::syntax_error& e) {
      result.errors.push_back(syntax_error(name, e.what(), static_cast<int>(e.location().line())));
      return result;
    }
    Diagnostics diag(name);
    Config config = build_config(doc, name, diag);
    if (diag.empty()) {
      result.config = std::move(config);
    } else {
      result.errors = diag.take();
    }
  } catch (const std::exception& e) {
    result.config.reset();
    result.errors.push_back(ConfigError{name, 0, std::string("internal error: ") + e.what()});
  } catch (...) {
    result.config.reset();
    result.errors.push_back(ConfigError{name, 0, "internal error"});
  }
  return result;
}

ConfigLoadResult load_config_file(const std::string& path) {
  ConfigLoadResult result;
  try {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) {
      result.errors.push_back(ConfigError{path, 0, "cannot read: is a directory"});
      return result;
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      result.errors.push_back(
          ConfigError{path, 0, std::string("cannot read: ") + std::strerror(errno)});
      return result;
    }
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) {
      result.errors.push_back(ConfigError{path, 0, "cannot read: I/O error"});
      return result;
    }
    return load_config_text(text.str(), path);
  } catch (const std::exception& e) {
    result.errors.push_back(ConfigError{path, 0, std::string("cannot read: ") + e.what()});
    return result;
  }
}

}  // namespace ringproxy
