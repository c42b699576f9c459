// The heads a proxy sends on: a request head for the backend and a response head for the
// client, written as text into a reused buffer straight from the parsed fields (one write, no
// per-field allocation), with the RFC 9110 §7.6 rewrites applied on the way.
#pragma once

#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/message.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "net/message_arena.hpp"
#include "policy/http_fields.hpp"

namespace ringproxy {

// The fields of a message as the proxy parses them: allocated from the message's arena.
using MessageFields = boost::beast::http::basic_fields<ArenaAllocator<char>>;

// What the request head to a backend adds to or changes in the client's head.
struct UpstreamRequestHead {
  std::string_view target;               // origin-form target to send
  std::string_view client_ip;            // appended to X-Forwarded-For
  std::string_view host;                 // the Host to send (replaces the client's)
  std::string_view forwarded_host;       // X-Forwarded-Host (omitted when empty)
  std::string_view request_id;           // X-Request-Id to add (empty: the client sent one)
  bool chunked = false;                  // the body is sent chunked
  bool https = false;                    // X-Forwarded-Proto: https (a TLS listener)
  std::string_view client_cert_subject;  // X-Client-Cert-Subject (omitted when empty)
  std::string_view upgrade;              // a protocol to ask for with Connection: upgrade, or empty
};

// Appends to out (which it clears first) the request head for a backend: the request line in
// HTTP/1.1, Host, then the client's fields minus hop-by-hop ones, those Connection names,
// Expect, and the fields it rewrites (Host, X-Forwarded-*, Via), with Max-Forwards decremented on
// OPTIONS and TRACE; then Transfer-Encoding when chunked, "TE: trailers" (with Connection: TE)
// when the client's TE listed trailers, X-Forwarded-For (the received list plus the client),
// X-Forwarded-Proto, X-Forwarded-Host, Via (the received list plus this proxy), X-Request-Id
// and X-Client-Cert-Subject; "Connection: upgrade" and Upgrade when the request is tunnelled.
// A client's own X-Client-Cert-Subject is never passed on.
void write_upstream_request_head(const boost::beast::http::header<true, MessageFields>& req,
                                 const UpstreamRequestHead& parts, std::string& out);

// What the response head to a client adds to or changes in the backend's head.
struct ClientResponseHead {
  bool chunked = false;         // the body is re-framed as chunked
  std::string_view connection;  // a Connection value to send ("close", "keep-alive"), or empty
  std::string_view rate_limit_policy;  // RateLimit-Policy and RateLimit (omitted when empty)
  std::string_view rate_limit;
  std::string_view upgrade;  // a 101's protocol, sent with Connection: upgrade, or empty
};

// Appends to out (which it clears first) the response head for the client: the status line in
// HTTP/1.1, the backend's fields minus hop-by-hop ones, those Connection names and the fields
// it sets itself (Via, RateLimit-Policy, RateLimit when given), then Transfer-Encoding when
// chunked, Connection, Via (the received list plus this proxy) and the RateLimit fields;
// "Connection: upgrade" and Upgrade for a 101 that starts a tunnel.
void write_client_response_head(const boost::beast::http::header<false, MessageFields>& res,
                                const ClientResponseHead& parts, std::string& out);

// The same head for an HTTP/2 client, as fields: names lower-case, no status line (parts'
// chunked, connection and upgrade are for HTTP/1.1 and stay unset). Their bytes go into bytes,
// the fields into out (both cleared first); the views point into bytes.
void write_client_response_fields(const boost::beast::http::header<false, MessageFields>& res,
                                  const ClientResponseHead& parts, std::string& bytes,
                                  std::vector<FieldView>& out);

// is_hop_by_hop() (ringproxy/http_fields.hpp) on Beast's field code: every hop-by-hop name
// has one, so the request path needs no string comparison.
bool is_hop_by_hop_field(boost::beast::http::field id);

}  // namespace ringproxy
