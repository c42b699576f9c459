// Internal to the config loader: one reader per top-level table of the config file.
#pragma once

#include <vector>

#include "ringproxy/config.hpp"
#include "toml_reader.hpp"

namespace ringproxy::config_detail {

// [server]; table is known to be a table.
void read_server(const TomlValue& table, Diagnostics& diag, ServerConfig& out);
// [admin]; table is known to be a table.
void read_admin(const TomlValue& table, Diagnostics& diag, AdminConfig& out);
// [log]; table is known to be a table.
void read_log(const TomlValue& table, Diagnostics& diag, LogConfig& out);
// [[upstream]]; array is known to be an array. Every table element is appended to out, in
// order, even with errors, so that indices match the file.
void read_upstreams(const TomlValue& array, Diagnostics& diag, std::vector<UpstreamConfig>& out);
// [[route]]; array is known to be an array. Routes name upstreams by their (first) name.
void read_routes(const TomlValue& array, const std::vector<UpstreamConfig>& upstreams,
                 Diagnostics& diag, std::vector<RouteConfig>& out);

}  // namespace ringproxy::config_detail
