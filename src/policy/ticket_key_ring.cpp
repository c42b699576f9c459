// Session ticket keys in two generations (see ticket_key_ring.hpp).
#include "policy/ticket_key_ring.hpp"

#include <algorithm>

namespace ringproxy {

TicketKeyRing::TicketKeyRing(Clock::duration rotate_every, Random random)
    : rotate_every_(rotate_every), random_(std::move(random)) {}

void TicketKeyRing::rotate(Clock::time_point now) {
  if (created_) previous_ = current_;
  random_(current_);
  created_ = now;
  ++rotations_;
}

void TicketKeyRing::rotate_if_due(Clock::time_point now) {
  if (!created_ || now - *created_ >= rotate_every_) rotate(now);
}

const TicketKey& TicketKeyRing::sealing_key(Clock::time_point now) {
  rotate_if_due(now);
  return current_;
}

std::optional<TicketKey> TicketKeyRing::find(const unsigned char* name, Clock::time_point now,
                                             bool* renew) {
  rotate_if_due(now);
  *renew = false;
  if (std::equal(current_.name.begin(), current_.name.end(), name)) return current_;
  if (previous_ && std::equal(previous_->name.begin(), previous_->name.end(), name)) {
    *renew = true;
    return previous_;
  }
  return std::nullopt;
}

}  // namespace ringproxy
