// The request path's hop-by-hop check by field code agrees with the policy's rule by name.
#include "http/forwarded_head.hpp"

#include <gtest/gtest.h>

#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/parser.hpp>

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

}  // namespace
}  // namespace ringproxy
