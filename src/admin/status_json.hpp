// The JSON document of GET /status.
#pragma once

#include <string>

namespace ringproxy {

class ProcessControl;

// Generation, upstreams and per-backend state, read from the current snapshot.
std::string status_json(const ProcessControl& server);

}  // namespace ringproxy
