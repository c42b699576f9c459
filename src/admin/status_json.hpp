// The JSON document of GET /status.
#pragma once

#include <string>

namespace ringproxy {

class Server;

// Generation, upstreams and per-backend state, read from the current snapshot.
std::string status_json(const Server& server);

}  // namespace ringproxy
