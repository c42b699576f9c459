// /metrics as Prometheus itself reads it: promtool accepts the text, and a real Prometheus
// server scraping the admin endpoint answers a query for ringproxy_requests_total.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "proxy_fixture.hpp"

extern char** environ;

namespace ringproxy::test {
namespace {

bool have(const char* program) {
  const std::string cmd = std::string("command -v ") + program + " >/dev/null 2>&1";
  return std::system(cmd.c_str()) == 0;
}

// A child process killed and reaped when it goes out of scope.
class Child {
 public:
  explicit Child(std::vector<std::string> argv) {
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    if (posix_spawnp(&pid_, args[0], &actions, nullptr, args.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
  }
  ~Child() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  bool started() const { return pid_ > 0; }

 private:
  pid_t pid_ = -1;
};

class PrometheusTest : public ProxyTest {
 protected:
  void SetUp() override {
    if (!have("promtool") || !have("prometheus")) {
      GTEST_SKIP() << "promtool/prometheus not installed (scripts/deps installs them)";
    }
    start_origins(1);
    dir_ = make_temp_dir("ringproxy-prom");
    ASSERT_FALSE(dir_.empty());
  }
  void TearDown() override {
    ProxyTest::TearDown();
    std::error_code ignored;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ignored);
  }
  std::string admin_get(std::string_view target) {
    HttpClient c;
    if (!c.connect(proxy_->admin_port())) return {};
    return c.get(target).body;
  }
  std::filesystem::path dir_;
};

TEST_F(PrometheusTest, PromtoolAcceptsTheMetricsText) {
  ASSERT_TRUE(start_proxy());
  auto client = connect();
  ASSERT_TRUE(client);
  for (int i = 0; i < 5; ++i) ASSERT_EQ(client->get("/p").status, 200);
  const std::string text = admin_get("/metrics");
  ASSERT_FALSE(text.empty());
  const auto file = dir_ / "metrics.txt";
  std::ofstream(file) << text;
  const auto r = ProxyProcess::run("/bin/sh", {"-c", "promtool check metrics < " + file.string()});
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

TEST_F(PrometheusTest, ARealPrometheusScrapesRequestsTotal) {
  ASSERT_TRUE(start_proxy());
  auto client = connect();
  ASSERT_TRUE(client);
  for (int i = 0; i < 3; ++i) ASSERT_EQ(client->get("/p").status, 200);

  // Reserved for the test's life; Prometheus (a Go server: SO_REUSEADDR) may bind it.
  const ReservedPort reserved;
  const std::uint16_t prom_port = reserved.port();
  const auto config = dir_ / "prometheus.yml";
  std::ofstream(config) << "global:\n  scrape_interval: 1s\n"
                        << "scrape_configs:\n  - job_name: ringproxy\n"
                        << "    static_configs:\n      - targets: ['127.0.0.1:"
                        << proxy_->admin_port() << "']\n";
  Child prometheus({"prometheus", "--config.file=" + config.string(),
                    "--storage.tsdb.path=" + (dir_ / "data").string(),
                    "--web.listen-address=127.0.0.1:" + std::to_string(prom_port)});
  ASSERT_TRUE(prometheus.started());
  std::string last;
  const bool found = wait_until(
      [&] {
        HttpClient c;
        c.set_timeout(2s);
        if (!c.connect(prom_port)) return false;
        last = c.get("/api/v1/query?query=ringproxy_requests_total").body;
        return contains(last, "\"__name__\":\"ringproxy_requests_total\"") &&
               contains(last, "\"code\":\"200\"") && contains(last, "\"3\"]");
      },
      30s);
  EXPECT_TRUE(found) << last;
}

}  // namespace
}  // namespace ringproxy::test
