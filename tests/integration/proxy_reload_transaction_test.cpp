// Reload is a transaction (issue #17, point 7): everything a reload needs (the new access log
// file, added listeners, a moved admin listener) is made before anything is installed, so a
// reload refused at any step leaves the access log on its file, the listeners and the admin
// listener where they were, and holds on to nothing it made on the way.

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "proxy_fixture.hpp"

namespace ringproxy::test {
namespace {

// A socket the test binds and listens on at 127.0.0.1 (port 0, read back): while it lives,
// the proxy cannot bind its address.
class HeldPort {
 public:
  HeldPort() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
        ::listen(fd_, 8) == 0 && ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
      port_ = ntohs(addr.sin_port);
  }
  ~HeldPort() { ::close(fd_); }
  HeldPort(const HeldPort&) = delete;
  HeldPort& operator=(const HeldPort&) = delete;

  std::uint16_t port() const { return port_; }  // 0 when it could not be held
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
};

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// `text` with its one occurrence of `from` replaced by `to` (a test failure if it is absent).
std::string replaced(std::string text, std::string_view from, std::string_view to) {
  const auto at = text.find(from);
  EXPECT_NE(at, std::string::npos) << "no \"" << from << "\" in the config";
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

constexpr std::string_view kListen = "listen = [\"127.0.0.1:0\"]";
constexpr std::string_view kAdminListen = "listen = \"127.0.0.1:0\"";
constexpr std::string_view kAccessLogOff = "access_log = \"off\"";

class ReloadTransactionTest : public ProxyTest {
 protected:
  void SetUp() override {
    dir_ = make_temp_dir("ringproxy-reload");
    ASSERT_FALSE(dir_.empty());
  }
  void TearDown() override {
    ProxyTest::TearDown();
    remove_temp_dir(dir_);
  }

  // The fixture's config with [log] access_log = `path`.
  std::string config_logging_to(const std::filesystem::path& path) const {
    return replaced(build_config(ProxyOptions()), kAccessLogOff,
                    "access_log = \"" + path.string() + "\"");
  }

  // Starts the proxy on `toml`; use as ASSERT_TRUE(start_on(...)).
  bool start_on(const std::string& toml) {
    proxy_config_ = toml;
    proxy_ = ProxyProcess::start(kProxyBinary, proxy_config_);
    return proxy_ != nullptr && proxy_->port() != 0;
  }

  // Writes `toml` and asks for a reload with POST /reload on the admin listener.
  HttpResponse reload_with(const std::string& toml) {
    EXPECT_TRUE(proxy_->write_config(toml));
    HttpClient client;
    client.set_timeout(10s);
    if (!client.connect(proxy_->admin_port())) {
      HttpResponse r;
      r.error = client.last_error();
      return r;
    }
    return client.request("POST", "/reload");
  }

  // Waits until the access log file at `path` holds a line for request path `target`.
  bool logged(const std::filesystem::path& path, std::string_view target) {
    const std::string needle = "\"path\":\"" + std::string(target) + "\"";
    return wait_until([&] { return contains(read_file(path), needle); }, 5s);
  }

  std::filesystem::path dir_;
};

// The new access log file is opened by a reload before its listeners are bound; when a bind
// fails, the log must stay on the old file (before the fix it had already moved to the new one).
TEST_F(ReloadTransactionTest, AReloadRefusedByAListenerKeepsTheAccessLogOnItsFile) {
  start_origins(1);
  const auto file_a = dir_ / "a.log";
  const auto file_b = dir_ / "b.log";
  const std::string good = config_logging_to(file_a);
  ASSERT_TRUE(start_on(good));
  auto client = connect();
  ASSERT_TRUE(client);
  ASSERT_EQ(client->get("/before").status, 200);
  ASSERT_TRUE(logged(file_a, "/before"));

  HeldPort held;
  ASSERT_NE(held.port(), 0);
  std::string bad = replaced(good, "access_log = \"" + file_a.string() + "\"",
                             "access_log = \"" + file_b.string() + "\"");
  bad = replaced(bad, kListen, "listen = [\"127.0.0.1:0\", \"" + held.address() + "\"]");
  const auto r = reload_with(bad);
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_TRUE(contains(r.body, "cannot listen on " + held.address())) << r.body;

  EXPECT_EQ(client->get("/after").status, 200);
  auto fresh = connect();
  ASSERT_TRUE(fresh);
  EXPECT_EQ(fresh->get("/after-fresh").status, 200);
  EXPECT_TRUE(logged(file_a, "/after")) << "the refused reload moved the access log away from "
                                        << file_a << "; " << file_b << " holds:\n"
                                        << read_file(file_b);
  EXPECT_TRUE(logged(file_a, "/after-fresh"));
  EXPECT_TRUE(!std::filesystem::exists(file_b) || read_file(file_b).empty())
      << "the refused reload wrote to " << file_b << ":\n"
      << read_file(file_b);
}

// The other side of the transaction: a reload that commits moves the log to the new file.
TEST_F(ReloadTransactionTest, AReloadThatCommitsMovesTheAccessLogToTheNewFile) {
  start_origins(1);
  const auto file_a = dir_ / "a.log";
  const auto file_b = dir_ / "b.log";
  const std::string good = config_logging_to(file_a);
  ASSERT_TRUE(start_on(good));
  auto client = connect();
  ASSERT_TRUE(client);
  ASSERT_EQ(client->get("/before").status, 200);
  ASSERT_TRUE(logged(file_a, "/before"));

  const auto r = reload_with(replaced(good, "access_log = \"" + file_a.string() + "\"",
                                      "access_log = \"" + file_b.string() + "\""));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(client->get("/after").status, 200);
  EXPECT_TRUE(logged(file_b, "/after"));
  EXPECT_FALSE(contains(read_file(file_a), "/after")) << "written to the old file after the reload";
}

// A moved admin listener is bound before the access log is opened: when the open fails, the
// new admin socket is closed again and the old admin listener keeps answering.
TEST_F(ReloadTransactionTest, AReloadRefusedByTheAccessLogReleasesTheMovedAdminListener) {
  start_origins(1);
  const auto file_a = dir_ / "a.log";
  const std::string good = config_logging_to(file_a);
  ASSERT_TRUE(start_on(good));
  const std::uint16_t admin_port = proxy_->admin_port();
  const ReservedPort reserved;  // the proxy may bind it; nothing else can take it meanwhile
  const std::uint16_t new_admin = reserved.port();

  std::string bad = replaced(good, "access_log = \"" + file_a.string() + "\"",
                             "access_log = \"" + (dir_ / "missing" / "b.log").string() + "\"");
  bad = replaced(bad, kAdminListen, "listen = \"127.0.0.1:" + std::to_string(new_admin) + "\"");
  const auto r = reload_with(bad);
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_TRUE(contains(r.body, "cannot open access log")) << r.body;

  EXPECT_TRUE(wait_until([&] { return nothing_listens_on(new_admin); }, 3s))
      << "the refused reload still holds the new admin port " << new_admin;
  HttpClient old_admin;
  ASSERT_TRUE(old_admin.connect(admin_port));
  EXPECT_EQ(old_admin.get("/healthz").status, 200);
  EXPECT_EQ(proxy_->log_count("admin listening on 127.0.0.1:" + std::to_string(new_admin)), 0u)
      << "a refused reload announced an admin listener";
  auto client = connect();
  ASSERT_TRUE(client);
  EXPECT_EQ(client->get("/proxied").status, 200);
  EXPECT_TRUE(logged(file_a, "/proxied"));
}

// Listeners added by a reload that the admin bind then refuses are closed again, announced
// nowhere, and free for the next reload.
TEST_F(ReloadTransactionTest, AReloadRefusedByTheAdminListenerReleasesTheAddedListeners) {
  start_origins(1);
  ASSERT_TRUE(start_proxy());
  const std::string good = proxy_config_;
  const ReservedPort reserved;  // the proxy may bind it; nothing else can take it meanwhile
  const std::uint16_t added = reserved.port();
  const std::string added_address = "127.0.0.1:" + std::to_string(added);
  const std::string with_added =
      replaced(good, kListen, "listen = [\"127.0.0.1:0\", \"" + added_address + "\"]");

  HeldPort held;
  ASSERT_NE(held.port(), 0);
  const auto r =
      reload_with(replaced(with_added, kAdminListen, "listen = \"" + held.address() + "\""));
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_TRUE(contains(r.body, "admin.listen")) << r.body;
  EXPECT_TRUE(wait_until([&] { return nothing_listens_on(added); }, 3s))
      << "the refused reload still holds the added listener " << added_address;
  EXPECT_EQ(proxy_->log_count("listening on " + added_address), 0u)
      << "a refused reload announced a listener";

  const auto ok = reload_with(with_added);
  ASSERT_EQ(ok.status, 200) << ok.body;
  HttpClient on_added;
  ASSERT_TRUE(on_added.connect(added));
  EXPECT_EQ(on_added.get("/added").status, 200);
  EXPECT_EQ(proxy_->log_count("listening on " + added_address), 1u);
}

}  // namespace
}  // namespace ringproxy::test
