// Internal to the config loader: one reader per top-level table of the config file.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "config/toml_reader.hpp"

namespace ringproxy::config_detail {

// [server]; table is known to be a table.
void read_server(const TomlValue& table, Diagnostics& diag, ServerConfig& out);
// A listen key: a non-empty array of "host:port" strings, each listed once.
void read_listen(TableReader& r, std::vector<HostPort>& out);
// [tls]; table is known to be a table. server_listen: the cleartext listeners (an address
// cannot be both).
void read_tls(const TomlValue& table, const std::vector<HostPort>& server_listen, Diagnostics& diag,
              TlsConfig& out);
// [admin]; table is known to be a table.
void read_admin(const TomlValue& table, Diagnostics& diag, AdminConfig& out);
// [log]; table is known to be a table.
void read_log(const TomlValue& table, Diagnostics& diag, LogConfig& out);
// [[upstream]]; array is known to be an array. Every table element is appended to out, in
// order, even with errors, so that indices match the file.
void read_upstreams(const TomlValue& array, Diagnostics& diag, std::vector<UpstreamConfig>& out);
// [rate_limit], or a route's rate_limit table (context "rate_limit" or "route #1: rate_limit");
// table is known to be a table. Keys left out keep out's values; key_set tells whether a valid
// key was given (an override inherits the default's otherwise).
void read_rate_limit(const TomlValue& table, std::string context, Diagnostics& diag,
                     RateLimitConfig& out, bool& key_set);
// [[route]]; array is known to be an array. Routes name upstreams by their (first) name; a
// route's rate_limit override inherits default_limit's key (or "client_ip") unless it sets one.
void read_routes(const TomlValue& array, const std::vector<UpstreamConfig>& upstreams,
                 const std::optional<RateLimitConfig>& default_limit, Diagnostics& diag,
                 std::vector<RouteConfig>& out);

}  // namespace ringproxy::config_detail
