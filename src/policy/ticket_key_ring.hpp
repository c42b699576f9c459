// Session ticket keys in two generations: the current one seals new tickets, the previous one
// still opens tickets it sealed (they are then renewed); rotation by age, on an injected clock.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>

namespace ringproxy {

// One ticket key: its name (sent in the ticket) and its AES and HMAC secrets.
struct TicketKey {
  std::array<unsigned char, 16> name{};
  std::array<unsigned char, 32> aes{};
  std::array<unsigned char, 32> hmac{};
};

// The ring of ticket keys. Not thread-safe: its owner locks (net/tls_context.cpp).
class TicketKeyRing {
 public:
  using Clock = std::chrono::steady_clock;
  // Fills a key with fresh random bytes.
  using Random = std::function<void(TicketKey&)>;

  TicketKeyRing(Clock::duration rotate_every, Random random);

  // The key that seals new tickets at now: rotated first when the current one is older than
  // rotate_every (the current key becomes the previous one, the oldest is forgotten).
  const TicketKey& sealing_key(Clock::time_point now);
  // The key named name, if either generation has it; *renew is set when it is the previous
  // generation's (the ticket should be replaced by one under the current key).
  std::optional<TicketKey> find(const unsigned char* name, Clock::time_point now, bool* renew);
  // Rotates now (tests; an operator's action later).
  void rotate(Clock::time_point now);
  std::uint64_t rotations() const { return rotations_; }

 private:
  void rotate_if_due(Clock::time_point now);

  Clock::duration rotate_every_;
  Random random_;
  TicketKey current_;
  std::optional<TicketKey> previous_;
  std::optional<Clock::time_point> created_;  // of current_; empty until the first use
  std::uint64_t rotations_ = 0;
};

}  // namespace ringproxy
