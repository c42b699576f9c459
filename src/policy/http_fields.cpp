#include "policy/http_fields.hpp"

#include <array>

namespace ringproxy {

bool is_hop_by_hop(std::string_view name) {
  static constexpr std::array<std::string_view, 7> kFields = {
      "connection", "keep-alive",        "proxy-connection", "te",
      "trailer",    "transfer-encoding", "upgrade"};
  for (auto f : kFields) {
    if (iequals(name, f)) return true;
  }
  return false;
}

bool is_forbidden_trailer(std::string_view name) {
  return (!name.empty() && name.front() == ':') || iequals(name, "content-length") ||
         iequals(name, "host") || is_hop_by_hop(name);
}

bool connection_lists(std::string_view connection_value, std::string_view name) {
  bool found = false;
  for_each_token(connection_value, [&](std::string_view t) { found = found || iequals(t, name); });
  return found;
}

bool is_idempotent_method(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "PUT" || method == "DELETE" ||
         method == "OPTIONS" || method == "TRACE";
}

}  // namespace ringproxy
