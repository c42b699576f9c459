// H2FrameCutter: a client's bytes cut at the preface's end and at each frame's end, however
// the reads split them.
#include "http/h2_frame_cutter.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

namespace ringproxy {
namespace {

// A frame of the given payload length (type DATA, stream 1), its payload all 'x'.
std::string frame(std::size_t length) {
  std::string f;
  f.push_back(static_cast<char>((length >> 16) & 0xff));
  f.push_back(static_cast<char>((length >> 8) & 0xff));
  f.push_back(static_cast<char>(length & 0xff));
  f += std::string("\x00\x00\x00\x00\x00\x01", 6);
  f += std::string(length, 'x');
  return f;
}

const std::string kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

// Feeds bytes in reads of `read` bytes; the positions (from the start) where a unit ended.
std::vector<std::size_t> ends(const std::string& bytes, std::size_t read, std::size_t preface) {
  H2FrameCutter cutter(preface);
  std::vector<std::size_t> out;
  const auto* data = reinterpret_cast<const std::uint8_t*>(bytes.data());
  for (std::size_t at = 0; at < bytes.size();) {
    const std::size_t n = std::min(read, bytes.size() - at);
    for (std::size_t off = 0; off < n;) {
      const std::size_t k = cutter.next(data + at + off, n - off);
      EXPECT_GT(k, 0u);
      off += k;
      if (cutter.ended()) out.push_back(at + off);
    }
    at += n;
  }
  return out;
}

TEST(H2FrameCutter, CutsAfterThePrefaceAndAfterEachFrame) {
  const std::string bytes = kPreface + frame(6) + frame(0) + frame(300) + frame(16384);
  const std::vector<std::size_t> want{24, 24 + 15, 24 + 15 + 9, 24 + 15 + 9 + 309,
                                      24 + 15 + 9 + 309 + 16393};
  EXPECT_EQ(ends(bytes, bytes.size(), 24), want);
}

TEST(H2FrameCutter, TheSameCutsWhateverTheReadsSplit) {
  const std::string bytes = kPreface + frame(6) + frame(0) + frame(300) + frame(70000);
  const std::vector<std::size_t> want = ends(bytes, bytes.size(), 24);
  for (const std::size_t read : {1u, 2u, 5u, 9u, 10u, 23u, 24u, 25u, 4096u}) {
    EXPECT_EQ(ends(bytes, read, 24), want) << "reads of " << read;
  }
}

TEST(H2FrameCutter, ALengthOfThreeBytesIsReadWhole) {
  // 0x01_02_03 = 66051: all three length bytes count, most significant first.
  const std::string bytes = frame(0x010203);
  EXPECT_EQ(ends(bytes, 7, 0), std::vector<std::size_t>{9 + 0x010203});
}

TEST(H2FrameCutter, WithoutAPrefaceTheFirstFrameStartsAtOnce) {
  EXPECT_EQ(ends(frame(4) + frame(1), 3, 0), (std::vector<std::size_t>{13, 23}));
}

TEST(H2FrameCutter, AnUnfinishedFrameTakesAllTheBytesAndEndsNothing) {
  H2FrameCutter cutter(0);
  const std::string f = frame(100);
  const auto* data = reinterpret_cast<const std::uint8_t*>(f.data());
  EXPECT_EQ(cutter.next(data, 50), 50u);
  EXPECT_FALSE(cutter.ended());
  EXPECT_EQ(cutter.next(data + 50, f.size() - 50), f.size() - 50);
  EXPECT_TRUE(cutter.ended());
}

}  // namespace
}  // namespace ringproxy
