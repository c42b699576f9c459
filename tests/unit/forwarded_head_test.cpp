// The request path's hop-by-hop check by field code agrees with the policy's rule by name; the
// heads written for backends and clients (as text and, for HTTP/2 clients, as fields).
#include "http/forwarded_head.hpp"

#include <gtest/gtest.h>

#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/parser.hpp>
#include <cctype>
#include <string>
#include <vector>

#include "policy/http_fields.hpp"

namespace ringproxy {
namespace {

namespace http = boost::beast::http;

TEST(ForwardedHead, HopByHopByCodeMatchesTheRuleByName) {
  // Every field Beast knows, by code and by its name.
  for (unsigned code = 1; code <= static_cast<unsigned>(http::field::xref); ++code) {
    const auto id = static_cast<http::field>(code);
    const std::string_view name = http::to_string(id);
    if (name.empty()) continue;
    EXPECT_EQ(is_hop_by_hop_field(id), is_hop_by_hop(name)) << name;
  }
  for (const char* name : {"Connection", "keep-alive", "Proxy-Connection", "TE", "Trailer",
                           "Transfer-Encoding", "upgrade"}) {
    EXPECT_TRUE(is_hop_by_hop_field(http::string_to_field(name))) << name;
  }
}

// A TLS listener's request: X-Forwarded-Proto https and the verified client subject; what a
// client sent in either is dropped (on every listener).
TEST(ForwardedHead, HttpsAndTheClientSubjectReplaceWhatTheClientSent) {
  ArenaBlockPool pool;
  MessageArena arena(pool);
  http::request_parser<http::empty_body, ArenaAllocator<char>> parser(
      std::piecewise_construct, std::make_tuple(), std::make_tuple(ArenaAllocator<char>(arena)));
  boost::system::error_code ec;
  const std::string head =
      "GET /x HTTP/1.1\r\nHost: a\r\nX-Client-Cert-Subject: CN=admin\r\n"
      "x-forwarded-proto: http\r\n\r\n";
  parser.eager(true);
  parser.put(boost::asio::buffer(head), ec);
  ASSERT_FALSE(ec) << ec.message();
  std::string out;
  UpstreamRequestHead parts{"/x", "10.0.0.1", "a", "", "id", false, true, "CN=alice,O=Example"};
  write_upstream_request_head(parser.get().base(), parts, out);
  EXPECT_NE(out.find("\r\nX-Forwarded-Proto: https\r\n"), std::string::npos) << out;
  EXPECT_NE(out.find("\r\nX-Client-Cert-Subject: CN=alice,O=Example\r\n"), std::string::npos)
      << out;
  EXPECT_EQ(out.find("CN=admin"), std::string::npos) << out;
  EXPECT_EQ(out.find("proto: http\r\n"), std::string::npos) << out;
  parts.https = false;
  parts.client_cert_subject = {};
  write_upstream_request_head(parser.get().base(), parts, out);
  EXPECT_NE(out.find("\r\nX-Forwarded-Proto: http\r\n"), std::string::npos) << out;
  EXPECT_EQ(out.find("Client-Cert"), std::string::npos) << out;
}

// A backend's head parsed as the proxy parses them.
struct ParsedResponse {
  ArenaBlockPool pool;
  MessageArena arena{pool};
  http::response_parser<http::empty_body, ArenaAllocator<char>> parser{
      std::piecewise_construct, std::make_tuple(), std::make_tuple(ArenaAllocator<char>(arena))};
  explicit ParsedResponse(const std::string& head) {
    boost::system::error_code ec;
    parser.header_limit(64 * 1024);
    parser.eager(true);
    parser.put(boost::asio::buffer(head), ec);
    EXPECT_FALSE(ec) << ec.message();
  }
};

const std::string kBackendHead =
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: keep-alive, X-Hop\r\n"
    "X-Hop: 1\r\nKeep-Alive: timeout=5\r\nVia: 1.0 cache,\r\nSet-Cookie: a=1\r\n"
    "RateLimit: old\r\nvia: 1.1 edge\r\nSet-Cookie: b=2\r\nContent-Length: 0\r\n\r\n";

// The HTTP/2 client's fields are the HTTP/1.1 client's lines, lower-cased, in the same order,
// less what only HTTP/1.1 has (the connection's own fields).
TEST(ForwardedHead, ResponseFieldsAreTheTextHeadsLinesLowerCased) {
  ParsedResponse r(kBackendHead);
  const ClientResponseHead parts{false, {}, "10;w=1", "limit=10, remaining=9", {}};
  std::string text;
  write_client_response_head(r.parser.get().base(), parts, text);
  std::string bytes = "stale";
  std::vector<FieldView> fields{{"stale", "x"}};
  write_client_response_fields(r.parser.get().base(), parts, bytes, fields);
  std::string lines;
  for (const auto& f : fields) {
    for (char c : f.name) EXPECT_FALSE(c >= 'A' && c <= 'Z') << f.name;
    lines.append(f.name).append(": ").append(f.value).append("\r\n");
  }
  std::string lowered = text.substr(text.find("\r\n") + 2);
  lowered.resize(lowered.size() - 2);  // the empty line
  for (std::size_t at = 0; at < lowered.size(); at = lowered.find("\r\n", at) + 2) {
    for (std::size_t i = at; lowered[i] != ':'; ++i) {
      lowered[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(lowered[i])));
    }
  }
  EXPECT_EQ(lines, lowered);
  EXPECT_EQ(lines,
            "content-type: text/plain\r\nset-cookie: a=1\r\nset-cookie: b=2\r\n"
            "content-length: 0\r\nvia: 1.0 cache, 1.1 edge, 1.1 ringproxy\r\n"
            "ratelimit-policy: 10;w=1\r\nratelimit: limit=10, remaining=9\r\n");
}

// The views stay valid however many and long the fields are (the bytes never move under them).
TEST(ForwardedHead, ResponseFieldsHoldManyLongFields) {
  std::string head = "HTTP/1.1 200 OK\r\n";
  for (int i = 0; i < 60; ++i) {
    head += "X-Field-" + std::to_string(i) + ": " +
            std::string(200, static_cast<char>('a' + i % 26)) + "\r\n";
  }
  head += "Via: " + std::string(300, 'v') + "\r\nContent-Length: 0\r\n\r\n";
  ParsedResponse r(head);
  std::string bytes;
  bytes.reserve(16);  // far too small: the writer makes its own room first
  std::vector<FieldView> fields;
  write_client_response_fields(r.parser.get().base(), ClientResponseHead{}, bytes, fields);
  ASSERT_EQ(fields.size(), 62u);
  for (int i = 0; i < 60; ++i) {
    EXPECT_EQ(fields[i].name, "x-field-" + std::to_string(i));
    EXPECT_EQ(fields[i].value, std::string(200, static_cast<char>('a' + i % 26)));
  }
  EXPECT_EQ(fields[61].name, "via");
  EXPECT_EQ(fields[61].value, std::string(300, 'v') + ", 1.1 ringproxy");
}

}  // namespace
}  // namespace ringproxy
