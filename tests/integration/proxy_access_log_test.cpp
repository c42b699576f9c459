// The access log through the real proxy: one JSON object per request with every field's value
// checked after known requests; SIGUSR1 reopening for log rotation; "stdout" and "off"; lines
// still buffered at shutdown are written.

#include <gtest/gtest.h>
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "proxy_fixture.hpp"

namespace ringproxy::test {
namespace {

// One value of a flat JSON object: strings unescaped, other scalars as their literal text.
struct JsonValue {
  enum class Kind { string, number, boolean, null } kind = Kind::null;
  std::string text;
};

// One parsed access-log line: its keys in order and their values.
struct JsonObject {
  std::vector<std::string> keys;
  std::map<std::string, JsonValue> values;

  bool has(const std::string& key) const { return values.contains(key); }
  // The string value of `key` ("<missing>" / "<not a string>" otherwise).
  std::string str(const std::string& key) const {
    auto it = values.find(key);
    if (it == values.end()) return "<missing>";
    if (it->second.kind != JsonValue::Kind::string)
      return "<not a string: " + it->second.text + ">";
    return it->second.text;
  }
  // The numeric value of `key` (-1e18 when missing or not a number).
  double num(const std::string& key) const {
    auto it = values.find(key);
    if (it == values.end() || it->second.kind != JsonValue::Kind::number) return -1e18;
    return std::strtod(it->second.text.c_str(), nullptr);
  }
  long long integer(const std::string& key) const {
    auto it = values.find(key);
    if (it == values.end() || it->second.kind != JsonValue::Kind::number ||
        it->second.text.find_first_not_of("-0123456789") != std::string::npos)
      return -1000000;
    return std::stoll(it->second.text);
  }
  // "true" / "false", or "<missing>" / "<not a boolean>".
  std::string boolean(const std::string& key) const {
    auto it = values.find(key);
    if (it == values.end()) return "<missing>";
    if (it->second.kind != JsonValue::Kind::boolean) return "<not a boolean>";
    return it->second.text;
  }
};

// A strict parser for one flat JSON object (string, number, true/false/null values only).
class FlatJsonParser {
 public:
  explicit FlatJsonParser(std::string_view text) : s_(text) {}

  std::optional<JsonObject> parse() {
    JsonObject out;
    skip_ws();
    if (!eat('{')) return std::nullopt;
    skip_ws();
    if (eat('}')) return finish(out);
    for (;;) {
      skip_ws();
      auto key = string();
      if (!key || out.values.contains(*key)) return std::nullopt;
      skip_ws();
      if (!eat(':')) return std::nullopt;
      skip_ws();
      auto v = value();
      if (!v) return std::nullopt;
      out.keys.push_back(*key);
      out.values[*key] = *v;
      skip_ws();
      if (eat(',')) continue;
      if (eat('}')) return finish(out);
      return std::nullopt;
    }
  }

 private:
  std::optional<JsonObject> finish(JsonObject& out) {
    skip_ws();
    if (at_ != s_.size()) return std::nullopt;
    return out;
  }
  void skip_ws() {
    while (at_ < s_.size() && (s_[at_] == ' ' || s_[at_] == '\t')) ++at_;
  }
  bool eat(char c) {
    if (at_ < s_.size() && s_[at_] == c) {
      ++at_;
      return true;
    }
    return false;
  }
  std::optional<std::string> string() {
    if (!eat('"')) return std::nullopt;
    std::string out;
    while (at_ < s_.size()) {
      char c = s_[at_++];
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) return std::nullopt;
      if (c != '\\') {
        out.push_back(c);
        continue;
      }
      if (at_ >= s_.size()) return std::nullopt;
      char e = s_[at_++];
      switch (e) {
        case '"':
        case '\\':
        case '/':
          out.push_back(e);
          break;
        case 'b':
          out.push_back('\b');
          break;
        case 'f':
          out.push_back('\f');
          break;
        case 'n':
          out.push_back('\n');
          break;
        case 'r':
          out.push_back('\r');
          break;
        case 't':
          out.push_back('\t');
          break;
        case 'u': {
          if (at_ + 4 > s_.size()) return std::nullopt;
          const std::string hex(s_.substr(at_, 4));
          if (hex.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos)
            return std::nullopt;
          const long code = std::strtol(hex.c_str(), nullptr, 16);
          if (code >= 0x80) return std::nullopt;  // not needed by these tests
          out.push_back(static_cast<char>(code));
          at_ += 4;
          break;
        }
        default:
          return std::nullopt;
      }
    }
    return std::nullopt;
  }
  std::optional<JsonValue> value() {
    if (at_ >= s_.size()) return std::nullopt;
    if (s_[at_] == '"') {
      auto text = string();
      if (!text) return std::nullopt;
      return JsonValue{JsonValue::Kind::string, *text};
    }
    for (auto [word, kind] :
         {std::pair{"true", JsonValue::Kind::boolean}, std::pair{"false", JsonValue::Kind::boolean},
          std::pair{"null", JsonValue::Kind::null}}) {
      if (s_.substr(at_).starts_with(word)) {
        at_ += std::string_view(word).size();
        return JsonValue{kind, word};
      }
    }
    const std::size_t start = at_;
    while (at_ < s_.size() &&
           std::string_view("-+.eE0123456789").find(s_[at_]) != std::string_view::npos)
      ++at_;
    if (at_ == start) return std::nullopt;
    const std::string text(s_.substr(start, at_ - start));
    char* end = nullptr;
    std::strtod(text.c_str(), &end);
    if (end != text.c_str() + text.size()) return std::nullopt;
    return JsonValue{JsonValue::Kind::number, text};
  }

