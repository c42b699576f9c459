// Health checks whose answers arrive just as their timeout expires: the probe's deadline
// handler must not outlive the probe (the fixture fails on AddressSanitizer's report).

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "proxy_fixture.hpp"

namespace ringproxy::test {
namespace {

class HealthCheckDeadlineTest : public ProxyTest {};

TEST_F(HealthCheckDeadlineTest, AnswersRacingTheTimeoutLeaveNothingBehind) {
  start_origins(6, 2);
  std::vector<std::string> addresses;
  for (const auto& o : origins_) addresses.push_back(o->address());
  // Each probe is answered after 95-100 ms of a 100 ms timeout: some answers and some
  // deadlines complete in the same turn of the control loop.
  std::string tables = upstream_toml("app", addresses);
  tables +=
      "  [upstream.health_check]\n  path = \"/slow?delay_ms=97\"\n  interval = \"100ms\"\n"
      "  timeout = \"100ms\"\n";
  ASSERT_TRUE(start_proxy(ProxyOptions().only_tables(tables)));
  const auto start = Clock::now();
  std::size_t seen = 0;
  ASSERT_TRUE(wait_until(
      [&] {
        seen = total_requests_seen();
        return seen >= 120 && ms_since(start) >= 2000;
      },
      20s))
      << seen << " probes";
  EXPECT_TRUE(proxy_->running()) << proxy_->log();
}

}  // namespace
}  // namespace ringproxy::test
