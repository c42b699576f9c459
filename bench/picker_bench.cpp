// Pick latency (key extraction included) and table build time of the consistent-hash pickers.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "policy/hash_key.hpp"
#include "policy/hash_ring.hpp"
#include "policy/maglev.hpp"

namespace ringproxy {
namespace {

std::vector<PickerBackend> make_backends(std::size_t n) {
  std::vector<PickerBackend> out;
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    out.push_back({"10." + std::to_string(i / 65536) + "." + std::to_string(i / 256 % 256) + "." +
                       std::to_string(i % 256) + ":8080",
                   1});
  }
  return out;
}

// 65536 distinct 15-byte user ids ("user-" and ten digits) in one block, written once: a
// request head is parsed before its key is hashed, so the bytes are plain memory by then.
constexpr std::size_t kUsers = 1 << 16;
constexpr std::size_t kIdSize = 15;
const std::vector<char>& user_ids() {
  static const std::vector<char> ids = [] {
    std::vector<char> out(kUsers * 16, '0');
    std::mt19937_64 rng(42);
    for (std::size_t i = 0; i < kUsers; ++i) {
      char* id = out.data() + i * 16;
      std::memcpy(id, "user-", 5);
      std::uint64_t n = rng() % 10'000'000'000ULL;
      for (std::size_t d = kIdSize; d-- > 5; n /= 10) id[d] = static_cast<char>('0' + n % 10);
    }
    return out;
  }();
  return ids;
}

std::string_view user_id(std::size_t i) {
  return {user_ids().data() + (i % kUsers) * 16, kIdSize};
}

// A new user on every request, so lookups land all over the table. Iterations are
// independent, so the CPU may overlap one pick's cache misses with the next (throughput).
template <class Picker>
void pick_with_header_key(benchmark::State& state) {
  const Picker picker(make_backends(static_cast<std::size_t>(state.range(0))));
  const auto spec = *HashKeySpec::parse("header:X-User");
  std::size_t i = 0;
  std::string_view value;
  auto header = [&](std::string_view) { return value; };
  auto always = [](std::size_t) { return true; };
  for (auto _ : state) {
    value = user_id(i++);
    KeySource source{"192.0.2.7", "/api/items?id=3", header};
    auto b = picker.pick(hash_request_key(spec, source), always, 2);
    benchmark::DoNotOptimize(b);
  }
}

// As above, but each request's user depends on the previous pick, so no two picks overlap:
// the full latency of one pick, cache misses and all.
template <class Picker>
void pick_latency_chain(benchmark::State& state) {
  const Picker picker(make_backends(static_cast<std::size_t>(state.range(0))));
  const auto spec = *HashKeySpec::parse("header:X-User");
  std::size_t i = 0;
  std::string_view value;
  auto header = [&](std::string_view) { return value; };
  auto always = [](std::size_t) { return true; };
  for (auto _ : state) {
    value = user_id(i);
    KeySource source{"192.0.2.7", "/api/items?id=3", header};
    const std::size_t b = *picker.pick(hash_request_key(spec, source), always, 2);
    i += 1 + (b >> 60);  // always + 1, but the next user's address waits for this pick
  }
  benchmark::DoNotOptimize(i);
}

template <class Picker>
void pick_only(benchmark::State& state) {
  const Picker picker(make_backends(static_cast<std::size_t>(state.range(0))));
  std::vector<std::uint64_t> keys;
  for (std::size_t u = 0; u < kUsers; ++u) keys.push_back(hash_key_bytes(user_id(u)));
  std::size_t i = 0;
  auto always = [](std::size_t) { return true; };
  for (auto _ : state) {
    auto b = picker.pick(keys[i++ & (keys.size() - 1)], always, 2);
    benchmark::DoNotOptimize(b);
  }
}

// The home backend is down: the pick walks on to the next candidate.
template <class Picker>
void pick_with_home_down(benchmark::State& state) {
  const Picker picker(make_backends(static_cast<std::size_t>(state.range(0))));
  std::vector<std::uint64_t> keys;
  for (std::size_t u = 0; u < kUsers; ++u) keys.push_back(hash_key_bytes(user_id(u)));
  std::vector<std::size_t> homes;
  for (auto k : keys) homes.push_back(*picker.home(k));
  std::size_t i = 0;
  for (auto _ : state) {
    const std::size_t j = i++ & (keys.size() - 1);
    const std::size_t down = homes[j];
    auto usable = [down](std::size_t b) { return b != down; };
    auto b = picker.pick(keys[j], usable, 3);
    benchmark::DoNotOptimize(b);
  }
}

template <class Picker>
void build(benchmark::State& state) {
  const auto backends = make_backends(static_cast<std::size_t>(state.range(0)));
  for (auto _ : state) {
    Picker picker(backends);
    benchmark::DoNotOptimize(picker.backend_count());
  }
}

void key_extraction(benchmark::State& state, const char* spec_text) {
  const auto spec = *HashKeySpec::parse(spec_text);
  auto header = [](std::string_view name) -> std::string_view {
    if (name == "Cookie") return "theme=dark; session=4f8a9c1e2b7d; lang=en";
    return "user-12345678";
  };
  KeySource source{"192.0.2.7", "/api/v1/items/42?page=3&user=u-8812&sort=asc", header};
  for (auto _ : state) {
    auto k = hash_request_key(spec, source);
    benchmark::DoNotOptimize(k);
  }
}

BENCHMARK(pick_with_header_key<HashRingPicker>)
    ->Name("ring/pick_header_key")
    ->Arg(3)
    ->Arg(100)
    ->Arg(1000);
BENCHMARK(pick_with_header_key<MaglevPicker>)
    ->Name("maglev/pick_header_key")
    ->Arg(3)
    ->Arg(100)
    ->Arg(1000);
BENCHMARK(pick_latency_chain<HashRingPicker>)
    ->Name("ring/pick_latency_chain")
    ->Arg(3)
    ->Arg(100)
    ->Arg(1000);
BENCHMARK(pick_latency_chain<MaglevPicker>)
    ->Name("maglev/pick_latency_chain")
    ->Arg(3)
    ->Arg(100)
    ->Arg(1000);
BENCHMARK(pick_only<HashRingPicker>)->Name("ring/pick_only")->Arg(3)->Arg(100)->Arg(1000);
BENCHMARK(pick_only<MaglevPicker>)->Name("maglev/pick_only")->Arg(3)->Arg(100)->Arg(1000);
BENCHMARK(pick_with_home_down<HashRingPicker>)
    ->Name("ring/pick_home_down")
    ->Arg(3)
    ->Arg(100)
    ->Arg(1000);
BENCHMARK(pick_with_home_down<MaglevPicker>)
    ->Name("maglev/pick_home_down")
    ->Arg(3)
    ->Arg(100)
    ->Arg(1000);
BENCHMARK(build<HashRingPicker>)
    ->Name("ring/build")
    ->Arg(3)
    ->Arg(100)
    ->Arg(1000)
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(build<MaglevPicker>)
    ->Name("maglev/build")
    ->Arg(3)
    ->Arg(100)
    ->Arg(1000)
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(key_extraction, client_ip, "client_ip");
BENCHMARK_CAPTURE(key_extraction, header, "header:X-User");
BENCHMARK_CAPTURE(key_extraction, cookie, "cookie:session");
BENCHMARK_CAPTURE(key_extraction, query, "query:user");
BENCHMARK_CAPTURE(key_extraction, path, "path");

}  // namespace
}  // namespace ringproxy

BENCHMARK_MAIN();