  std::string_view s_;
  std::size_t at_ = 0;
};

const std::vector<std::string> kFields = {
    "time",     "client",    "method",      "path",       "status",   "upstream", "backend",
    "bytes_in", "bytes_out", "duration_ms", "request_id", "attempts", "aborted",  "rate_limited"};

// The whole lines (ending in '\n') of the file at `path`; none when it does not exist.
std::vector<std::string> read_lines(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  std::vector<std::string> out;
  std::size_t at = 0;
  for (std::size_t end; (end = text.find('\n', at)) != std::string::npos; at = end + 1)
    out.push_back(text.substr(at, end - at));
  return out;
}

// The lines of `text` that look like access-log records (a JSON object with a "method" key).
std::vector<std::string> json_lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (line.starts_with("{") || contains(line, "\"method\":")) out.push_back(line);
  return out;
}

// Seconds between an ISO-8601 UTC stamp "YYYY-MM-DDTHH:MM:SS.mmmZ" and now; nullopt if the
// stamp is not of that form.
std::optional<double> seconds_from_now(const std::string& stamp) {
  int y, mo, d, h, mi, s, ms;
  char z = 0;
  if (stamp.size() != 24 ||
      std::sscanf(stamp.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d.%3d%c", &y, &mo, &d, &h, &mi, &s, &ms,
                  &z) != 8 ||
      z != 'Z')
    return std::nullopt;
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  const double then = static_cast<double>(::timegm(&tm)) + ms / 1000.0;
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  return now - then;
}

class AccessLogTest : public ProxyTest {
 protected:
  void SetUp() override {
    dir_ = make_temp_dir("ringproxy-access");
    ASSERT_FALSE(dir_.empty());
  }
  void TearDown() override {
    ProxyTest::TearDown();
    remove_temp_dir(dir_);
  }

  // Starts the proxy with `options` and [log] access_log = `target`.
  bool start_with_access_log(const ProxyOptions& options, const std::string& target) {
    proxy_config_ = build_config(options);
    const std::string from = "access_log = \"off\"";
    const auto at = proxy_config_.find(from);
    if (at == std::string::npos) {
      ADD_FAILURE() << "no access_log line in the fixture's config";
      return false;
    }
    proxy_config_.replace(at, from.size(), "access_log = \"" + target + "\"");
    proxy_ = ProxyProcess::start(kProxyBinary, proxy_config_);
    return proxy_ != nullptr && proxy_->port() != 0;
  }

  // Parses every line of the file, failing the test on a line that is not a record.
  std::vector<JsonObject> records(const std::filesystem::path& path) {
    std::vector<JsonObject> out;
    for (const auto& line : read_lines(path)) {
      auto obj = FlatJsonParser(line).parse();
      if (!obj) {
        ADD_FAILURE() << "not a flat JSON object: " << line;
        continue;
      }
      out.push_back(std::move(*obj));
    }
    return out;
  }

  // Waits until the file holds a record for each of `paths`; returns them by path.
  std::map<std::string, JsonObject> wait_for_records(const std::filesystem::path& path,
                                                     const std::vector<std::string>& paths,
                                                     std::chrono::milliseconds timeout = 5s) {
    std::map<std::string, JsonObject> by_path;
    wait_until(
        [&] {
          by_path.clear();
          for (auto& r : records(path)) by_path[r.str("path")] = r;
          for (const auto& p : paths)
            if (!by_path.contains(p)) return false;
          return true;
        },
        timeout);
    for (const auto& p : paths)
      EXPECT_TRUE(by_path.contains(p)) << "no access log line for " << p << " in " << path;
    return by_path;
  }

