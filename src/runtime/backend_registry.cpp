#include <netdb.h>

#include <cstring>

#include "runtime/backend_state.hpp"

namespace ringproxy {

namespace {

bool resolve(const HostPort& address, BackendState& state, std::string* error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* result = nullptr;
  const std::string port = std::to_string(address.port);
  const int rc = ::getaddrinfo(address.host.c_str(), port.c_str(), &hints, &result);
  if (rc != 0 || result == nullptr) {
    if (error) *error = "cannot resolve \"" + address.host + "\": " + ::gai_strerror(rc);
    return false;
  }
  std::memcpy(&state.sockaddr, result->ai_addr, result->ai_addrlen);
  state.sockaddr_len = result->ai_addrlen;
  ::freeaddrinfo(result);
  return true;
}

}  // namespace

std::shared_ptr<BackendState> BackendRegistry::acquire(const std::string& upstream,
                                                       const HostPort& address,
                                                       std::string* error) {
  const std::string key = address.to_string();
  // NUL between them: TOML basic strings can hold it only escaped, and names are compared whole.
  std::string identity = upstream + '\0' + key;
  std::lock_guard lock(mutex_);
  if (auto it = by_identity_.find(identity); it != by_identity_.end()) {
    if (auto live = it->second.lock()) return live;
  }
  auto state = std::make_shared<BackendState>();
  state->address = address;
  state->key = key;
  state->upstream = upstream;
  state->identity = std::move(identity);
  if (!resolve(address, *state, error)) return nullptr;
  // Slots are never reused: a worker's pooled connections for a removed backend can
  // never be handed to a different one.
  state->slot = next_slot_++;
  // Forget the backend when the last snapshot lets go of it.
  std::shared_ptr<BackendState> handle(state.get(), [this, state](BackendState*) mutable {
    std::lock_guard lock(mutex_);
    if (auto it = by_identity_.find(state->identity);
        it != by_identity_.end() && it->second.expired()) {
      by_identity_.erase(it);
    }
    state.reset();
  });
  by_identity_[state->identity] = handle;
  return handle;
}

std::uint32_t BackendRegistry::upstream_id(const std::string& name) {
  std::lock_guard lock(mutex_);
  for (std::size_t i = 1; i < upstream_names_.size(); ++i) {
    if (upstream_names_[i] == name) return static_cast<std::uint32_t>(i);
  }
  upstream_names_.push_back(name);
  return static_cast<std::uint32_t>(upstream_names_.size() - 1);
}

std::vector<std::string> BackendRegistry::upstream_names() const {
  std::lock_guard lock(mutex_);
  return upstream_names_;
}

std::uint32_t BackendRegistry::slot_count() const {
  std::lock_guard lock(mutex_);
  return next_slot_;
}

}  // namespace ringproxy
