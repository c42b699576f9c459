#include "runtime/snapshot.hpp"

#include <gtest/gtest.h>

namespace ringproxy {
namespace {

BackendConfig backend(std::uint16_t port, unsigned weight, int line) {
  BackendConfig b;
  b.address = HostPort{"127.0.0.1", port};
  b.weight = weight;
  b.line = line;
  return b;
}

Config two_upstreams() {
  Config c;
  c.path = "test.toml";
  UpstreamConfig a;
  a.name = "a";
  a.backends.push_back(backend(9001, 1, 3));
  a.backends.push_back(backend(9002, 2, 5));
  UpstreamConfig b;
  b.name = "b";
  b.backends.push_back(backend(9002, 1, 9));
  c.upstreams = {a, b};
  return c;
}

TEST(Snapshot, BuildsPickersAndGivesEachUpstreamItsOwnBackendState) {
  BackendRegistry registry;
  auto built = Snapshot::build(two_upstreams(), 1, registry);
  ASSERT_TRUE(built.errors.empty());
  const auto& ups = built.snapshot->upstreams();
  ASSERT_EQ(ups.size(), 2u);
  EXPECT_EQ(ups[0].selector->picker().backend_count(), 2u);
  EXPECT_EQ(ups[0].config->name, "a");
  // SPEC: the same address in two upstreams is two backends: two states, two slots (pools).
  const BackendState& in_a = *ups[0].backends()[1];
  const BackendState& in_b = *ups[1].backends()[0];
  EXPECT_NE(&in_a, &in_b);
  EXPECT_NE(in_a.slot, in_b.slot);
  EXPECT_EQ(in_a.key, in_b.key);  // the same address, by the same name in /status and /metrics
  EXPECT_EQ(in_a.upstream, "a");
  EXPECT_EQ(in_b.upstream, "b");
  EXPECT_EQ(built.snapshot->generation(), 1u);
}

// Each upstream's breaker settings apply to its own state: tripping one leaves the other closed.
TEST(Snapshot, BreakerSettingsOfOneUpstreamDoNotReachTheOthersBackend) {
  BackendRegistry registry;
  Config c = two_upstreams();
  CircuitBreakerConfig touchy;
  touchy.failure_threshold = 1;
  CircuitBreakerConfig patient;
  patient.failure_threshold = 100;
  c.upstreams[0].circuit_breaker = touchy;
  c.upstreams[1].circuit_breaker = patient;
  auto built = Snapshot::build(std::move(c), 1, registry);
  ASSERT_TRUE(built.errors.empty());
  built.snapshot->apply_backend_settings();
  BackendState& in_a = *built.snapshot->upstreams()[0].backends()[1];
  BackendState& in_b = *built.snapshot->upstreams()[1].backends()[0];
  const auto now = std::chrono::steady_clock::now();
  in_a.breaker.on_failure(in_a.breaker.try_acquire(now), now);
  EXPECT_EQ(in_a.breaker.state(now), BreakerState::open);
  EXPECT_EQ(in_b.breaker.state(now), BreakerState::closed);
  EXPECT_TRUE(in_b.breaker.try_acquire(now));
}

// The same address and upstream across a rebuild is the same backend.
TEST(Snapshot, SameUpstreamAndAddressKeepTheirState) {
  BackendRegistry registry;
  auto first = Snapshot::build(two_upstreams(), 1, registry);
  auto second = Snapshot::build(two_upstreams(), 2, registry);
  EXPECT_EQ(first.snapshot->upstreams()[1].backends()[0].get(),
            second.snapshot->upstreams()[1].backends()[0].get());
}

TEST(Snapshot, StateSurvivesARebuildWhileStillUsed) {
  BackendRegistry registry;
  auto first = Snapshot::build(two_upstreams(), 1, registry);
  first.snapshot->upstreams()[0].backends()[0]->in_flight = 7;
  auto second = Snapshot::build(two_upstreams(), 2, registry);
  EXPECT_EQ(second.snapshot->upstreams()[0].backends()[0]->in_flight.load(), 7);
  EXPECT_EQ(second.snapshot->upstreams()[0].backends()[0]->slot,
            first.snapshot->upstreams()[0].backends()[0]->slot);
}

TEST(Snapshot, ForgottenBackendGetsFreshStateAndNewSlot) {
  BackendRegistry registry;
  std::uint32_t old_slot;
  {
    auto first = Snapshot::build(two_upstreams(), 1, registry);
    first.snapshot->upstreams()[0].backends()[0]->in_flight = 7;
    old_slot = first.snapshot->upstreams()[0].backends()[0]->slot;
  }
  auto second = Snapshot::build(two_upstreams(), 2, registry);
  EXPECT_EQ(second.snapshot->upstreams()[0].backends()[0]->in_flight.load(), 0);
  EXPECT_NE(second.snapshot->upstreams()[0].backends()[0]->slot, old_slot);
}

TEST(Snapshot, UnresolvableBackendIsAnErrorWithItsLine) {
  BackendRegistry registry;
  Config c = two_upstreams();
  c.upstreams[0].backends[0].address.host = "no-such-host.invalid";
  auto built = Snapshot::build(std::move(c), 1, registry);
  ASSERT_EQ(built.errors.size(), 1u);
  EXPECT_EQ(built.errors[0].line, 3);
  EXPECT_NE(built.errors[0].message.find("no-such-host.invalid"), std::string::npos);
  EXPECT_EQ(built.snapshot, nullptr);
}

}  // namespace
}  // namespace ringproxy
