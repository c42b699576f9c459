// The admin console: GET /explain against the request path and against --explain offline, the
// page itself, /status's history, and the page in headless Chromium (ConsoleBrowserTest).

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "proxy_fixture.hpp"

namespace ringproxy::test {
namespace {

// The string value of "field": "..." in a one-line JSON object ("" when absent or null).
std::string json_string(const std::string& json, std::string_view field) {
  const std::string needle = "\"" + std::string(field) + "\": \"";
  const auto at = json.find(needle);
  if (at == std::string::npos) return "";
  const auto begin = at + needle.size();
  return json.substr(begin, json.find('"', begin) - begin);
}

// The strings of the array "field": [...] (addresses: no quotes or brackets inside).
std::vector<std::string> json_strings(const std::string& json, std::string_view field) {
  const std::string needle = "\"" + std::string(field) + "\": [";
  const auto at = json.find(needle);
  std::vector<std::string> out;
  if (at == std::string::npos) return out;
  const auto end = json.find(']', at);
  for (auto q = json.find('"', at + needle.size()); q < end; q = json.find('"', q)) {
    const auto close = json.find('"', q + 1);
    out.push_back(json.substr(q + 1, close - q - 1));
    q = close + 1;
  }
  return out;
}

// Origins behind "app", hashed on X-User, with health checks every second and a breaker.
class ConsoleTest : public ProxyTest {
 protected:
  static constexpr std::string_view kSubtables =
      "  [upstream.health_check]\n  path = \"/healthz\"\n  interval = \"1s\"\n"
      "  timeout = \"1s\"\n  healthy_threshold = 1\n  unhealthy_threshold = 1\n"
      "  [upstream.circuit_breaker]\n  failure_threshold = 1\n  open_duration = \"60s\"\n";

  bool start_app(std::size_t origins) {
    start_origins(origins);
    std::vector<std::string> addresses;
    for (const auto& o : origins_) addresses.push_back(o->address());
    return start_proxy(ProxyOptions().only_tables(
        upstream_toml("app", addresses, "hash_key = \"header:X-User\"") + std::string(kSubtables)));
  }

