// Request ids for X-Request-Id: 128 random bits as 32 hex digits.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace ringproxy {

// Makes request ids from a seeded xoshiro256** stream; one per worker, not thread-safe.
class RequestIdGenerator {
 public:
  explicit RequestIdGenerator(std::uint64_t seed);

  // The next id; the view stays valid until the following call.
  std::string_view next();

 private:
  std::uint64_t next_word();
  std::array<std::uint64_t, 4> state_;
  std::array<char, 32> text_{};
};

}  // namespace ringproxy
