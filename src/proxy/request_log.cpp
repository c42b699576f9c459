// The log phase (see request_log.hpp).
#include "proxy/request_log.hpp"

#include <chrono>

namespace ringproxy {

void log_request(Worker& worker, const RequestContext& ctx, std::string_view method,
                 const ParsedRequest& req, std::string_view client_ip, std::string_view tls_version,
                 std::string_view tls_cipher) {
  const auto duration = std::chrono::steady_clock::now() - ctx.started;
  if (ctx.status != 0) worker.metrics().count_response(ctx.upstream_id, ctx.status, duration);
  if (ctx.rate_limited) worker.metrics().count_rate_limited();
  // With the log off, the request's fields are not looked through (cold by now).
  if (!worker.access_log().enabled()) return;
  std::string_view request_id = ctx.request_id;
  if (auto it = req.find("x-request-id"); it != req.end()) request_id = it->value();
  worker.access_log().append(AccessRecord{client_ip,
                                          method,
                                          ctx.target,
                                          ctx.status,
                                          ctx.upstream,
                                          ctx.backend,
                                          ctx.bytes_in,
                                          ctx.bytes_out,
                                          duration,
                                          request_id,
                                          ctx.attempts,
                                          ctx.aborted,
                                          ctx.rate_limited,
                                          tls_version,
                                          tls_cipher,
                                          {}});
}

void log_refusal(Worker& worker, const RequestContext& ctx, std::string_view client_ip) {
  worker.metrics().count_response(0, ctx.status, std::chrono::nanoseconds(0));
  worker.access_log().append(AccessRecord{client_ip,
                                          {},
                                          {},
                                          ctx.status,
                                          {},
                                          {},
                                          0,
                                          ctx.bytes_out,
                                          std::chrono::steady_clock::now() - ctx.started,
                                          {},
                                          0,
                                          false,
                                          false,
                                          {},
                                          {},
                                          {}});
}

}  // namespace ringproxy
