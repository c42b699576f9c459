// parse_buffered_head: a head already whole in the buffer parsed in place, and the answers
// when it is not whole or breaks a parser limit.
#include "http/buffered_head.hpp"
#include "http/head_reader.hpp"

#include <gtest/gtest.h>

#include <boost/asio/buffer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <string>
#include <string_view>

namespace ringproxy {
namespace {

namespace http = boost::beast::http;

boost::beast::flat_buffer buffer_with(std::string_view bytes) {
  boost::beast::flat_buffer buffer;
  const auto space = buffer.prepare(bytes.size());
  boost::asio::buffer_copy(space, boost::asio::buffer(bytes.data(), bytes.size()));
  buffer.commit(bytes.size());
  return buffer;
}

std::string_view rest_of(const boost::beast::flat_buffer& buffer) {
  return {static_cast<const char*>(buffer.data().data()), buffer.size()};
}

TEST(BufferedHead, ParsesTheHeadAndLeavesTheBodyAndTheNextRequestInTheBuffer) {
  auto buffer = buffer_with(
      "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET /b HTTP/1.1\r\n\r\n");
  http::request_parser<http::string_body> parser;
  EXPECT_FALSE(parse_buffered_head(parser, buffer));
  EXPECT_TRUE(parser.is_header_done());
  EXPECT_EQ(parser.get().target(), "/a");
  EXPECT_EQ(parser.get()[http::field::host], "x");
  EXPECT_EQ(parser.content_length().value_or(0), 3u);
  // Stops at the end of the head, as http::read_header does: the body is not taken.
  EXPECT_EQ(rest_of(buffer), "abcGET /b HTTP/1.1\r\n\r\n");
}

TEST(BufferedHead, ParsesAResponseHead) {
  auto buffer = buffer_with("HTTP/1.1 204 No Content\r\nServer: o\r\n\r\n");
  http::response_parser<http::empty_body> parser;
  EXPECT_FALSE(parse_buffered_head(parser, buffer));
  EXPECT_EQ(parser.get().result_int(), 204);
  EXPECT_TRUE(parser.is_done());
  EXPECT_EQ(buffer.size(), 0u);
}

TEST(BufferedHead, AHeadCutShortIsAPartialMessage) {
  auto buffer = buffer_with("GET / HTTP/1.1\r\nHost: x\r\n");
  http::request_parser<http::empty_body> parser;
  EXPECT_EQ(parse_buffered_head(parser, buffer), http::error::partial_message);
  EXPECT_FALSE(parser.is_header_done());
}

TEST(BufferedHead, AnEmptyBufferIsAPartialMessage) {
  boost::beast::flat_buffer buffer;
  http::request_parser<http::empty_body> parser;
  EXPECT_EQ(parse_buffered_head(parser, buffer), http::error::partial_message);
}

TEST(BufferedHead, AHeadOverTheParsersLimitIsHeaderLimit) {
  auto buffer =
      buffer_with("GET / HTTP/1.1\r\nHost: x\r\nX-Long: " + std::string(200, 'a') + "\r\n\r\n");
  http::request_parser<http::empty_body> parser;
  parser.header_limit(64);
  EXPECT_EQ(parse_buffered_head(parser, buffer), http::error::header_limit);
}

TEST(BufferedHead, ABodyOverTheParsersLimitIsBodyLimit) {
  auto buffer = buffer_with("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n");
  http::request_parser<http::string_body> parser;
  parser.body_limit(10);
  EXPECT_EQ(parse_buffered_head(parser, buffer), http::error::body_limit);
}

TEST(BufferedHead, BadFramingIsTheParsersError) {
  auto buffer =
      buffer_with("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n");
  http::request_parser<http::empty_body> parser;
  const auto ec = parse_buffered_head(parser, buffer);
  EXPECT_TRUE(ec);
  EXPECT_NE(ec, http::error::partial_message);
}

TEST(CheckRequestHead, SkipsEmptyLinesAndParsesHttp12AsHttp11) {
  auto buffer = buffer_with("\r\n\r\nGET /v HTTP/1.2\r\nHost: x\r\n\r\n");
  std::size_t empty_lines = 0;
  HeadVerdict verdict;
  ASSERT_EQ(check_request_head(buffer, 16384, empty_lines, verdict), HeadProgress::whole);
  EXPECT_EQ(empty_lines, 2u);
  EXPECT_EQ(rest_of(buffer), "GET /v HTTP/1.1\r\nHost: x\r\n\r\n");
  http::request_parser<http::empty_body> parser;
  EXPECT_FALSE(parse_buffered_head(parser, buffer));
  EXPECT_EQ(parser.get().version(), 11);
  EXPECT_TRUE(parser.get().keep_alive());
}

TEST(CheckRequestHead, EmptyLinesAloneArePartialAndCountAcrossReads) {
  auto buffer = buffer_with("\r\n\r\n\r\n");
  std::size_t empty_lines = 0;
  HeadVerdict verdict;
  EXPECT_EQ(check_request_head(buffer, 16384, empty_lines, verdict), HeadProgress::partial);
  EXPECT_EQ(buffer.size(), 0u);
  buffer = buffer_with("\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(check_request_head(buffer, 16384, empty_lines, verdict), HeadProgress::refused);
  EXPECT_EQ(verdict.status, 400);
  EXPECT_TRUE(verdict.close);
}

}  // namespace
}  // namespace ringproxy
