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

TEST(Snapshot, BuildsPickersAndSharesBackendStateByAddress) {
  BackendRegistry registry;
  auto built = Snapshot::build(two_upstreams(), 1, registry);
  ASSERT_TRUE(built.errors.empty());
  const auto& ups = built.snapshot->upstreams();
  ASSERT_EQ(ups.size(), 2u);
  EXPECT_EQ(ups[0].selector->picker().backend_count(), 2u);
  EXPECT_EQ(ups[0].config->name, "a");
  // The same address in two upstreams is one backend with one state.
  EXPECT_EQ(ups[0].backends()[1].get(), ups[1].backends()[0].get());
  EXPECT_EQ(built.snapshot->generation(), 1u);
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
