// One config generation, built whole before it is published: config, router, pickers.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "ringproxy/backend_picker.hpp"
#include "ringproxy/backend_state.hpp"
#include "ringproxy/config.hpp"
#include "ringproxy/config_loader.hpp"
#include "ringproxy/router.hpp"

namespace ringproxy {

// An upstream as the request path sees it.
struct UpstreamRuntime {
  const UpstreamConfig* config = nullptr;  // points into the owning Snapshot
  std::vector<std::shared_ptr<BackendState>> backends;
  std::unique_ptr<BackendPicker> picker;
};

class Snapshot;
// The outcome of building a snapshot: a snapshot when errors is empty.
struct SnapshotBuild {
  std::shared_ptr<const Snapshot> snapshot;
  std::vector<ConfigError> errors;
};

// Immutable after build; shared by all workers through shared_ptr (thread-safe to read).
class Snapshot {
 public:
  static SnapshotBuild build(Config config, std::uint64_t generation, BackendRegistry& registry);

  const Config& config() const { return config_; }
  const Router& router() const { return router_; }
  const std::vector<UpstreamRuntime>& upstreams() const { return upstreams_; }
  std::uint64_t generation() const { return generation_; }

 private:
  explicit Snapshot(Config config);
  Config config_;
  Router router_;
  std::vector<UpstreamRuntime> upstreams_;
  std::uint64_t generation_ = 0;
};

}  // namespace ringproxy
