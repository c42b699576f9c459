// Tests for reading the pipeline's HTTP/1.1 response back as HTTP/2 (http/h2_response_reader.hpp):
// heads as lower-cased fields, every body framing, the bad and partial cases.

#include "http/h2_response_reader.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ringproxy {
namespace {

using Head = H2ResponseReader::Head;

std::vector<std::pair<std::string, std::string>> fields_of(const H2ResponseReader& r) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& f : r.fields()) out.emplace_back(f.name, f.value);
  return out;
}

// Reads the body from bytes with room bytes a call until done or stuck; *used: input taken.
std::string read_all(H2ResponseReader& r, std::string_view bytes, std::size_t room,
                     std::size_t* used_total, bool* bad) {
  std::string out;
  *used_total = 0;
  std::string buf(room, '\0');
  while (!r.done()) {
    std::size_t used = 0;
    const std::size_t n =
        r.read_body(bytes.substr(*used_total), &used, buf.data(), buf.size(), bad);
    *used_total += used;
    out.append(buf.data(), n);
    if (*bad || (n == 0 && used == 0)) break;
  }
  return out;
}

// One response read by one reader: head() reads a final head, each read() is one read_body
// call with 16 bytes of room; used and bad are the last call's.
class H2ResponseBody : public ::testing::Test {
 protected:
  // Reads head, which must be one whole final head.
  void head(std::string_view text) {
    std::size_t taken = 0;
    ASSERT_EQ(r.read_head(text, &taken), Head::final);
    EXPECT_EQ(taken, text.size());
  }
  std::string read(std::string_view bytes) {
    char buf[16];
    return std::string(buf, r.read_body(bytes, &used, buf, sizeof buf, &bad));
  }

  H2HeadScratch scratch;
  H2ResponseReader r{false, scratch};
  std::size_t used = 0;
  bool bad = false;
};

TEST_F(H2ResponseBody, AContentLengthBodyIsCountedOffAcrossSmallReads) {
  const std::string text =
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Origin: a\r\nContent-Length: 10\r\n\r\n"
      "0123456789";
  ASSERT_EQ(r.read_head(text, &used), Head::final);
  EXPECT_EQ(r.status(), 200);
  EXPECT_EQ(used, text.size() - 10);
  EXPECT_FALSE(r.done());
  const std::vector<std::pair<std::string, std::string>> want{
      {"content-type", "text/plain"}, {"x-origin", "a"}, {"content-length", "10"}};
  EXPECT_EQ(fields_of(r), want);
  bool bad = false;
  std::size_t body_used = 0;
  EXPECT_EQ(read_all(r, std::string_view(text).substr(used), 3, &body_used, &bad), "0123456789");
  EXPECT_FALSE(bad);
  EXPECT_EQ(body_used, 10u);
  EXPECT_TRUE(r.done());
}

TEST_F(H2ResponseBody, AContentLengthWithLeadingZerosIsItsNumber) {
  head("HTTP/1.1 200 OK\r\nContent-Length: 000000000000000000000003\r\n\r\n");
  EXPECT_EQ(read("abcd"), "abc");
  EXPECT_TRUE(r.done());
}

TEST_F(H2ResponseBody, BytesAfterTheBodyAreNotTaken) {
  head("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n");
  EXPECT_EQ(read("abcdef"), "ab");
  EXPECT_EQ(used, 2u);
  EXPECT_TRUE(r.done());
  EXPECT_EQ(read("cdef"), "");
}

TEST(H2ResponseReader, AHeadInPiecesIsPartialUntilItsEmptyLine) {
  H2HeadScratch scratch;
  H2ResponseReader r(false, scratch);
  const std::string text = "HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n";
  std::size_t used = 0;
  for (std::size_t n = 0; n < text.size(); ++n) {
    ASSERT_EQ(r.read_head(std::string_view(text).substr(0, n), &used), Head::partial) << n;
    EXPECT_EQ(used, 0u);
  }
  ASSERT_EQ(r.read_head(text, &used), Head::final);
  EXPECT_EQ(used, text.size());
  EXPECT_EQ(r.status(), 204);
  EXPECT_TRUE(r.done());  // 204 has no body
}

TEST_F(H2ResponseBody, InterimHeadsComeBeforeTheFinalOne) {
  const std::string text =
      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"
      "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n";
  std::size_t at = 0;
  ASSERT_EQ(r.read_head(text, &used), Head::interim);
  EXPECT_EQ(r.status(), 100);
  EXPECT_FALSE(r.done());
  at += used;
  ASSERT_EQ(r.read_head(std::string_view(text).substr(at), &used), Head::interim);
  EXPECT_EQ(r.status(), 103);
  EXPECT_EQ(fields_of(r), (std::vector<std::pair<std::string, std::string>>{{"link", "</a.css>"}}));
  at += used;
  ASSERT_EQ(r.read_head(std::string_view(text).substr(at), &used), Head::final);
  EXPECT_EQ(r.status(), 201);
  EXPECT_EQ(at + used, text.size());
  EXPECT_TRUE(r.done());
}

