#include "policy/request_id.hpp"

#include <array>

namespace ringproxy {

namespace {

std::uint64_t splitmix64(std::uint64_t& x) {
  std::uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

std::uint64_t rotl(std::uint64_t x, int k) {
  return (x << k) | (x >> (64 - k));
}

}  // namespace

RequestIdGenerator::RequestIdGenerator(std::uint64_t seed) {
  for (auto& s : state_) s = splitmix64(seed);
}

std::uint64_t RequestIdGenerator::next_word() {
  const std::uint64_t result = rotl(state_[1] * 5, 7) * 9;
  const std::uint64_t t = state_[1] << 17;
  state_[2] ^= state_[0];
  state_[3] ^= state_[1];
  state_[1] ^= state_[2];
  state_[0] ^= state_[3];
  state_[2] ^= t;
  state_[3] = rotl(state_[3], 45);
  return result;
}

std::string_view RequestIdGenerator::next() {
  // Two hex digits per table entry: a byte at a time, low nibble first as before.
  static constexpr auto kPairs = [] {
    constexpr char kHex[] = "0123456789abcdef";
    std::array<char, 512> t{};
    for (std::size_t b = 0; b < 256; ++b) {
      t[2 * b] = kHex[b & 0xF];
      t[2 * b + 1] = kHex[b >> 4];
    }
    return t;
  }();
  char* out = text_.data();
  for (int w = 0; w < 2; ++w) {
    std::uint64_t v = next_word();
    for (int i = 0; i < 8; ++i) {
      const std::size_t b = v & 0xFF;
      *out++ = kPairs[2 * b];
      *out++ = kPairs[2 * b + 1];
      v >>= 8;
    }
  }
  return {text_.data(), text_.size()};
}

}  // namespace ringproxy
