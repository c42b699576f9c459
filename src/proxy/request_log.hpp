// The log phase: a request's metrics and its access-log line.
#pragma once

#include <string_view>

#include "net/worker.hpp"
#include "proxy/request_context.hpp"
#include "proxy/request_plan.hpp"

namespace ringproxy {

// Counts ctx's response in the worker's metrics and appends its access-log line (the client's
// X-Request-Id, else the one this proxy added). Worker thread only.
// tls_version and tls_cipher: a TLS connection's (empty on cleartext).
void log_request(Worker& worker, const RequestContext& ctx, std::string_view method,
                 const ParsedRequest& req, std::string_view client_ip,
                 std::string_view tls_version = {}, std::string_view tls_cipher = {});

// The same for a head refused before it was parsed: status, no method or target.
void log_refusal(Worker& worker, const RequestContext& ctx, std::string_view client_ip);

}  // namespace ringproxy
