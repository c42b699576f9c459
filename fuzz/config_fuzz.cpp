// libFuzzer target: the config loader on arbitrary text. It must answer a Config or errors
// that each say where (file:line), never crash, hang or leak.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "config/config_loader.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const ringproxy::ConfigLoadResult result = ringproxy::load_config_text(text, "fuzz.toml");
  if (!result.ok() && result.errors.empty()) std::abort();  // refused without saying why
  for (const auto& error : result.errors) {
    if (error.to_string().rfind("fuzz.toml", 0) != 0) std::abort();  // no file named
  }
  return 0;
}
