// The command line: --check on good and bad files, --version.

#include <gtest/gtest.h>

#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <fstream>
#include <string>

#include "proxy_fixture.hpp"

namespace ringproxy::test {
namespace {

// A config file in the temp directory, removed at the end of the test.
class TempConfig {
 public:
  explicit TempConfig(const std::string& text) {
    const char* dir = std::getenv("TMPDIR");
    path_ = std::string(dir && *dir ? dir : "/tmp") + "/ringproxy-cli-XXXXXX.toml";
    int fd = ::mkstemps(path_.data(), 5);
    if (fd >= 0) ::close(fd);
    std::ofstream(path_, std::ios::trunc) << text;
  }
  ~TempConfig() { ::unlink(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(CheckCli, ShippedConfigIsOk) {
  const std::string config = kSourceDir + "/conf/ringproxy.toml";
  auto result = ProxyProcess::run(kProxyBinary, {"--check", "--config", config});
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_TRUE(contains(result.output, config + ": ok")) << result.output;
}

TEST(CheckCli, ReadmeConfigExampleIsOk) {
  // The README's first toml block is what users copy: it must stay valid.
  std::ifstream readme(kSourceDir + "/README.md");
  ASSERT_TRUE(readme) << "README.md not found";
  std::string line, toml;
  bool inside = false;
  while (std::getline(readme, line)) {
    if (!inside && line == "```toml") {
      inside = true;
    } else if (inside && line.starts_with("```")) {
      break;
    } else if (inside) {
      toml += line + "\n";
    }
  }
  ASSERT_FALSE(toml.empty()) << "no ```toml block in README.md";
  TempConfig config(toml);
  auto result = ProxyProcess::run(kProxyBinary, {"--check", "--config", config.path()});
  EXPECT_EQ(result.exit_code, 0) << result.output;
}

TEST(CheckCli, EveryErrorIsReportedWithItsLine) {
  TempConfig config(R"([server]
listen = ["127.0.0.1:0"]
max_conections = 10

[[upstream]]
name = "app"
  [[upstream.backend]]
  address = "127.0.0.1"

[[upstream]]
name = "app"
  [[upstream.backend]]
  address = "127.0.0.1:9002"
)");
  auto result = ProxyProcess::run(kProxyBinary, {"--check", "--config", config.path()});
  EXPECT_EQ(result.exit_code, 1) << result.output;
  const std::string& out = result.output;
  EXPECT_TRUE(contains(out, config.path() + ":3:")) << out;
  EXPECT_TRUE(contains(out, "max_conections")) << out;
  EXPECT_TRUE(contains(out, config.path() + ":8:")) << out;
  EXPECT_TRUE(contains(out, "has no port")) << out;
  EXPECT_TRUE(contains(out, config.path() + ":11:")) << out;
  EXPECT_TRUE(contains(out, "duplicate")) << out;
  EXPECT_FALSE(contains(out, ": ok")) << out;
}

TEST(CheckCli, VersionIsPrinted) {
  auto result = ProxyProcess::run(kProxyBinary, {"--version"});
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_TRUE(result.output.starts_with("ringproxy ")) << result.output;
  bool has_digit = false;
  for (char c : result.output) has_digit |= std::isdigit(static_cast<unsigned char>(c)) != 0;
  EXPECT_TRUE(has_digit) << result.output;
}

// hash_key is parsed once, at load: a NAME the request path could never find is refused with
// its line, never turned into a silent fallback to the client address.
TEST(CheckCli, HashKeyNamesThatCanNeverMatchAreRefusedWithTheirLine) {
  TempConfig config(R"([server]
listen = ["127.0.0.1:0"]

[[upstream]]
name = "spaced"
hash_key = "query:user id"
  [[upstream.backend]]
  address = "127.0.0.1:9001"

[[upstream]]
name = "cookie"
hash_key = "cookie:a;b"
  [[upstream.backend]]
  address = "127.0.0.1:9001"

[[upstream]]
name = "fine"
hash_key = "query:user_id"
  [[upstream.backend]]
  address = "127.0.0.1:9001"
)");
  auto result = ProxyProcess::run(kProxyBinary, {"--check", "--config", config.path()});
  EXPECT_EQ(result.exit_code, 1) << result.output;
  const std::string& out = result.output;
  EXPECT_TRUE(contains(out, config.path() + ":6: upstream \"spaced\": hash_key:")) << out;
  EXPECT_TRUE(contains(out, "\"user id\"")) << out;
  EXPECT_TRUE(contains(out, config.path() + ":12: upstream \"cookie\": hash_key:")) << out;
  EXPECT_FALSE(contains(out, ":18:")) << out;
}

}  // namespace
}  // namespace ringproxy::test
