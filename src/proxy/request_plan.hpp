// The request phases before any backend: request filter (limits) and route; no I/O.
#pragma once

#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/message.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "http/forwarded_head.hpp"
#include "proxy/request_context.hpp"
#include "runtime/snapshot.hpp"

namespace ringproxy {

// Who is on the other end of a client connection, learned once per connection. Not
// thread-safe: one connection's.
struct ClientIdentity {
  std::string ip;               // the peer's address
  std::string local_authority;  // "ip:port" the connection reached (Host for HTTP/1.0)
  // The bucket key of ip for limiters seeded with address_key_seed (hashed once per
  // connection and seed).
  std::optional<std::uint64_t> address_key_seed;
  std::uint64_t address_key = 0;
  // On a TLS listener: the negotiated version and cipher (OpenSSL's static names), and the
  // verified client certificate's subject (empty: none sent, or not verified).
  bool tls = false;
  std::string_view tls_version;
  std::string_view tls_cipher;
  std::string client_cert_subject;

  // The bucket key of the connection's own address under limiter.
  std::uint64_t address_key_for(const RateLimiter& limiter);
};

// What a global rate limit still needs from the worker after plan_request: a Redis fetch to
// start (the lease is empty or runs low), and, unless the lease already allowed the request,
// a wait for it or the local tier (global_admission.hpp). Empty (limit null) otherwise.
struct GlobalStep {
  const RateLimitRuntime* limit = nullptr;  // into the request's snapshot
  std::uint64_t key = 0;                    // the client's key in the rule's LeaseBook
  unsigned lane = LeaseBook::kNoLane;       // the worker's lane in it
  std::string redis_key;                    // the client's bucket in Redis
  LeaseTake take;
};

// What the proxy does with a parsed request: answer it itself (status, with extra header
// lines), or forward it to upstream.
struct RequestPlan {
  int status = 0;
  std::string_view extra_headers;  // static text
  std::string owned_headers;       // made for this request (wins over extra_headers)
  const UpstreamRuntime* upstream = nullptr;
  GlobalStep global;

  std::string_view headers() const {
    return owned_headers.empty() ? extra_headers : std::string_view(owned_headers);
  }
};

using ParsedRequest = boost::beast::http::request<boost::beast::http::buffer_body, MessageFields>;

// Fills ctx from the request's head, then runs the phases that need no backend: the
// proxy's own answers (CONNECT, Max-Forwards: 0), route (404), rate limit (429). When it
// plans to forward, ctx carries the RateLimit fields for the response. lane: the calling
// worker's index, for a global limit's per-worker slices (kNoLane: the shared book alone).
RequestPlan plan_request(const ParsedRequest& req, bool body_pending, bool draining,
                         const Snapshot& snap, ClientIdentity& client, RequestContext& ctx,
                         unsigned lane = LeaseBook::kNoLane);

// The rate limit's answers: a refusal (429 with Retry-After and the RateLimit fields) planned,
// or an admission noted in ctx (the RateLimit fields of the response).
void plan_rate_refusal(const RateLimitRuntime& limit, const TakeResult& taken, RequestPlan& plan,
                       RequestContext& ctx);
void note_rate_admission(const RateLimitRuntime& limit, const TakeResult& taken,
                         RequestContext& ctx);

// Who the client is: the peer, or what trusted proxies say (server.trusted_proxies). Several
// X-Forwarded-For lines are joined into ctx first (RFC 9110 §5.3).
std::string_view client_address_of(const ParsedRequest& req, const Snapshot& snap,
                                   const ClientIdentity& client, RequestContext& ctx);

// All field lines of `name` combined as RFC 9110 §5.3 combines them: joined with ", " (Cookie
// lines with "; ", RFC 9113 §8.2.3), empty lines skipped; "" when absent. One line is returned
// as it is (no copy); several are joined into scratch (the request's arena), which the result
// then points into until the next call with the same scratch.
std::string_view combined_field_value(const ParsedRequest& req, std::string_view name,
                                      ArenaString& scratch);

}  // namespace ringproxy
