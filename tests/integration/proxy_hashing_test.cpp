// Consistent hashing through the real server: stable mapping, spread, and failover that moves
// only the stopped backend's keys (and brings them back when it returns).

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>

#include "proxy_fixture.hpp"

namespace ringproxy::test {
namespace {

constexpr int kUsers = 200;

// Four origins behind one upstream hashed on a request header, for each algorithm.
class HashingTest : public ProxyTest, public ::testing::WithParamInterface<const char*> {
 protected:
  void SetUp() override { start_origins(4); }

  bool start(std::string_view hash_key) {
    return start_proxy(ProxyOptions().upstream("hash_key = \"" + std::string(hash_key) +
                                               "\"\nalgorithm = \"" + GetParam() + "\""));
  }

  // The origin name that answered each user, over one keep-alive connection; "" on failure.
  std::map<int, std::string> map_users(const HeaderList& extra = {}) {
    std::map<int, std::string> out;
    auto client = connect();
    if (!client) return out;
    for (int u = 0; u < kUsers; ++u) {
      HeaderList headers = extra;
      headers.emplace_back("X-User", "user-" + std::to_string(u));
      auto r = client->get("/u", headers);
      out[u] = r.status == 200 ? r.header("X-Origin") : "";
      if (!client->is_open()) client->connect(port());
    }
    return out;
  }
};

TEST_P(HashingTest, HeaderKeyMapsStablyAndSpreadsOverAllBackends) {
  ASSERT_TRUE(start("header:X-User"));
  const auto first = map_users();
  const auto second = map_users();
  EXPECT_EQ(first, second);
  std::map<std::string, int> share;
  for (const auto& [user, origin] : first) {
    ASSERT_FALSE(origin.empty()) << "user " << user;
    ++share[origin];
  }
  EXPECT_EQ(share.size(), 4u);
  for (const auto& [origin, n] : share) EXPECT_GE(n, kUsers / 4 / 3) << origin;
}

TEST_P(HashingTest, StoppedBackendsKeysAloneMoveAndComeBack) {
  ASSERT_TRUE(start("header:X-User"));
  const auto before = map_users();
  const std::string victim = origin(2).name();
  const std::uint16_t victim_port = origin(2).port();
  origin(2).stop();

  const auto during = map_users();
  int moved = 0;
  for (const auto& [user, was] : before) {
    ASSERT_FALSE(during.at(user).empty()) << "user " << user << " got no answer";
    if (was == victim) {
      EXPECT_NE(during.at(user), victim);
      ++moved;
    } else {
      EXPECT_EQ(during.at(user), was) << "user " << user << " moved off a live backend";
    }
  }
  EXPECT_GT(moved, 0);

  // The backend returns on the same address: its keys come back to it.
  OriginServer revived(OriginServer::Options{.name = victim, .port = victim_port});
  EXPECT_EQ(map_users(), before);
}

TEST_P(HashingTest, ClientIpKeyBelievesForwardedForOnlyFromTrustedProxies) {
  // Untrusted peer: X-Forwarded-For is ignored, every request is the same client.
  ASSERT_TRUE(start("client_ip"));
  std::set<std::string> seen;
  auto client = connect();
  ASSERT_TRUE(client);
  for (int i = 0; i < 40; ++i) {
    auto r = client->get("/c", {{"X-Forwarded-For", "10.0.0." + std::to_string(i)}});
    ASSERT_EQ(r.status, 200);
    seen.insert(r.header("X-Origin"));
  }
  EXPECT_EQ(seen.size(), 1u);
}

TEST_P(HashingTest, TrustedProxyForwardedForSpreadsClients) {
  ASSERT_TRUE(start_proxy(
      ProxyOptions()
          .server("trusted_proxies = [\"127.0.0.0/8\"]")
          .upstream(std::string("hash_key = \"client_ip\"\nalgorithm = \"") + GetParam() + "\"")));
  std::map<std::string, std::string> first;
  std::set<std::string> origins;
  auto client = connect();
  ASSERT_TRUE(client);
  for (int pass = 0; pass < 2; ++pass) {
    for (int i = 0; i < 60; ++i) {
      const std::string ip = "10.0.0." + std::to_string(i);
      // The client wrote a fake address on the left; the rightmost untrusted entry counts.
      auto r = client->get("/c", {{"X-Forwarded-For", "1.2.3.4, " + ip}});
      ASSERT_EQ(r.status, 200);
      if (pass == 0) {
        first[ip] = r.header("X-Origin");
        origins.insert(r.header("X-Origin"));
      } else {
        EXPECT_EQ(r.header("X-Origin"), first[ip]) << ip;
      }
    }
  }
  EXPECT_EQ(origins.size(), 4u);
}

TEST_P(HashingTest, RequestWithoutItsKeyHashesOnTheClientAddress) {
  ASSERT_TRUE(start("cookie:session"));
  std::set<std::string> seen;
  for (int i = 0; i < 20; ++i) {
    auto client = connect();
    ASSERT_TRUE(client);
    auto r = client->get("/no-cookie");
    ASSERT_EQ(r.status, 200);
    seen.insert(r.header("X-Origin"));
  }
  EXPECT_EQ(seen.size(), 1u);  // one client address, one backend
}

// SPEC: header:NAME uses all field lines of NAME, combined as RFC 9110 §5.3 combines them:
// "a" and "b" on two lines are the key "a, b", the same as one line "a, b"; a second line that
// differs makes a different key.
TEST_P(HashingTest, HeaderKeyCombinesAllFieldLines) {
  ASSERT_TRUE(start("header:X-User"));
  auto client = connect();
  ASSERT_TRUE(client);
  std::set<std::string> second_line_origins;
  for (int u = 0; u < 40; ++u) {
    const std::string first = "user-" + std::to_string(u);
    const std::string second = "team-" + std::to_string(u);
    auto one_line = client->get("/u", {{"X-User", first + ", " + second}});
    auto two_lines = client->get("/u", {{"X-User", first}, {"X-User", second}});
    ASSERT_EQ(one_line.status, 200);
    ASSERT_EQ(two_lines.status, 200);
    EXPECT_EQ(two_lines.header("X-Origin"), one_line.header("X-Origin")) << first;
    // The first line fixed, only the second varying: the keys still spread.
    auto varied = client->get("/u", {{"X-User", "user-0"}, {"X-User", second}});
    second_line_origins.insert(varied.header("X-Origin"));
  }
  EXPECT_GT(second_line_origins.size(), 1u) << "the second field line is ignored";
}
INSTANTIATE_TEST_SUITE_P(Algorithms, HashingTest, ::testing::Values("ring", "maglev"));

}  // namespace
}  // namespace ringproxy::test
