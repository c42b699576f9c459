// Tests for a chunked body's trailer section as the proxy passes it on
// (http/trailer_section.hpp, policy/http_fields.hpp's is_forbidden_trailer).

#include "http/trailer_section.hpp"

#include <gtest/gtest.h>

#include <boost/beast/http/fields.hpp>
#include <iterator>
#include <string>

namespace ringproxy {
namespace {

namespace http = boost::beast::http;

// A head of two fields (noted in head), then trailer fields as Beast's parser adds them.
http::fields message_with_trailers(HeadFields& head) {
  http::fields f;
  f.insert("Host", "example.test");
  f.insert("TE", "gzip, trailers");
  head.note(f);
  f.insert("Grpc-Status", "0");
  f.insert("Host", "evil.test");
  f.insert("X-Checksum", "abc");
  f.insert("Connection", "close");
  f.insert("Trailer", "X-Checksum");
  return f;
}

std::size_t count(const http::fields& f) {
  return static_cast<std::size_t>(std::distance(f.begin(), f.end()));
}

TEST(TrailerSection, FieldsAfterTheHeadGoOnForbiddenOnesDropped) {
  HeadFields head;
  http::fields f = message_with_trailers(head);
  std::string out;
  ASSERT_TRUE(take_trailer_section(f, head, 1024, true, out));
  EXPECT_EQ(out, "0\r\nGrpc-Status: 0\r\nX-Checksum: abc\r\n\r\n");
  // Taken out of the message: its head is what it was, no trailer merged into it.
  EXPECT_EQ(count(f), 2u);
  EXPECT_EQ(f[http::field::host], "example.test");
  EXPECT_EQ(f.count("X-Checksum"), 0u);
}

TEST(TrailerSection, ATrailerFieldNamedAsAHeadFieldIsToldApart) {
  // Beast inserts a field right after the last one of its name: here between the head's.
  http::fields f;
  f.insert("Server-Timing", "head");
  f.insert("X-Last", "1");
  HeadFields head;
  head.note(f);
  f.insert("Server-Timing", "trailer");
  ASSERT_EQ(std::next(f.begin())->value(), "trailer");
  std::string out;
  ASSERT_TRUE(take_trailer_section(f, head, 1024, true, out));
  EXPECT_EQ(out, "0\r\nServer-Timing: trailer\r\n\r\n");
  ASSERT_EQ(count(f), 2u);
  EXPECT_EQ(f["Server-Timing"], "head");
  EXPECT_EQ(f["X-Last"], "1");
}

TEST(TrailerSection, NotPassedIsTheLastChunkAlone) {
  HeadFields head;
  http::fields f = message_with_trailers(head);
  std::string out;
  ASSERT_TRUE(take_trailer_section(f, head, 1024, false, out));
  EXPECT_EQ(out, kLastChunk);
  EXPECT_EQ(count(f), 2u);
}

TEST(TrailerSection, NoTrailerFieldsIsTheLastChunk) {
  http::fields f;
  f.insert("Host", "example.test");
  HeadFields head;
  head.note(f);
  std::string out;
  ASSERT_TRUE(take_trailer_section(f, head, 0, true, out));
  EXPECT_EQ(out, kLastChunk);
}

TEST(TrailerSection, OverTheLimitIsRefusedWhetherPassedOrNot) {
  // "Grpc-Status: 0\r\n" 16, "Host: evil.test\r\n" 17, "X-Checksum: abc\r\n" 17,
  // "Connection: close\r\n" 19, "Trailer: X-Checksum\r\n" 21: 90 bytes received.
  for (const bool pass : {true, false}) {
    HeadFields head;
    http::fields f = message_with_trailers(head);
    std::string out;
    EXPECT_TRUE(take_trailer_section(f, head, 90, pass, out)) << pass;
    HeadFields head2;
    http::fields g = message_with_trailers(head2);
    EXPECT_FALSE(take_trailer_section(g, head2, 89, pass, out)) << pass;
    EXPECT_EQ(out, kLastChunk);
    EXPECT_EQ(count(g), 2u) << "taken out even when refused";
  }
}

TEST(TrailerSection, TeListsTrailers) {
  http::fields f;
  f.insert("TE", "gzip, Trailers");
  EXPECT_TRUE(te_lists_trailers(f));
  http::fields g;
  g.insert("TE", "trailersx, gzip");
  g.insert("X-Trailers", "trailers");
  EXPECT_FALSE(te_lists_trailers(g));
}

TEST(TrailerSection, ForbiddenTrailerNames) {
  for (const char* name :
       {"Content-Length", "transfer-encoding", "HOST", "Connection", "Keep-Alive",
        "Proxy-Connection", "TE", "Trailer", "Upgrade", ":status", ":path"}) {
    EXPECT_TRUE(is_forbidden_trailer(name)) << name;
  }
  for (const char* name :
       {"grpc-status", "grpc-message", "X-Checksum", "Server-Timing", "Content-MD5", "Hosts", ""}) {
    EXPECT_FALSE(is_forbidden_trailer(name)) << name;
  }
}

}  // namespace
}  // namespace ringproxy