  HttpResponse admin_get(const std::string& target) {
    HttpClient client;
    if (!client.connect(proxy_->admin_port())) return {};
    return client.get(target);
  }
  std::string explain(const std::string& key) {
    return admin_get("/explain?upstream=app&key=" + key).body;
  }
  // A key whose home backend is address (tries user-0, user-1, ...); "" when none is found.
  std::string key_homed_on(const std::string& address) {
    for (int i = 0; i < 500; ++i) {
      const std::string key = "user-" + std::to_string(i);
      if (json_string(explain(key), "home") == address) return key;
    }
    ADD_FAILURE() << "no key homes on " << address;
    return "";
  }
  // The address of the origin that answered a request as key.
  std::string served_by(const std::string& key) {
    auto client = connect();
    if (!client) return "";
    const std::string name = client->get("/who", {{"X-User", key}}).header("X-Origin");
    for (const auto& o : origins_) {
      if (o->name() == name) return o->address();
    }
    return "";
  }
  // `ringproxy --check --explain key --upstream app` on the running proxy's config file.
  ProxyProcess::RunResult offline_explain(const std::string& key) {
    return ProxyProcess::run(kProxyBinary, {"--check", "--explain", key, "--upstream", "app",
                                            "--config", proxy_->config_path()});
  }
};

TEST_F(ConsoleTest, ExplainNamesADownHomeAndTheReasonAndTheNextBackendRequestsGoTo) {
  ASSERT_TRUE(start_app(3));
  const std::string home = origin(0).address();
  const std::string key = key_homed_on(home);
  ASSERT_FALSE(key.empty());
  std::string e = explain(key);
  EXPECT_EQ(json_string(e, "chosen"), home) << e;
  EXPECT_TRUE(contains(e, "\"passed\": []")) << e;
  EXPECT_EQ(served_by(key), home);

  origin(0).set_health_status(503);
  const std::string passed = "{\"backend\": \"" + home + "\", \"reason\": \"down\"}";
  ASSERT_TRUE(wait_until([&] { return contains(e = explain(key), passed); }, 5s)) << e;
  const std::vector<std::string> order = json_strings(e, "order");
  ASSERT_EQ(order.size(), 3u) << e;
  EXPECT_EQ(json_string(e, "home"), home) << e;
  EXPECT_EQ(order[0], home) << e;
  EXPECT_EQ(json_string(e, "chosen"), order[1]) << "the next backend of the walk: " << e;
  EXPECT_TRUE(contains(e, "\"passed\": [" + passed + "]")) << e;
  EXPECT_EQ(json_string(e, "hash").size(), 16u) << e;
  EXPECT_EQ(served_by(key), order[1]) << "the request path went elsewhere than explained";

  // Offline, every backend is healthy: the same walk, the home chosen, the same order.
  const auto offline = offline_explain(key);
  ASSERT_EQ(offline.exit_code, 0) << offline.output;
  EXPECT_EQ(json_string(offline.output, "chosen"), home) << offline.output;
  EXPECT_EQ(json_strings(offline.output, "order"), order) << offline.output;
  EXPECT_EQ(json_string(offline.output, "hash"), json_string(e, "hash"));
}

TEST_F(ConsoleTest, OfflineExplainAgreesWithLiveOnTheSameConfig) {
  ASSERT_TRUE(start_app(4));
  for (const char* key : {"alice", "bob", "user-7", "a%20b", "10.1.2.3", "%C3%A9t%C3%A9"}) {
    const std::string live = explain(key);
    std::string decoded = key;  // --explain takes the raw bytes
    if (decoded == "a%20b") decoded = "a b";
    if (decoded == "%C3%A9t%C3%A9") decoded = "\xC3\xA9t\xC3\xA9";
    const auto offline = offline_explain(decoded);
    ASSERT_EQ(offline.exit_code, 0) << offline.output;
    EXPECT_EQ(offline.output, live) << "key " << key;
    if (decoded.find('\xC3') == std::string::npos) {  // a header value in plain ASCII
      EXPECT_EQ(served_by(decoded), json_string(live, "chosen")) << "key " << key;
    }
  }
  // Without --upstream: one line per upstream; a name not in the file is an error.
  const auto all = ProxyProcess::run(
      kProxyBinary, {"--check", "--explain", "alice", "--config", proxy_->config_path()});
  EXPECT_EQ(all.exit_code, 0);
  EXPECT_EQ(all.output, explain("alice"));
  const auto none = ProxyProcess::run(kProxyBinary, {"--check", "--explain", "alice", "--upstream",
                                                     "nope", "--config", proxy_->config_path()});
  EXPECT_EQ(none.exit_code, 1);
  EXPECT_TRUE(contains(none.output, "no upstream \"nope\"")) << none.output;
}

TEST_F(ConsoleTest, ExplainAnswersBadQueriesClearly) {
  ASSERT_TRUE(start_app(2));
  EXPECT_EQ(admin_get("/explain?upstream=app").status, 400);
  EXPECT_EQ(admin_get("/explain?upstream=app&key=%zz").status, 400);
  const auto missing = admin_get("/explain?upstream=nope&key=a");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.header("Content-Type"), "application/json");
  const auto plain = admin_get("/explain?key=a+b%2Fc");  // the first upstream by default
  EXPECT_EQ(plain.status, 200);
  EXPECT_EQ(json_string(plain.body, "key"), "a b/c") << plain.body;
  EXPECT_EQ(json_string(plain.body, "upstream"), "app") << plain.body;
  EXPECT_EQ(json_string(plain.body, "algorithm"), "ring") << plain.body;
}

TEST_F(ConsoleTest, PageIsOneSelfContainedDocument) {
  ASSERT_TRUE(start_app(1));
  const auto page = admin_get("/");
  ASSERT_EQ(page.status, 200);
  EXPECT_EQ(page.header("Content-Type"), "text/html; charset=utf-8");
  EXPECT_TRUE(contains(page.header("Content-Security-Policy"), "default-src 'none'"));
  EXPECT_TRUE(contains(page.header("Content-Security-Policy"), "connect-src 'self'"));
  EXPECT_TRUE(contains(page.body, "fetch('/status'"));
  for (const char* outside : {"<script src", "<link", "@import", "https:", "//cdn", "url("}) {
    EXPECT_FALSE(contains(page.body, outside)) << outside;
  }
  // The only http: text is the SVG namespace, which is a name, not a fetch.
  std::string rest = page.body;
  for (auto at = rest.find("http"); at != std::string::npos; at = rest.find("http", at + 4)) {
    EXPECT_EQ(rest.substr(at, 26), "http://www.w3.org/2000/svg");
  }
  EXPECT_EQ(admin_get("/?upstream=app&key=alice").status, 200);
}

TEST_F(ConsoleTest, StatusKeepsEachBackendsHistoryAndTheReloads) {
  ASSERT_TRUE(start_app(2));
  auto client = connect();
  ASSERT_TRUE(client);
  for (int i = 0; i < 30; ++i) ASSERT_EQ(client->get("/x", {{"X-User", "u"}}).status, 200);
  // The server samples each second: the traffic shows in some backend's history.
  std::string status;
  auto busy = [&] {
    status = admin_get("/status").body;
    for (auto at = status.find("\"requests_per_s\": ["); at != std::string::npos;
         at = status.find("\"requests_per_s\": [", at + 1)) {
      const auto end = status.find(']', at);
      const std::string values = status.substr(at + 19, end - at - 19);
      if (values.find_first_of("123456789") != std::string::npos) return true;
    }
    return false;
  };
  ASSERT_TRUE(wait_until(busy, 5s)) << status;
  for (const char* field : {"\"history\": {", "\"error_rate\": [", "\"in_flight\": [",
                            "\"rate_limited\": 0", "\"rate_limited_per_s\": [",
                            "\"health_checked\": true", "\"hash_key\": \"header:X-User\""}) {
    EXPECT_TRUE(contains(status, field)) << field << " in " << status;
  }
  HttpClient admin;
  ASSERT_TRUE(admin.connect(proxy_->admin_port()));
  EXPECT_EQ(admin.request("POST", "/reload").status, 200);
  ASSERT_TRUE(proxy_->write_config(proxy_config_ + "\n[bogus]\n"));
  EXPECT_EQ(admin.request("POST", "/reload").status, 400);
  status = admin_get("/status").body;
  const auto recent = status.find("\"recent\": [{\"at\": \"");
  ASSERT_NE(recent, std::string::npos) << status;
  const std::string reloads = status.substr(recent);
  EXPECT_LT(reloads.find("\"ok\": false, \"generation\": 2"),
            reloads.find("\"ok\": true, \"generation\": 2"))
      << "newest first: " << reloads;
  EXPECT_TRUE(contains(reloads, "bogus")) << reloads;
}

// ---------------------------------------------------------------------------------------------
// The page in a browser: headless Chromium from Debian, against the running proxy.

constexpr const char* kChromium = "/usr/bin/chromium";

class ConsoleBrowserTest : public ConsoleTest {
 protected:
  void TearDown() override {
    remove_temp_dir(profile_);
    ConsoleTest::TearDown();
  }
  // Chromium headless on url with args after a 10 s virtual-time budget (timers run, the
  // page's fetches are awaited); its stdout and stderr. Root needs --no-sandbox.
  ProxyProcess::RunResult chromium(const std::string& url, std::vector<std::string> args) {
    if (profile_.empty()) profile_ = make_temp_dir("ringproxy-chromium");
    std::vector<std::string> all = {"--headless",
                                    "--no-sandbox",
                                    "--disable-gpu",
                                    "--disable-dev-shm-usage",
                                    "--no-first-run",
                                    "--user-data-dir=" + profile_.string(),
                                    "--virtual-time-budget=10000",
                                    "--enable-logging=stderr",
                                    "--v=0",
                                    "--hide-scrollbars"};
    all.insert(all.end(), args.begin(), args.end());
    all.push_back(url);
    return ProxyProcess::run(kChromium, all, 60s);
  }
  // The page's own console messages (errors, CSP refusals) as Chromium logs them.
  static std::vector<std::string> console_lines(const std::string& output) {
    std::vector<std::string> out;
    for (auto at = output.find(":CONSOLE"); at != std::string::npos;
         at = output.find(":CONSOLE", at + 1)) {
      out.push_back(output.substr(at, output.find('\n', at) - at));
    }
    return out;
  }
  // Takes a screenshot of url at width x height into the build's artifacts folder.
  void screenshot(const std::string& url, const std::string& name, int width, int height) {
    const std::filesystem::path dir = RINGPROXY_ARTIFACT_DIR;
    std::filesystem::create_directories(dir);
    const std::filesystem::path file = dir / name;
    std::filesystem::remove(file);
    const auto run =
        chromium(url, {"--screenshot=" + file.string(),
                       "--window-size=" + std::to_string(width) + "," + std::to_string(height)});
    EXPECT_EQ(run.exit_code, 0) << run.output;
    std::ifstream png(file, std::ios::binary);
    char magic[8] = {};
    png.read(magic, 8);
    EXPECT_EQ(std::string(magic + 1, 3), "PNG") << "no screenshot at " << file;
    EXPECT_TRUE(console_lines(run.output).empty()) << run.output;
    std::cerr << "screenshot: " << file.string() << "\n";
  }