  std::filesystem::path dir_;
};

// Checks the fields every record has, whatever the request.
void expect_common_fields(const JsonObject& r) {
  EXPECT_EQ(r.keys, kFields) << "the keys, in order";
  const auto age = seconds_from_now(r.str("time"));
  ASSERT_TRUE(age.has_value()) << "time: " << r.str("time");
  EXPECT_GT(*age, -2.0) << "time in the future: " << r.str("time");
  EXPECT_LT(*age, 60.0) << "time too old: " << r.str("time");
  EXPECT_EQ(r.str("client"), "127.0.0.1");
  EXPECT_GE(r.num("duration_ms"), 0.0);
  EXPECT_LT(r.num("duration_ms"), 5000.0);
}

TEST_F(AccessLogTest, EveryFieldOfKnownRequestsIsRecorded) {
  OriginServer& live = add_origin("live");
  const ReservedPort dead_port;  // refuses connections for the whole test
  const std::string dead = dead_port.address();
  const std::string keyed = "hash_key = \"header:X-User\"\n";
  const std::string tables =
      upstream_toml("app", {live.address()}) +
      upstream_toml("noretry", {dead, live.address()}, keyed + "retries = 0\n") +
      upstream_toml("retry", {dead, live.address()}, keyed + "retries = 1\n") +
      "\n[[route]]\npath_prefix = \"/app\"\nupstream = \"app\"\n"
      "\n[[route]]\npath_prefix = \"/echo\"\nupstream = \"app\"\n"
      "\n[[route]]\npath_prefix = \"/limited\"\nupstream = \"app\"\n"
      "rate_limit = { rate = 0.1, burst = 1 }\n"
      "\n[[route]]\npath_prefix = \"/noretry\"\nupstream = \"noretry\"\n"
      "\n[[route]]\npath_prefix = \"/retry\"\nupstream = \"retry\"\n";
  const auto log_path = dir_ / "access.log";
  ASSERT_TRUE(
      start_with_access_log(ProxyOptions().workers(2).only_tables(tables), log_path.string()));
  auto client = connect();
  ASSERT_TRUE(client);

  // A GET with X-Request-Id, slowed by the origin.
  const std::string get_path = "/app/hello?delay_ms=120";
  auto get = client->get(get_path, {{"X-Request-Id", "req-get-1"}});
  ASSERT_EQ(get.status, 200);
  // A GET without one: the id the proxy made is the one logged.
  const std::string made_id_path = "/app/no-id";
  auto made_id = client->get(made_id_path);
  ASSERT_EQ(made_id.status, 200);
  const std::string made_id_value = live.last_request().header("X-Request-Id");
  EXPECT_FALSE(made_id_value.empty());
  // A POST with a body, echoed back.
  const std::string post_body = pattern_string(1234);
  auto post = client->request("POST", "/echo", {{"X-Request-Id", "req-post-1"}}, post_body);
  ASSERT_EQ(post.status, 200);
  ASSERT_EQ(post.body, post_body);
  // No route: 404.
  auto missing = client->get("/nowhere", {{"X-Request-Id", "req-404"}});
  ASSERT_EQ(missing.status, 404);
  // Over the limit: 200, then 429.
  auto allowed = client->get("/limited/a", {{"X-Request-Id", "req-lim-a"}});
  ASSERT_EQ(allowed.status, 200);
  auto limited = client->get("/limited/b", {{"X-Request-Id", "req-lim-b"}});
  ASSERT_EQ(limited.status, 429);

  // retries = 0: users homed on the dead backend get 502 after one attempt.
  std::vector<int> stranded, homed;
  std::map<std::string, int> noretry_status;
  std::map<std::string, std::size_t> noretry_bytes;
  for (int u = 0; u < 16; ++u) {
    const std::string p = "/noretry/" + std::to_string(u);
    auto r = client->get(p, {{"X-User", "user-" + std::to_string(u)}});
    noretry_status[p] = r.status;
    noretry_bytes[p] = r.body.size();
    ASSERT_TRUE(r.status == 200 || r.status == 502) << p << ": " << r.status << " " << r.error;
    auto& bucket = r.status == 502 ? stranded : homed;
    if (bucket.size() < 2) bucket.push_back(u);
    if (!client->is_open()) {
      ASSERT_TRUE(client->connect(port()));
    }
  }
  ASSERT_FALSE(stranded.empty()) << "no user is homed on the dead backend";
  ASSERT_FALSE(homed.empty()) << "no user is homed on the live backend";
  // retries = 1 (same backends, same ring): those users take a second attempt.
  std::map<std::string, int> retry_attempts;
  for (int u : stranded) retry_attempts["/retry/" + std::to_string(u)] = 2;
  for (int u : homed) retry_attempts["/retry/" + std::to_string(u)] = 1;
  std::map<std::string, std::size_t> retry_bytes;
  for (const auto& [p, attempts] : retry_attempts) {
    auto r = client->get(p, {{"X-User", "user-" + p.substr(p.rfind('/') + 1)}});
    ASSERT_EQ(r.status, 200) << p << ": " << r.error;
    retry_bytes[p] = r.body.size();
  }

  // A response the origin cuts off: aborted.
  const std::string cut_path = "/app/cut?bytes=200000&truncate=1";
  {
    HttpClient cut;
    cut.set_timeout(5s);
    ASSERT_TRUE(cut.connect(port()));
    auto r = cut.get(cut_path, {{"X-Request-Id", "req-cut"}});
    EXPECT_FALSE(r.error.empty()) << "the truncated response arrived whole";
  }

  std::vector<std::string> paths = {get_path,     made_id_path, "/echo", "/nowhere",
                                    "/limited/a", "/limited/b", cut_path};
  for (const auto& [p, s] : noretry_status) paths.push_back(p);
  for (const auto& [p, a] : retry_attempts) paths.push_back(p);
  auto by_path = wait_for_records(log_path, paths);
  ASSERT_EQ(by_path.size(), paths.size()) << "one line per request, no others";
  EXPECT_EQ(read_lines(log_path).size(), paths.size());
  for (const auto& [p, r] : by_path) {
    SCOPED_TRACE("line for " + p);
    expect_common_fields(r);
  }

  {
    SCOPED_TRACE("GET with X-Request-Id");
    const auto& r = by_path[get_path];
    EXPECT_EQ(r.str("method"), "GET");
    EXPECT_EQ(r.integer("status"), 200);
    EXPECT_EQ(r.str("upstream"), "app");
    EXPECT_EQ(r.str("backend"), live.address());
    EXPECT_EQ(r.integer("bytes_in"), 0);
    EXPECT_EQ(r.integer("bytes_out"), static_cast<long long>(get.body.size()));
    EXPECT_GE(r.num("duration_ms"), 120.0) << "the origin waited 120 ms";
    EXPECT_EQ(r.str("request_id"), "req-get-1");
    EXPECT_EQ(r.integer("attempts"), 1);
    EXPECT_EQ(r.boolean("aborted"), "false");
    EXPECT_EQ(r.boolean("rate_limited"), "false");
  }
  {
    SCOPED_TRACE("GET without X-Request-Id");
    const auto& r = by_path[made_id_path];
    EXPECT_EQ(r.integer("status"), 200);
    EXPECT_EQ(r.str("request_id"), made_id_value) << "not the id the backend was sent";
    EXPECT_EQ(r.integer("bytes_out"), static_cast<long long>(made_id.body.size()));
  }
  {
    SCOPED_TRACE("POST with a body");
    const auto& r = by_path["/echo"];
    EXPECT_EQ(r.str("method"), "POST");
    EXPECT_EQ(r.integer("status"), 200);
    EXPECT_EQ(r.str("upstream"), "app");
    EXPECT_EQ(r.str("backend"), live.address());
    EXPECT_EQ(r.integer("bytes_in"), 1234);
    EXPECT_EQ(r.integer("bytes_out"), 1234);
    EXPECT_EQ(r.str("request_id"), "req-post-1");
    EXPECT_EQ(r.integer("attempts"), 1);
    EXPECT_EQ(r.boolean("aborted"), "false");
    EXPECT_EQ(r.boolean("rate_limited"), "false");
  }
  {
    SCOPED_TRACE("404");
    const auto& r = by_path["/nowhere"];
    EXPECT_EQ(r.str("method"), "GET");
    EXPECT_EQ(r.integer("status"), 404);
    EXPECT_EQ(r.str("upstream"), "");
    EXPECT_EQ(r.str("backend"), "");
    EXPECT_EQ(r.integer("bytes_in"), 0);
    EXPECT_EQ(r.str("request_id"), "req-404");
    EXPECT_EQ(r.integer("attempts"), 0);
    EXPECT_EQ(r.boolean("aborted"), "false");
    EXPECT_EQ(r.boolean("rate_limited"), "false");
    EXPECT_EQ(r.integer("bytes_out"), static_cast<long long>(missing.body.size()))
        << "bytes_out of a proxy-made response: its body \"" << missing.body
        << "\" was written to the client";
  }
  {
    SCOPED_TRACE("under the limit");
    const auto& r = by_path["/limited/a"];
    EXPECT_EQ(r.integer("status"), 200);
    EXPECT_EQ(r.str("upstream"), "app");
    EXPECT_EQ(r.str("backend"), live.address());
    EXPECT_EQ(r.str("request_id"), "req-lim-a");
    EXPECT_EQ(r.boolean("rate_limited"), "false");
  }
  {
    SCOPED_TRACE("429");
    const auto& r = by_path["/limited/b"];
    EXPECT_EQ(r.integer("status"), 429);
    EXPECT_EQ(r.str("upstream"), "");
    EXPECT_EQ(r.str("backend"), "");
    EXPECT_EQ(r.str("request_id"), "req-lim-b");
    EXPECT_EQ(r.integer("attempts"), 0);
    EXPECT_EQ(r.boolean("aborted"), "false");
    EXPECT_EQ(r.boolean("rate_limited"), "true");
    EXPECT_EQ(r.integer("bytes_out"), static_cast<long long>(limited.body.size()))
        << "bytes_out of a proxy-made response: its body \"" << limited.body
        << "\" was written to the client";
  }
  for (const auto& [p, status] : noretry_status) {
    SCOPED_TRACE("retries = 0: " + p);
    const auto& r = by_path[p];
    EXPECT_EQ(r.integer("status"), status);
    EXPECT_EQ(r.str("upstream"), "noretry");
    EXPECT_EQ(r.str("backend"), status == 502 ? dead : live.address());
    EXPECT_EQ(r.integer("attempts"), 1);
    EXPECT_EQ(r.boolean("aborted"), "false");
    // (The 502s all share one cause: checked on the first stranded user only.)
    if (status == 200 || p == "/noretry/" + std::to_string(stranded.front())) {
      EXPECT_EQ(r.integer("bytes_out"), static_cast<long long>(noretry_bytes[p]))
          << "status " << status << ", body \"" << (status == 502 ? "502 Bad Gateway\\n" : "...")
          << "\" written to the client";
    }
  }
  for (const auto& [p, attempts] : retry_attempts) {
    SCOPED_TRACE("retries = 1: " + p);
    const auto& r = by_path[p];
    EXPECT_EQ(r.integer("status"), 200);
    EXPECT_EQ(r.str("upstream"), "retry");
    EXPECT_EQ(r.str("backend"), live.address()) << "the backend that answered";
    EXPECT_EQ(r.integer("attempts"), attempts);
    EXPECT_EQ(r.integer("bytes_out"), static_cast<long long>(retry_bytes[p]));
  }
  {
    SCOPED_TRACE("cut off by the origin");
    const auto& r = by_path[cut_path];
    EXPECT_EQ(r.integer("status"), 200);
    EXPECT_EQ(r.str("upstream"), "app");
    EXPECT_EQ(r.str("request_id"), "req-cut");
    EXPECT_EQ(r.boolean("aborted"), "true");
    EXPECT_LT(r.integer("bytes_out"), 200000);
  }
}

