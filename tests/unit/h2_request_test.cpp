// An HTTP/2 request taken by the pipeline as fields: validate_h2_request's rules (the HTTP/1.1
// head rules nghttp2 does not apply), the facts H2RequestHead gathers for them, and the parsed
// request start_h2_request makes (framing from the parser, fields from the stream).
#include <gtest/gtest.h>

#include <boost/beast/http/error.hpp>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http/h2_messages.hpp"
#include "http/h2_request.hpp"
#include "policy/head_validator.hpp"

namespace ringproxy {
namespace {

namespace http = boost::beast::http;
using Fields = std::initializer_list<std::pair<std::string_view, std::string_view>>;

H2RequestHead head_of(Fields fields) {
  H2RequestHead h;
  for (const auto& [name, value] : fields) h.add(name, value, 1 << 20);
  return h;
}

H2RequestFacts facts(std::string_view method, std::string_view target, std::string_view host) {
  H2RequestFacts f;
  f.method = method;
  f.target = target;
  f.host = host;
  f.field_lines = 3;
  f.longest_part = 20;
  return f;
}

TEST(ValidateH2Request, APlainRequestPasses) {
  EXPECT_TRUE(validate_h2_request(facts("GET", "/a?b=c", "h2.test")));
  EXPECT_TRUE(validate_h2_request(facts("POST", "/", "[::1]:8443")));
  EXPECT_TRUE(validate_h2_request(facts("OPTIONS", "*", "h2.test")));
  EXPECT_TRUE(validate_h2_request(facts("CONNECT", "h2.test:443", "h2.test:443")));
}

TEST(ValidateH2Request, TargetRulesAreTheHttp11Ones) {
  RequestHeadLimits limits;
  limits.max_target = 16;
  EXPECT_TRUE(validate_h2_request(facts("GET", "/" + std::string(15, 'a'), "h"), limits));
  const HeadVerdict long_target =
      validate_h2_request(facts("GET", "/" + std::string(16, 'a'), "h"), limits);
  EXPECT_EQ(long_target.status, 414);
  EXPECT_TRUE(long_target.close);
  EXPECT_EQ(validate_h2_request(facts("GET", "/a#frag", "h")).status, 400);
  EXPECT_EQ(validate_h2_request(facts("GET", "/caf\xc3\xa9", "h")).status, 400);
  EXPECT_EQ(validate_h2_request(facts("GET", "/a\x7f", "h")).status, 400);
  EXPECT_EQ(validate_h2_request(facts("GET", "", "h")).status, 400);
  EXPECT_EQ(validate_h2_request(facts("GET", "*", "h")).status, 400);  // asterisk: OPTIONS only
  EXPECT_EQ(validate_h2_request(facts("GET", "relative", "h")).status, 400);
  EXPECT_EQ(validate_h2_request(facts("CONNECT", "h2.test", "h2.test")).status, 400);  // no port
}

TEST(ValidateH2Request, FieldCountAndSizeAre431) {
  H2RequestFacts f = facts("GET", "/", "h");
  f.field_lines = kMaxFieldLines;
  EXPECT_TRUE(validate_h2_request(f));
  f.field_lines = kMaxFieldLines + 1;
  EXPECT_EQ(validate_h2_request(f).status, 431);
  f = facts("GET", "/", "h");
  f.longest_part = 65533;
  EXPECT_TRUE(validate_h2_request(f));
  f.longest_part = 65534;  // Beast's fields could not hold it
  EXPECT_EQ(validate_h2_request(f).status, 431);
}

TEST(ValidateH2Request, HostMustBeOneValidHostPort) {
  EXPECT_EQ(validate_h2_request(facts("GET", "/", "")).status, 400);
  EXPECT_EQ(validate_h2_request(facts("GET", "/", "a b")).status, 400);
  EXPECT_EQ(validate_h2_request(facts("GET", "/", "h:")).status, 400);
  EXPECT_EQ(validate_h2_request(facts("GET", "/", "h:65536")).status, 400);
  H2RequestFacts twice = facts("GET", "/", "h");
  twice.host_fields = 2;
  EXPECT_EQ(validate_h2_request(twice).status, 400);
}

TEST(ValidateH2Request, AnExpectationOtherThan100ContinueIs417) {
  H2RequestFacts f = facts("POST", "/", "h");
  f.bad_expect = true;
  EXPECT_EQ(validate_h2_request(f).status, 417);
}

TEST(H2RequestHead, FactsCountWhatTheHttp11HeadWouldHave) {
  const H2RequestHead h = head_of({{":method", "POST"},
                                   {":scheme", "https"},
                                   {":path", "/up"},
                                   {":authority", "h2.test"},
                                   {"host", "other.test"},
                                   {"cookie", std::string(40000, 'a')},
                                   {"cookie", std::string(40000, 'b')},
                                   {"expect", "100-Continue"},
                                   {"x-a", "1"}});
  const H2RequestFacts f = h.facts();
  EXPECT_EQ(f.method, "POST");
  EXPECT_EQ(f.target, "/up");
  EXPECT_EQ(f.host, "h2.test");  // :authority wins
  EXPECT_EQ(f.host_fields, 1u);
  EXPECT_EQ(f.field_lines, 4u);       // host, expect, x-a, the joined cookie
  EXPECT_EQ(f.longest_part, 80002u);  // the joined cookie
  EXPECT_FALSE(f.bad_expect);
  EXPECT_TRUE(head_of({{"expect", "200-ok"}}).facts().bad_expect);
  // CONNECT has no :path: its target is the authority.
  EXPECT_EQ(head_of({{":method", "CONNECT"}, {":authority", "h:1"}}).facts().target, "h:1");
}

TEST(H2RequestHead, ClearedItTakesTheNextBlockWithNothingOfTheLast) {
  H2RequestHead h = head_of({{":method", "POST"},
                             {":path", "/first"},
                             {":authority", "a.test"},
                             {"host", "x.test"},
                             {"content-length", "3"},
                             {"content-type", "application/grpc"},
                             {"cookie", "c=1"},
                             {"expect", "nope"},
                             {"x-big", std::string(500, 'v')}});
  h.clear();
  for (const auto& [name, value] :
       Fields{{":method", "GET"}, {":path", "/next"}, {"host", "b.test"}}) {
    h.add(name, value, 1 << 20);
  }
  const H2RequestFacts f = h.facts();
  EXPECT_EQ(f.method, "GET");
  EXPECT_EQ(f.target, "/next");
  EXPECT_EQ(f.host, "b.test");
  EXPECT_EQ(f.host_fields, 1u);
  EXPECT_EQ(f.field_lines, 1u);
  EXPECT_EQ(f.longest_part, 6u);
  EXPECT_FALSE(f.bad_expect);
  EXPECT_FALSE(h.grpc());
  EXPECT_FALSE(h.has_content_length());
  EXPECT_TRUE(h.field_lines().empty());
  EXPECT_TRUE(h.cookie().empty());
  // The size limit counts this block alone.
  h.clear();
  h.add("x-a", std::string(90, 'a'), 100);
  EXPECT_FALSE(h.too_large());
  h.add("x-b", "bb", 100);
  EXPECT_TRUE(h.too_large());
  h.clear();
  EXPECT_FALSE(h.too_large());
}

// A parser as a client connection's, over its arena.
struct Parsed {
  ArenaBlockPool pool;
  MessageArena arena{pool};
  ClientRequestParser parser{std::piecewise_construct, std::make_tuple(),
                             std::make_tuple(ArenaAllocator<char>(arena))};
  std::vector<std::pair<std::string, std::string>> fields() {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& f : parser.get()) out.emplace_back(f.name_string(), f.value());
    return out;
  }
};

TEST(StartH2Request, TheMessageHasTheStreamsFieldsInOrderHostFirstCookiesLast) {
  Parsed p;
  const H2RequestHead h = head_of({{":method", "PURGE"},
                                   {":scheme", "https"},
                                   {":path", "/x?y=1"},
                                   {":authority", "h2.test"},
                                   {"cookie", "a=1"},
                                   {"x-b", "two words"},
                                   {"cookie", "b=2"},
                                   {"accept", "*/*"}});
  ASSERT_FALSE(start_h2_request(p.parser, h, false));
  const auto& req = p.parser.get();
  EXPECT_EQ(req.method_string(), "PURGE");
  EXPECT_EQ(req.target(), "/x?y=1");
  EXPECT_EQ(req.version(), 11u);
  using F = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(
      p.fields(),
      (F{{"host", "h2.test"}, {"x-b", "two words"}, {"accept", "*/*"}, {"cookie", "a=1; b=2"}}));
  EXPECT_EQ(req[http::field::host], "h2.test");  // the field codes are known
  EXPECT_TRUE(p.parser.is_done());               // END_STREAM with the head: no body
  EXPECT_FALSE(p.parser.chunked());
}

TEST(StartH2Request, AContentLengthFramesTheBodyAndStaysOneField) {
  Parsed p;
  const H2RequestHead h = head_of({{":method", "POST"},
                                   {":path", "/"},
                                   {":authority", "h"},
                                   {"content-length", "5"},
                                   {"content-type", "text/plain"}});
  ASSERT_FALSE(start_h2_request(p.parser, h, true));
  EXPECT_EQ(p.parser.content_length().value_or(0), 5u);
  EXPECT_FALSE(p.parser.is_done());
  EXPECT_FALSE(p.parser.chunked());
  using F = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(p.fields(),
            (F{{"host", "h"}, {"content-length", "5"}, {"content-type", "text/plain"}}));
}

TEST(StartH2Request, ABodyWithoutContentLengthIsChunkedWithNoFieldSayingSo) {
  Parsed p;
  const H2RequestHead h = head_of({{":method", "POST"}, {":path", "/"}, {":authority", "h"}});
  ASSERT_FALSE(start_h2_request(p.parser, h, true));
  EXPECT_TRUE(p.parser.chunked());
  EXPECT_FALSE(p.parser.is_done());
  EXPECT_EQ(p.parser.get().count(http::field::transfer_encoding), 0u);
  // The chunk-framed body the session feeds is read as any client's.
  const std::string body = "3\r\nabc\r\n0\r\n\r\n";
  char out[16];
  p.parser.get().body().data = out;
  p.parser.get().body().size = sizeof(out);
  p.parser.eager(true);
  std::size_t at = 0;
  while (!p.parser.is_done() && at < body.size()) {
    boost::system::error_code ec;
    const std::size_t n = p.parser.put(boost::asio::buffer(body.data() + at, body.size() - at), ec);
    ASSERT_TRUE(!ec || ec == http::error::need_more) << ec.message();
    ASSERT_GT(n, 0u);
    at += n;
  }
  EXPECT_TRUE(p.parser.is_done());
  EXPECT_EQ(sizeof(out) - p.parser.get().body().size, 3u);
  EXPECT_EQ(std::string_view(out, 3), "abc");
}

TEST(StartH2Request, AContentLengthOverTheBodyLimitIsTheParsersError) {
  Parsed p;
  p.parser.body_limit(4);
  const H2RequestHead h =
      head_of({{":method", "POST"}, {":path", "/"}, {":authority", "h"}, {"content-length", "5"}});
  EXPECT_EQ(start_h2_request(p.parser, h, true), http::error::body_limit);
  Parsed q;
  const H2RequestHead many_digits = head_of({{":method", "POST"},
                                             {":path", "/"},
                                             {":authority", "h"},
                                             {"content-length", std::string(200, '0') + "7"}});
  ASSERT_FALSE(start_h2_request(q.parser, many_digits, true));
  EXPECT_EQ(q.parser.content_length().value_or(0), 7u);
}

}  // namespace
}  // namespace ringproxy