  std::filesystem::path profile_;
};

TEST_F(ConsoleBrowserTest, ShowsADownBackendAndAnOpenBreakerWithNoScriptErrors) {
  ASSERT_TRUE(std::filesystem::exists(kChromium)) << "scripts/deps installs chromium";
  ASSERT_TRUE(start_app(3));
  const std::string down = origin(0).address();
  const std::string tripped = origin(1).address();
  const std::string down_key = key_homed_on(down);
  const std::string tripped_key = key_homed_on(tripped);
  ASSERT_FALSE(down_key.empty() || tripped_key.empty());
  // One 500 opens origin 1's breaker (failure_threshold = 1) for 60 s.
  auto client = connect();
  ASSERT_TRUE(client);
  EXPECT_EQ(client->get("/sick?status=500", {{"X-User", tripped_key}}).status, 500);
  origin(0).set_health_status(503);
  std::string e;
  ASSERT_TRUE(wait_until([&] { return contains(e = explain(down_key), "\"down\""); }, 5s)) << e;
  ASSERT_TRUE(contains(explain(tripped_key), "\"breaker_open\""));

  const std::string url =
      "http://127.0.0.1:" + std::to_string(proxy_->admin_port()) + "/?upstream=app&key=" + down_key;
  const auto run = chromium(url, {"--dump-dom", "--window-size=1280,900"});
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const std::string& dom = run.output;
  EXPECT_TRUE(contains(dom, "data-ready=\"1\"")) << dom;
  EXPECT_FALSE(contains(dom, "data-js-errors")) << dom;
  EXPECT_TRUE(contains(dom, "<pre id=\"errors\" class=\"error\"></pre>")) << dom;
  EXPECT_TRUE(console_lines(dom).empty()) << "console messages:\n" << dom;
  // The rows as the script rendered them from /status.
  EXPECT_TRUE(contains(dom, "data-backend=\"" + down + "\" data-health=\"down\"")) << dom;
  EXPECT_TRUE(contains(dom, "data-backend=\"" + tripped +
                                "\" data-health=\"up\" "
                                "data-breaker=\"open\""))
      << dom;
  EXPECT_TRUE(contains(dom, "half-open in ")) << dom;
  EXPECT_TRUE(contains(dom, "<svg class=\"spark\"")) << dom;
  // The explain box, opened on the down key: its home passed as down, the next one chosen.
  EXPECT_TRUE(contains(dom, "<li data-backend=\"" + down + "\" data-reason=\"down\">")) << dom;
  EXPECT_TRUE(contains(dom, "data-chosen=\"" + json_string(e, "chosen") + "\"")) << dom;
  // A narrow window (a phone): nothing wider than the window.
  const auto narrow = chromium(url, {"--dump-dom", "--window-size=390,844"});
  EXPECT_TRUE(contains(narrow.output, "data-overflow=\"false\"")) << narrow.output;
  EXPECT_TRUE(console_lines(narrow.output).empty()) << narrow.output;
  screenshot(url, "console.png", 1100, 760);
  screenshot(url, "console-narrow.png", 390, 844);
}

}  // namespace
}  // namespace ringproxy::test