TEST_F(AccessLogTest, Sigusr1ReopensTheFileForLogRotation) {
  start_origins(1);
  const auto log_path = dir_ / "access.log";
  const auto rotated = dir_ / "access.log.1";
  ASSERT_TRUE(start_with_access_log(ProxyOptions().workers(2), log_path.string()));
  auto client = connect();
  ASSERT_TRUE(client);
  ASSERT_EQ(client->get("/before-rotation").status, 200);
  wait_for_records(log_path, {"/before-rotation"});
  ASSERT_EQ(read_lines(log_path).size(), 1u);

  std::filesystem::rename(log_path, rotated);
  // Lines written between the rename and the reopen still go to the renamed file.
  ASSERT_EQ(client->get("/between").status, 200);
  wait_for_records(rotated, {"/between"});
  EXPECT_FALSE(std::filesystem::exists(log_path)) << "written at the old path before SIGUSR1";

  proxy_->signal(SIGUSR1);
  ASSERT_TRUE(proxy_->wait_for_log("access log reopened", 5s));
  ASSERT_EQ(client->get("/after-rotation").status, 200);
  auto fresh = connect();  // a new connection, possibly on the other worker
  ASSERT_TRUE(fresh);
  ASSERT_EQ(fresh->get("/after-rotation-2").status, 200);
  auto after = wait_for_records(log_path, {"/after-rotation", "/after-rotation-2"});
  EXPECT_EQ(read_lines(log_path).size(), 2u) << "the new file holds only the new lines";
  for (const auto& [p, r] : after) expect_common_fields(r);

  // The rotated file kept its two lines and got no new ones.
  const auto old_lines = read_lines(rotated);
  EXPECT_EQ(old_lines.size(), 2u);
  for (const auto& line : old_lines) EXPECT_FALSE(contains(line, "after-rotation")) << line;
  EXPECT_TRUE(client->is_open()) << "SIGUSR1 closed a client connection";
}

