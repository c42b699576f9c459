// The answer of GET /explain and of `ringproxy --check --explain`: where a key goes and why.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace ringproxy {

struct UpstreamRuntime;

// JSON (one line, no newline): the key's hash, its home backend, each backend the walk passed
// and the reason (UpstreamSelector::explain's verdicts), the backend chosen at now, and the
// whole order. key is the bytes the upstream's hash_key takes from a request (a header's
// value, a cookie's, the client address, ...). Round robin ignores the key: its walk starts
// at request number 0.
std::string explain_json(const UpstreamRuntime& up, std::string_view key,
                         std::chrono::steady_clock::time_point now);

// The value of the first `name` parameter of target's query, percent-decoded ('+' is a space);
// nullopt when it is absent or its encoding is malformed.
std::optional<std::string> query_parameter(std::string_view target, std::string_view name);

}  // namespace ringproxy