TEST(H2ResponseReader, NoBodyForHeadRequestsOr304Or101) {
  H2HeadScratch scratch;
  std::size_t used = 0;
  H2ResponseReader head(true, scratch);
  ASSERT_EQ(head.read_head("HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n", &used), Head::final);
  EXPECT_TRUE(head.done());
  H2ResponseReader not_modified(false, scratch);
  ASSERT_EQ(not_modified.read_head("HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n", &used),
            Head::final);
  EXPECT_TRUE(not_modified.done());
  H2ResponseReader upgrade(false, scratch);
  ASSERT_EQ(upgrade.read_head("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                              "Connection: upgrade\r\n\r\n",
                              &used),
            Head::final);
  EXPECT_EQ(upgrade.status(), 101);
  EXPECT_TRUE(upgrade.fields().empty());  // both fields are connection-specific
  EXPECT_TRUE(upgrade.done());
}

TEST(H2ResponseReader, NamesAreLowerCasedAndConnectionSpecificFieldsDropped) {
  H2HeadScratch scratch;
  H2ResponseReader r(false, scratch);
  std::size_t used = 0;
  ASSERT_EQ(r.read_head("HTTP/1.1 200 OK\r\nX-Mixed-Case:  padded value \t\r\nConnection: close\r\n"
                        "Keep-Alive: timeout=5\r\nProxy-Connection: x\r\nUpgrade: h2c\r\n"
                        "Set-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 0\r\n\r\n",
                        &used),
            Head::final);
  const std::vector<std::pair<std::string, std::string>> want{{"x-mixed-case", "padded value"},
                                                              {"set-cookie", "a=1"},
                                                              {"set-cookie", "b=2"},
                                                              {"content-length", "0"}};
  EXPECT_EQ(fields_of(r), want);
}

TEST(H2ResponseReader, AChunkedBodyIsDeframedAndItsTrailersLowerCased) {
  H2HeadScratch scratch;
  H2ResponseReader r(false, scratch);
  const std::string head =
      "HTTP/1.1 200 OK\r\nContent-Type: application/grpc\r\nTransfer-Encoding: chunked\r\n\r\n";
  const std::string body =
      "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nGrpc-Status: 0\r\nConnection: close\r\n"
      "Grpc-Message: fine\r\n\r\n";
  std::size_t used = 0;
  ASSERT_EQ(r.read_head(head + body, &used), Head::final);
  EXPECT_EQ(used, head.size());
  EXPECT_EQ(
      fields_of(r),
      (std::vector<std::pair<std::string, std::string>>{{"content-type", "application/grpc"}}));
  EXPECT_FALSE(r.done());
  bool bad = false;
  std::size_t body_used = 0;
  EXPECT_EQ(read_all(r, body, 4, &body_used, &bad), "hello world");
  EXPECT_FALSE(bad);
  EXPECT_EQ(body_used, body.size());
  ASSERT_TRUE(r.done());
  std::vector<std::pair<std::string, std::string>> trailers;
  for (const auto& f : r.trailers()) trailers.emplace_back(f.name, f.value);
  EXPECT_EQ(trailers, (std::vector<std::pair<std::string, std::string>>{{"grpc-status", "0"},
                                                                        {"grpc-message", "fine"}}));
}

TEST_F(H2ResponseBody, BrokenChunkFramingIsBad) {
  head("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
  read("zz\r\nhello\r\n");
  EXPECT_TRUE(bad);
  EXPECT_FALSE(r.done());
}

TEST_F(H2ResponseBody, ACloseDelimitedBodyEndsAtTheEndOfInput) {
  head("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n");
  EXPECT_EQ(read("some bytes"), "some bytes");
  EXPECT_FALSE(r.done());
  r.end_of_input();
  EXPECT_TRUE(r.done());
  EXPECT_FALSE(bad);
  EXPECT_TRUE(r.trailers().empty());
}

TEST_F(H2ResponseBody, ACutContentLengthBodyIsNeverDone) {
  head("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n");
  EXPECT_EQ(read("abc"), "abc");
  r.end_of_input();
  EXPECT_FALSE(r.done());
}

TEST(H2ResponseReader, MalformedHeadsAreBad) {
  H2HeadScratch scratch;
  for (const std::string_view text : {
           "HTTP/1.1 20 OK\r\n\r\n",
           "HTTP/1.1 2000 OK\r\n\r\n",
           "HTTP/2 200 OK\r\n\r\n",
           "http/1.1 200 OK\r\n\r\n",
           "HTTP/1.1 099 Low\r\n\r\n",
           "HTTP/1.1 200 OK\r\nNo colon here\r\n\r\n",
           "HTTP/1.1 200 OK\r\n: empty name\r\n\r\n",
           "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n",
           "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
       }) {
    H2ResponseReader r(false, scratch);
    std::size_t used = 0;
    EXPECT_EQ(r.read_head(text, &used), Head::bad) << text;
  }
}

TEST(H2ResponseReader, AHeadOverTheLimitIsBad) {
  H2HeadScratch scratch;
  H2ResponseReader r(false, scratch);
  std::string text = "HTTP/1.1 200 OK\r\nX-Big: ";
  text.append(H2ResponseReader::kMaxHead, 'a');
  std::size_t used = 0;
  EXPECT_EQ(r.read_head(text, &used), Head::bad);  // no end in sight, already too long
  text.append("\r\n\r\n");
  EXPECT_EQ(r.read_head(text, &used), Head::bad);
  EXPECT_EQ(used, 0u);
}

}  // namespace
}  // namespace ringproxy
