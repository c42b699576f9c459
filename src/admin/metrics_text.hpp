// The Prometheus text exposition of GET /metrics.
#pragma once

#include <string>

namespace ringproxy {

class ProcessControl;

// Every ringproxy_* metric: per-worker counters summed, backend state from the snapshot.
std::string metrics_text(const ProcessControl& server);

}  // namespace ringproxy