TEST_F(AccessLogTest, StdoutTargetWritesRecordsToStdout) {
  start_origins(1);
  ASSERT_TRUE(start_with_access_log(ProxyOptions(), "stdout"));
  auto client = connect();
  ASSERT_TRUE(client);
  ASSERT_EQ(client->get("/to-stdout", {{"X-Request-Id", "req-stdout"}}).status, 200);
  ASSERT_TRUE(proxy_->wait_for_log("\"path\":\"/to-stdout\"", 5s));
  std::optional<JsonObject> record;
  for (const auto& line : json_lines(proxy_->log()))
    if (contains(line, "/to-stdout")) record = FlatJsonParser(line).parse();
  ASSERT_TRUE(record.has_value()) << proxy_->log();
  expect_common_fields(*record);
  EXPECT_EQ(record->str("request_id"), "req-stdout");
  EXPECT_EQ(record->integer("status"), 200);
  EXPECT_EQ(record->str("backend"), origin().address());
}

TEST_F(AccessLogTest, RefusedHeadsAreRecordedToo) {
  start_origins(1);
  const auto log_path = dir_ / "access.log";
  ASSERT_TRUE(start_with_access_log(ProxyOptions(), log_path.string()));
  RawSocket raw;
  ASSERT_TRUE(raw.connect(port()));
  ASSERT_TRUE(
      raw.send("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"));
  ASSERT_TRUE(raw.wait_closed(3s));
  ASSERT_TRUE(raw.received().starts_with("HTTP/1.1 400 ")) << raw.received();
  std::vector<JsonObject> got;
  ASSERT_TRUE(wait_until(
      [&] {
        got = records(log_path);
        return !got.empty();
      },
      5s));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].integer("status"), 400);
  EXPECT_EQ(got[0].str("path"), "");
  EXPECT_EQ(got[0].str("client"), "127.0.0.1");
}

