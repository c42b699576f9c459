// RateLimiter::take() on 1 and 2 threads with 1,000,000 tracked clients.
//
// The bucket tables of a million clients (~34 MB) do not fit in the CPU caches, so a take() of a
// client picked uniformly at random waits for one main-memory load; the Uniform runs measure
// that worst case. UniformPrefetched issues RateLimiter::prefetch() 16 takes ahead, as the proxy
// can when it learns the client key early (at accept, or when the head is parsed). Zipf draws
// clients with the skewed popularity of real traffic (a few clients send most requests).
// CachedClients takes from 4096 of the clients only: the cost of take() itself. NewClientAtMax
// adds a new client per take to a table held at max_clients. MemoryLoad is the floor under
// Uniform: one dependent load from a random line of 32 MB, with no take at all.
//
// The proxy does what UniformPrefetched does: it prefetches a client's bucket when it starts
// waiting for that client's next request head (ClientSession::prefetch_rate_limit), and takes
// once the head is parsed; with many connections per worker, other clients' takes run between.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "policy/rate_limiter.hpp"

namespace ringproxy {
namespace {

constexpr std::uint64_t kClients = 1'000'000;
constexpr std::int64_t kStart = 1'000'000'000'000;

RateLimitRule bench_rule() {
  RateLimitRule rule;
  rule.rate = 100.0;
  rule.burst = 200;
  rule.max_clients = kClients;
  return rule;
}

// A client address as the proxy keys it: "10.a.b.c". Returns its length.
std::size_t format_address(std::uint64_t i, char* out) {
  char* p = out;
  auto octet = [&p](unsigned v) {
    if (v >= 100) *p++ = static_cast<char>('0' + v / 100);
    if (v >= 10) *p++ = static_cast<char>('0' + v / 10 % 10);
    *p++ = static_cast<char>('0' + v % 10);
  };
  *p++ = '1';
  *p++ = '0';
  for (unsigned v : {static_cast<unsigned>(i >> 16) & 255, static_cast<unsigned>(i >> 8) & 255,
                     static_cast<unsigned>(i) & 255}) {
    *p++ = '.';
    octet(v);
  }
  return static_cast<std::size_t>(p - out);
}

// One limiter tracking all kClients (keyed both by number and by address), built once.
RateLimiter& numbers_limiter() {
  static RateLimiter* limiter = [] {
    auto* l = new RateLimiter(bench_rule(), {.shard_bits = 6, .seed = 0x5eed});
    for (std::uint64_t i = 0; i < kClients; ++i) l->take(i, kStart);
    return l;
  }();
  return *limiter;
}

RateLimiter& addresses_limiter() {
  static RateLimiter* limiter = [] {
    auto* l = new RateLimiter(bench_rule(), {.shard_bits = 6, .seed = 0x5eed});
    char text[16];
    for (std::uint64_t i = 0; i < kClients; ++i) {
      l->take(std::string_view(text, format_address(i, text)), kStart);
    }
    return l;
  }();
  return *limiter;
}

// xorshift64*: a cheap per-thread stream of client numbers, uniform in [0, kClients).
struct Uniform {
  std::uint64_t state;
  explicit Uniform(int thread) : state(0x9e3779b97f4a7c15ULL * (thread + 1)) {}
  std::uint64_t next() {
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    std::uint64_t r = state * 0x2545f4914f6cdd1dULL;
    return ((r >> 32) * kClients) >> 32;
  }
};

void BM_TakeUniform(benchmark::State& state) {
  RateLimiter& limiter = numbers_limiter();
  Uniform clients(state.thread_index());
  std::int64_t now = kStart + 1'000'000'000;
  std::uint64_t allowed = 0;
  for (auto _ : state) {
    now += 100;
    allowed += limiter.take(clients.next(), now).allowed;
  }
  benchmark::DoNotOptimize(allowed);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TakeUniform)->Threads(1)->Threads(2)->UseRealTime();

void BM_TakeUniformPrefetched(benchmark::State& state) {
  RateLimiter& limiter = numbers_limiter();
  Uniform clients(state.thread_index());
  constexpr std::size_t kAhead = 16;
  std::array<std::uint64_t, kAhead> upcoming;
  for (auto& key : upcoming) {
    key = clients.next();
    limiter.prefetch(key);
  }
  std::size_t at = 0;
  std::int64_t now = kStart + 1'000'000'000;
  std::uint64_t allowed = 0;
  for (auto _ : state) {
    now += 100;
    std::uint64_t key = upcoming[at];
    upcoming[at] = clients.next();
    limiter.prefetch(upcoming[at]);
    at = (at + 1) % kAhead;
    allowed += limiter.take(key, now).allowed;
  }
  benchmark::DoNotOptimize(allowed);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TakeUniformPrefetched)->Threads(1)->Threads(2)->UseRealTime();

// 4096 clients of the million, so that their buckets stay in the CPU caches: the cost of take()
// itself, without the wait for main memory.
void BM_TakeCachedClients(benchmark::State& state) {
  RateLimiter& limiter = numbers_limiter();
  Uniform clients(state.thread_index() + 3);
  std::int64_t now = kStart + 1'000'000'000;
  std::uint64_t allowed = 0;
  for (auto _ : state) {
    now += 100;
    allowed += limiter.take(clients.next() & 4095, now).allowed;
  }
  benchmark::DoNotOptimize(allowed);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TakeCachedClients)->Threads(1)->Threads(2)->UseRealTime();

// A chain of dependent loads through random 64-byte lines of a 32 MB block (the size of the
// million-client tables): what one main-memory access costs here, the floor of a cold take().
void BM_MemoryLoad(benchmark::State& state) {
  constexpr std::size_t kLines = (32u << 20) / 64;
  static const std::vector<std::uint64_t>* chain = [] {
    std::vector<std::uint32_t> order(kLines);
    for (std::uint32_t i = 0; i < kLines; ++i) order[i] = i;
    std::shuffle(order.begin(), order.end(), std::mt19937_64(11));
    auto* lines = new std::vector<std::uint64_t>(kLines * 8);
    for (std::size_t i = 0; i < kLines; ++i) {
      (*lines)[std::size_t{order[i]} * 8] = std::size_t{order[(i + 1) % kLines]} * 8;
    }
    return lines;
  }();
  std::uint64_t at = static_cast<std::uint64_t>(state.thread_index()) * 8 * 1021;
  for (auto _ : state) at = (*chain)[at];
  benchmark::DoNotOptimize(at);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_MemoryLoad)->Threads(1)->Threads(2)->UseRealTime();

// Client number i (0 = the busiest) drawn with probability proportional to 1 / (i + 1).
const std::vector<std::uint32_t>& zipf_draws() {
  static const std::vector<std::uint32_t> draws = [] {
    std::vector<double> cdf(kClients);
    double sum = 0;
    for (std::uint64_t i = 0; i < kClients; ++i) cdf[i] = sum += 1.0 / static_cast<double>(i + 1);
    std::mt19937_64 rng(7);
    std::uniform_real_distribution<double> u(0, sum);
    std::vector<std::uint32_t> out(1 << 22);
    for (auto& d : out) {
      d = static_cast<std::uint32_t>(std::lower_bound(cdf.begin(), cdf.end(), u(rng)) -
                                     cdf.begin());
    }
    return out;
  }();
  return draws;
}

void BM_TakeZipf(benchmark::State& state) {
  RateLimiter& limiter = numbers_limiter();
  const std::vector<std::uint32_t>& draws = zipf_draws();
  std::size_t at = static_cast<std::size_t>(state.thread_index()) * (draws.size() / 2);
  std::int64_t now = kStart + 1'000'000'000;
  std::uint64_t allowed = 0;
  for (auto _ : state) {
    now += 100;
    allowed += limiter.take(std::uint64_t{draws[at]}, now).allowed;
    at = (at + 1) & (draws.size() - 1);
  }
  benchmark::DoNotOptimize(allowed);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TakeZipf)->Threads(1)->Threads(2)->UseRealTime();

// The address string path: XXH3 of "10.a.b.c" included; uniform clients.
void BM_TakeAddressUniform(benchmark::State& state) {
  RateLimiter& limiter = addresses_limiter();
  Uniform clients(state.thread_index() + 7);
  std::int64_t now = kStart + 1'000'000'000;
  std::uint64_t allowed = 0;
  char text[16];
  for (auto _ : state) {
    now += 100;
    std::size_t n = format_address(clients.next(), text);
    allowed += limiter.take(std::string_view(text, n), now).allowed;
  }
  benchmark::DoNotOptimize(allowed);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TakeAddressUniform)->Threads(1)->Threads(2)->UseRealTime();

// Every take is a new client into a table held at max_clients, whose oldest bucket comes full
// again just as each next client arrives (the worst case for finding a full bucket to replace:
// one at a time, in any of the 64 shards).
void BM_TakeNewClientAtMax(benchmark::State& state) {
  static std::unique_ptr<RateLimiter> limiter;
  static std::atomic<std::uint64_t> next_key{0};
  constexpr std::int64_t kGap = 1000;  // 1us between new clients; a token takes 1s to return
  RateLimitRule rule = bench_rule();
  rule.rate = 1.0;
  rule.burst = 10;
  if (state.thread_index() == 0) {
    limiter = std::make_unique<RateLimiter>(rule);
    for (std::uint64_t i = 0; i < kClients; ++i) limiter->take(i, kStart + i * kGap);
    next_key = kClients;
  }
  for (auto _ : state) {
    std::uint64_t key = next_key.fetch_add(1, std::memory_order_relaxed);
    benchmark::DoNotOptimize(limiter->take(key, kStart + static_cast<std::int64_t>(key) * kGap));
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) {
    state.counters["evicted_full"] = static_cast<double>(limiter->stats().evicted_full);
    state.counters["evicted_active"] = static_cast<double>(limiter->stats().evicted_active);
  }
}
BENCHMARK(BM_TakeNewClientAtMax)->Threads(1)->UseRealTime()->Iterations(1'000'000);

}  // namespace
}  // namespace ringproxy

BENCHMARK_MAIN();
