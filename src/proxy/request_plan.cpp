// The request phases before any backend (see request_plan.hpp).
#include "proxy/request_plan.hpp"

#include <chrono>

#include "policy/client_address.hpp"
#include "policy/global_bucket.hpp"
#include "policy/http_fields.hpp"
#include "policy/rate_limit_headers.hpp"
#include "policy/upgrade.hpp"

namespace ringproxy {

namespace http = boost::beast::http;

namespace {

// Addresses live in their own key space, so a header value naming someone's address cannot
// spend that client's tokens.
constexpr std::uint64_t kAddressKeySpace = 0x9e3779b97f4a7c15ULL;

// Host, path and flags from the head. An absolute-form target names the host itself, and
// wins over Host (RFC 9112 §3.2.2); it is routed and forwarded in origin-form.
void read_head(const ParsedRequest& req, bool body_pending, bool draining, RequestContext& ctx) {
  ctx.target = req.target();
  ctx.version = req.version();
  ctx.keep_alive = req.keep_alive() && !draining;
  // The head passed validate_request_head: HTTP/1.0 or 1.1, at most one Host (one in 1.1),
  // Expect only 100-continue. What is left here is to read them.
  if (auto it = req.find(http::field::host); it != req.end()) ctx.host = it->value();
  ctx.path = ctx.target;
  if (!ctx.path.empty() && ctx.path.front() != '/' && ctx.path != "*") {
    if (const auto scheme = ctx.path.find("://"); scheme != std::string_view::npos) {
      const std::string_view rest = ctx.path.substr(scheme + 3);
      const auto slash = rest.find_first_of("/?");
      ctx.host = rest.substr(0, slash);
      if (slash == std::string_view::npos || rest[slash] == '?') ctx.origin_target.push_back('/');
      if (slash != std::string_view::npos) ctx.origin_target.append(rest.substr(slash));
      ctx.path = ctx.origin_target;
    }
  }
  ctx.expect_continue = req.find(http::field::expect) != req.end() && body_pending;
}

// The protocol the request asks to tunnel when server.upgrade_protocols lists it (a request
// with a body, or one on a draining connection, is served as plain HTTP); any other Upgrade
// goes with the hop-by-hop fields.
void read_upgrade(const ParsedRequest& req, bool body_pending, bool draining, const Snapshot& snap,
                  RequestContext& ctx) {
  const auto upgrade = req.find(http::field::upgrade);
  if (upgrade == req.end() || body_pending || draining) return;
  bool connection_upgrade = false;
  for (auto [it, end] = req.equal_range(http::field::connection); it != end; ++it) {
    connection_upgrade = connection_upgrade || connection_lists(it->value(), "upgrade");
  }
  ctx.upgrade = tunnel_protocol(req.method_string(), req.version(), connection_upgrade,
                                upgrade->value(), snap.config().server.upgrade_protocols);
}

// The proxy's own answers: CONNECT (a reverse proxy opens no tunnels), and OPTIONS or TRACE
// with Max-Forwards: 0, where this proxy is the final recipient (RFC 9110 §7.6.2); TRACE is
// never echoed (cross-site tracing). False when the request is not one of them.
bool answer_itself(const ParsedRequest& req, RequestPlan& plan) {
  static constexpr std::string_view kAllow =
      "Allow: GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS\r\n";
  if (req.method() == http::verb::connect) {
    plan.status = 405;
    plan.extra_headers = kAllow;
    return true;
  }
  if (req.method() == http::verb::options || req.method() == http::verb::trace) {
    if (auto it = req.find(http::field::max_forwards); it != req.end() && it->value() == "0") {
      plan.status = req.method() == http::verb::options ? 200 : 405;
      plan.extra_headers = kAllow;
      return true;
    }
  }
  return false;
}

// A global rule's take: a leased token, a refusal the lease book already knows of, or the
// step the worker must finish (global_admission.hpp). client is the key's text.
bool admit_global(const RateLimitRuntime& limit, std::uint64_t key, bool address,
                  std::string_view client, unsigned lane, RequestContext& ctx, RequestPlan& plan) {
  const auto now = steady_ns(std::chrono::steady_clock::now());
  const LeaseTake take = limit.global->leases->take(key, now, true, lane);
  if (take.verdict == LeaseVerdict::deny) {
    TakeResult refused;
    refused.retry_after = take.retry_after;
    refused.reset = take.retry_after;
    plan_rate_refusal(limit, refused, plan, ctx);
    return false;
  }
  if (take.verdict == LeaseVerdict::allow) {
    note_rate_admission(limit, lease_admission(limit.limiter->bucket_rule(), take.remaining), ctx);
  }
  if (take.verdict != LeaseVerdict::allow || take.fetch) {
    plan.global =
        GlobalStep{&limit, key, lane, global_bucket_key(limit.name, address, client), take};
  }
  return true;
}

// The request filter: takes a token from the route's rule (or the default), keyed by client
// address or a header. False, with a 429 planned, when the bucket is empty. A global rule may
// leave a step for the worker in plan.global.
bool admit_rate(const ParsedRequest& req, const Snapshot& snap, std::size_t route,
                ClientIdentity& client, unsigned lane, RequestContext& ctx, RequestPlan& plan) {
  const RateLimitRuntime& limit = snap.rate_limit_for(route);
  if (!limit.limiter) return true;
  std::uint64_t key = 0;
  std::string_view client_text;
  if (!limit.header.empty()) {
    client_text = combined_field_value(req, limit.header, ctx.combined_field);
    if (!client_text.empty()) key = limit.limiter->key_hash(client_text);
  }
  const bool by_address = key == 0;
  if (by_address) {
    client_text = client_address_of(req, snap, client, ctx);
    key = client_text.data() == client.ip.data()
              ? client.address_key_for(*limit.limiter)
              : limit.limiter->key_hash(client_text) ^ kAddressKeySpace;
  }
  if (limit.global) return admit_global(limit, key, by_address, client_text, lane, ctx, plan);
  const TakeResult taken = limit.limiter->take(key, std::chrono::steady_clock::now());
  if (!taken.allowed) {
    plan_rate_refusal(limit, taken, plan, ctx);
    return false;
  }
  note_rate_admission(limit, taken, ctx);
  return true;
}

}  // namespace

void plan_rate_refusal(const RateLimitRuntime& limit, const TakeResult& taken, RequestPlan& plan,
                       RequestContext& ctx) {
  ctx.rate_limited = true;
  RateLimitHeaders fields = rate_limit_headers(limit.name, limit.limiter->bucket_rule(), taken);
  plan.owned_headers = "Retry-After: " + fields.retry_after +
                       "\r\nRateLimit-Policy: " + fields.policy + "\r\nRateLimit: " + fields.limit +
                       "\r\n";
  plan.status = 429;
  plan.upstream = nullptr;
}

void note_rate_admission(const RateLimitRuntime& limit, const TakeResult& taken,
                         RequestContext& ctx) {
  // The policy is the rule's, made once per snapshot (which outlives this request).
  ctx.rate_limit_policy = limit.policy;
  format_rate_limit(ctx.rate_limit_value, limit.name, taken.remaining, taken.reset_seconds());
}

std::uint64_t ClientIdentity::address_key_for(const RateLimiter& limiter) {
  if (address_key_seed != limiter.seed()) {
    address_key = limiter.key_hash(ip) ^ kAddressKeySpace;
    address_key_seed = limiter.seed();
  }
  return address_key;
}

std::string_view combined_field_value(const ParsedRequest& req, std::string_view name,
                                      ArenaString& scratch) {
  auto [first, last] = req.equal_range(name);
  while (first != last && first->value().empty()) ++first;
  if (first == last) return {};
  auto next = std::next(first);
  while (next != last && next->value().empty()) ++next;
  if (next == last) return first->value();  // the common case: one line, no copy
  const std::string_view separator = iequals(name, "Cookie") ? "; " : ", ";
  scratch.assign(first->value());
  for (auto it = next; it != last; ++it) {
    if (it->value().empty()) continue;
    scratch.append(separator);
    scratch.append(it->value());
  }
  return scratch;
}

std::string_view client_address_of(const ParsedRequest& req, const Snapshot& snap,
                                   const ClientIdentity& client, RequestContext& ctx) {
  const auto& trusted = snap.config().server.trusted_proxies;
  if (trusted.empty()) return client.ip;
  auto range = req.equal_range("X-Forwarded-For");
  if (range.first == range.second) return client.ip;
  std::string_view list = range.first->value();
  if (std::next(range.first) != range.second) {
    ctx.forwarded_for.clear();
    for (auto it = range.first; it != range.second; ++it) {
      if (!ctx.forwarded_for.empty()) ctx.forwarded_for.append(", ");
      ctx.forwarded_for.append(it->value());
    }
    list = ctx.forwarded_for;
  }
  return client_address(client.ip, list, trusted);
}

RequestPlan plan_request(const ParsedRequest& req, bool body_pending, bool draining,
                         const Snapshot& snap, ClientIdentity& client, RequestContext& ctx,
                         unsigned lane) {
  RequestPlan plan;
  read_head(req, body_pending, draining, ctx);
  read_upgrade(req, body_pending, draining, snap, ctx);
  if (answer_itself(req, plan)) return plan;
  const auto route = snap.router().match(ctx.host, ctx.path);
  if (!route) {
    plan.status = 404;
    return plan;
  }
  if (!admit_rate(req, snap, *route, client, lane, ctx, plan)) return plan;
  plan.upstream = &snap.upstreams()[snap.router().upstream_of(*route)];
  if (body_pending) {
    const Config& config = snap.config();
    const bool routed = *route < config.routes.size();
    ctx.request_buffer_bytes = routed && config.routes[*route].request_buffer_bytes
                                   ? *config.routes[*route].request_buffer_bytes
                                   : config.server.request_buffer_bytes;
  }
  return plan;
}

}  // namespace ringproxy