TEST_F(AccessLogTest, OffWritesNothingAnywhere) {
  start_origins(1);
  ASSERT_TRUE(start_with_access_log(ProxyOptions(), "off"));
  auto client = connect();
  ASSERT_TRUE(client);
  for (int i = 0; i < 20; ++i) ASSERT_EQ(client->get("/quiet/" + std::to_string(i)).status, 200);
  // Shutdown flushes whatever is buffered: after the exit, nothing can still be on its way.
  client.reset();
  proxy_->signal(SIGTERM);
  ASSERT_EQ(proxy_->wait_exit(10s), 0);
  EXPECT_TRUE(json_lines(proxy_->log()).empty()) << proxy_->log();
  EXPECT_FALSE(contains(proxy_->log(), "/quiet/")) << proxy_->log();
  EXPECT_FALSE(std::filesystem::exists("off")) << "a file named \"off\" was created";
}

TEST_F(AccessLogTest, LinesStillBufferedAtShutdownAreWritten) {
  start_origins(1);
  const auto log_path = dir_ / "access.log";
  ASSERT_TRUE(start_with_access_log(ProxyOptions().workers(2), log_path.string()));
  {
    auto client = connect();
    ASSERT_TRUE(client);
    for (int i = 0; i < 5; ++i) ASSERT_EQ(client->get("/last/" + std::to_string(i)).status, 200);
  }
  // At once: well inside the 200 ms flush interval.
  proxy_->signal(SIGTERM);
  ASSERT_EQ(proxy_->wait_exit(10s), 0);
  const auto lines = records(log_path);
  EXPECT_EQ(lines.size(), 5u);
  for (const auto& r : lines) EXPECT_TRUE(r.str("path").starts_with("/last/")) << r.str("path");
}

}  // namespace
}  // namespace ringproxy::test
