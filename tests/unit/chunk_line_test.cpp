// Tests for the first chunk-size line check (http/chunk_line.hpp).

#include "http/chunk_line.hpp"

#include <gtest/gtest.h>

#include <string>

namespace ringproxy {
namespace {

TEST(FirstChunkLine, SizesWithinTheLimitPass) {
  EXPECT_EQ(first_chunk_line("5\r\nhello", 100), ChunkLine::ok);
  EXPECT_EQ(first_chunk_line("64\r\n", 100), ChunkLine::ok);
  EXPECT_EQ(first_chunk_line("0\r\n\r\n", 0), ChunkLine::ok);
  EXPECT_EQ(first_chunk_line("A;name=value\r\n", 10), ChunkLine::ok);
  EXPECT_EQ(first_chunk_line("a \r\n", 10), ChunkLine::ok);
  EXPECT_EQ(first_chunk_line("0000000000000000000001\r\n", 1), ChunkLine::ok);
}

TEST(FirstChunkLine, AnUnfinishedLineWantsMore) {
  EXPECT_EQ(first_chunk_line("", 100), ChunkLine::partial);
  EXPECT_EQ(first_chunk_line("ff", 1000), ChunkLine::partial);
  EXPECT_EQ(first_chunk_line("ff\r", 1000), ChunkLine::partial);
  EXPECT_EQ(first_chunk_line("5;ext=1", 100), ChunkLine::partial);
  // A line too long to be a size is left to the parser.
  EXPECT_EQ(first_chunk_line("5;" + std::string(5000, 'x'), 100), ChunkLine::ok);
}

TEST(FirstChunkLine, MalformedOrOverflowingSizesAreBad) {
  EXPECT_EQ(first_chunk_line("zz\r\n", 100), ChunkLine::bad);
  EXPECT_EQ(first_chunk_line(";ext\r\n", 100), ChunkLine::bad);
  EXPECT_EQ(first_chunk_line("\r\n", 100), ChunkLine::bad);
  EXPECT_EQ(first_chunk_line("5x\r\n", 100), ChunkLine::bad);
  EXPECT_EQ(first_chunk_line("-5\r\n", 100), ChunkLine::bad);
  EXPECT_EQ(first_chunk_line("fffffffffffffffff\r\n", UINT64_MAX), ChunkLine::bad);
  EXPECT_EQ(first_chunk_line("10000000000000000\r\n", UINT64_MAX), ChunkLine::bad);
}

TEST(FirstChunkLine, SizesOverTheLimitAreTooLarge) {
  EXPECT_EQ(first_chunk_line("65\r\n", 100), ChunkLine::too_large);
  EXPECT_EQ(first_chunk_line("ffffffffffffffff\r\n", 1000), ChunkLine::too_large);
  EXPECT_EQ(first_chunk_line("1389;x=y", 5000), ChunkLine::too_large);  // known before its end
  EXPECT_EQ(first_chunk_line("1\r\n", 0), ChunkLine::too_large);
}

}  // namespace
}  // namespace ringproxy
