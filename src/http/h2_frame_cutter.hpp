// Where the next HTTP/2 frame ends in a client's byte stream, so that the session can take
// its input one frame at a time (the client preface counts as one unit).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>

namespace ringproxy {

// Cuts a byte stream at frame ends (RFC 9113 §4.1: a 9-byte header whose first three bytes
// are the payload's length), after the preface's bytes. Pure; one per connection.
class H2FrameCutter {
 public:
  // preface: the bytes before the first frame (24, the client's connection preface).
  explicit H2FrameCutter(std::size_t preface) : left_(preface), in_preface_(preface > 0) {}

  // How many of the n bytes at data to hand on next: through the end of the preface or of
  // the next frame, or all n when it does not end in them. ended() says which.
  std::size_t next(const std::uint8_t* data, std::size_t n) {
    std::size_t used = 0;
    ended_ = false;
    while (used < n && !ended_) {
      if (in_preface_ || header_got_ == kHeader) {
        const std::size_t k = std::min(left_, n - used);
        used += k;
        left_ -= k;
        if (left_ == 0) end_unit();
        continue;
      }
      while (used < n && header_got_ < kHeader) {
        if (header_got_ < 3) length_ = (length_ << 8) | data[used];
        ++header_got_;
        ++used;
      }
      if (header_got_ == kHeader) {
        left_ = length_;
        if (left_ == 0) end_unit();
      }
    }
    return used;
  }
  // The last next() ended at the end of the preface or of a frame.
  bool ended() const { return ended_; }

 private:
  static constexpr std::size_t kHeader = 9;
  void end_unit() {
    ended_ = true;
    in_preface_ = false;
    header_got_ = 0;
    length_ = 0;
  }

  std::size_t left_;  // bytes left of the preface or of the frame's payload
  bool in_preface_;
  std::size_t header_got_ = 0;  // header bytes seen of the frame (9: in its payload)
  std::size_t length_ = 0;      // the payload length, from the header's first three bytes
  bool ended_ = false;
};

}  // namespace ringproxy
