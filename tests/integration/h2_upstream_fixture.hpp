// Shared pieces of the HTTP/2-backend and gRPC tests: Python origins as child processes, an
// upstream table with a protocol, and a byte-level client that reads until a text arrives.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "proxy_fixture.hpp"
#include "support/script_origin.hpp"

namespace ringproxy::test {

inline const std::string kOriginScript = kSourceDir + "/tests/integration/h2_origin.py";

// A client connection that sends bytes and reads until some text arrives (RawSocket reads
// only until close).
class Conversation {
 public:
  Conversation() = default;
  Conversation(const Conversation&) = delete;
  Conversation& operator=(const Conversation&) = delete;
  ~Conversation() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool connect(std::uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    return fd_ >= 0 && ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }
  bool send(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }
  // What arrived until `until` was among it (or the peer closed, or `t` passed).
  std::string read_until(std::string_view until, std::chrono::milliseconds t) {
    std::string got;
    const auto deadline = Clock::now() + t;
    while (got.find(until) == std::string::npos && Clock::now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      char buf[4096];
      const ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
      if (n <= 0) break;
      got.append(buf, static_cast<std::size_t>(n));
    }
    return got;
  }

 private:
  int fd_ = -1;
};

class H2UpstreamTest : public ProxyTest {
 protected:
  void TearDown() override {
    ProxyTest::TearDown();
    h2_origins_.clear();
    if (!dir_.empty()) remove_temp_dir(dir_);
  }

  // A Python h2 origin with these extra arguments; the test fails when it does not start.
  ScriptOrigin& start_h2_origin(std::vector<std::string> args = {},
                                const std::string& script = kOriginScript) {
    std::vector<std::string> argv{"/usr/bin/python3", script};
    argv.insert(argv.end(), args.begin(), args.end());
    h2_origins_.push_back(std::make_unique<ScriptOrigin>(argv));
    EXPECT_NE(h2_origins_.back()->port(), 0) << "the h2 origin did not start:\n"
                                             << h2_origins_.back()->output();
    return *h2_origins_.back();
  }

  // An upstream "app" speaking protocol to these addresses, with extra lines.
  static std::string h2_upstream(std::string_view protocol, const std::vector<std::string>& addrs,
                                 std::string_view extra = "") {
    std::string t = "\n[[upstream]]\nname = \"app\"\nprotocol = \"" + std::string(protocol) +
                    "\"\nretries = 1\n" + std::string(extra) + "\n";
    for (const auto& a : addrs) t += "  [[upstream.backend]]\n  address = \"" + a + "\"\n";
    return t;
  }

  bool start_h2_proxy(const std::string& tables, std::string_view server = "") {
    ProxyOptions o;
    o.only_tables(tables);
    if (!server.empty()) o.server(server);
    return start_proxy(o);
  }

  // The connections the (only) h2 origin has accepted so far, asked through the proxy: the
  // question rides a connection the proxy holds already.
  int origin_connections() {
    auto client = connect();
    if (!client) return -1;
    const std::string stats = client->get("/stats").body;
    const auto at = stats.find("connections=");
    return at == std::string::npos ? -1 : std::atoi(stats.c_str() + at + 12);
  }

  std::filesystem::path dir_;
  std::vector<std::unique_ptr<ScriptOrigin>> h2_origins_;
};

}  // namespace ringproxy::test
