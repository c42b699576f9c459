// What the consistent-hash pickers know of a backend.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace ringproxy {

// A backend as a hash picker sees it: a stable identity (the address text such as
// "127.0.0.1:9001", or an operator-given id; never a position in the file) and a weight.
// Plain data; copy freely.
struct PickerBackend {
  std::string identity;
  unsigned weight = 1;  // 0 = never picked
};

}  // namespace ringproxy
