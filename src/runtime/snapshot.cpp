#include "ringproxy/snapshot.hpp"

namespace ringproxy {

Snapshot::Snapshot(Config config) : config_(std::move(config)), router_(config_.routes) {}

SnapshotBuild Snapshot::build(Config config, std::uint64_t generation, BackendRegistry& registry) {
  SnapshotBuild out;
  std::shared_ptr<Snapshot> snap(new Snapshot(std::move(config)));
  snap->generation_ = generation;
  for (const auto& up : snap->config_.upstreams) {
    UpstreamRuntime rt;
    rt.config = &up;
    std::vector<unsigned> weights;
    for (const auto& b : up.backends) {
      std::string error;
      auto state = registry.acquire(b.address, &error);
      if (!state) {
        out.errors.push_back({snap->config_.path, b.line,
                              "upstream \"" + up.name + "\": backend address \"" +
                                  b.address.to_string() + "\": " + error});
        continue;
      }
      rt.backends.push_back(std::move(state));
      weights.push_back(b.weight);
    }
    rt.picker = std::make_unique<RoundRobinPicker>(weights);
    snap->upstreams_.push_back(std::move(rt));
  }
  if (out.errors.empty()) out.snapshot = std::move(snap);
  return out;
}

}  // namespace ringproxy
