#include "runtime/small_alloc.hpp"

#include <pthread.h>
#include <sys/mman.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>

namespace ringproxy {

namespace {

// Size classes: 16-byte steps to 256, 32-byte steps to 512, 64-byte steps to 2048, 128-byte
// steps to 4096, 256-byte steps to 8192 (no class wastes more than 1/16 of a block past 256).
constexpr int kClasses = 80;
constexpr std::array<std::uint32_t, kClasses> kClassSize = [] {
  std::array<std::uint32_t, kClasses> sizes{};
  int i = 0;
  for (std::uint32_t s = 16; s <= 256; s += 16) sizes[i++] = s;
  for (std::uint32_t s = 288; s <= 512; s += 32) sizes[i++] = s;
  for (std::uint32_t s = 576; s <= 2048; s += 64) sizes[i++] = s;
  for (std::uint32_t s = 2176; s <= 4096; s += 128) sizes[i++] = s;
  for (std::uint32_t s = 4352; s <= 8192; s += 256) sizes[i++] = s;
  return sizes;
}();
static_assert(kClassSize[kClasses - 1] == SmallAlloc::kMaxSmall);
// The class of a size n (1..kMaxSmall), looked up at (n + 15) / 16.
constexpr std::array<std::uint8_t, SmallAlloc::kMaxSmall / 16 + 1> kClassOf = [] {
  std::array<std::uint8_t, SmallAlloc::kMaxSmall / 16 + 1> of{};
  int c = 0;
  for (std::size_t i = 1; i < of.size(); ++i) {
    while (kClassSize[c] < i * 16) ++c;
    of[i] = static_cast<std::uint8_t>(c);
  }
  return of;
}();
// A thread keeps up to kCacheLimit blocks of a class (about 32 KiB, at least 4 blocks), then
// hands half over.
constexpr std::array<std::uint32_t, kClasses> kCacheLimit = [] {
  std::array<std::uint32_t, kClasses> limits{};
  for (int c = 0; c < kClasses; ++c) limits[c] = std::clamp(32768u / kClassSize[c], 4u, 512u);
  return limits;
}();

// Spans of 64 KiB, each of one class, carved from one reserved range.
constexpr int kSpanShift = 16;
constexpr std::size_t kSpanSize = std::size_t{1} << kSpanShift;
constexpr std::size_t kRegionSize = std::size_t{16} << 30;
constexpr std::size_t kCommitStep = std::size_t{1} << 20;

struct Node {
  Node* next;
};

// The shared list of a class and the span it carves new blocks from. Blocks in use are the
// ones carved less the ones in lists (this one and the threads').
struct Central {
  std::mutex mutex;
  Node* head = nullptr;
  std::size_t listed = 0;  // blocks in head's list
  std::size_t carved = 0;
  char* bump = nullptr;
  char* bump_end = nullptr;
};

enum : std::uint8_t { kUnregistered = 0, kLive = 1, kDead = 2 };

// One thread's lists; constant-initialized, so a thread_local of it costs no guard.
struct ThreadCache {
  std::array<Node*, kClasses> head{};
  // Written by its thread only, read by bytes_in_use.
  std::array<std::atomic<std::uint32_t>, kClasses> count{};
  ThreadCache* prev = nullptr;
  ThreadCache* next = nullptr;
  std::uint8_t state = kUnregistered;
};

constinit thread_local ThreadCache t_cache;

std::atomic<char*> g_base{nullptr};
std::atomic<std::size_t> g_size{0};  // 0 until reserved: no pointer is then ours
std::array<Central, kClasses> g_central;
std::mutex g_region_mutex;
std::size_t g_committed = 0;                           // under g_region_mutex
std::size_t g_used = 0;                                // under g_region_mutex
std::uint8_t g_span_class[kRegionSize >> kSpanShift];  // set before a span's blocks leave

std::mutex g_threads_mutex;
ThreadCache* g_threads = nullptr;  // under g_threads_mutex
pthread_key_t g_exit_key;

void add_count(ThreadCache& tc, int c, std::int64_t delta) {
  const auto count = static_cast<std::int64_t>(tc.count[c].load(std::memory_order_relaxed));
  tc.count[c].store(static_cast<std::uint32_t>(count + delta), std::memory_order_relaxed);
}

// Moves the first n blocks of a thread's class list to the shared list.
[[gnu::noinline]] void hand_over(ThreadCache& tc, int c, std::uint32_t n) {
  Node* first = tc.head[c];
  Node* last = first;
  for (std::uint32_t i = 1; i < n; ++i) last = last->next;
  tc.head[c] = last->next;
  std::lock_guard lock(g_central[c].mutex);
  add_count(tc, c, -static_cast<std::int64_t>(n));
  last->next = g_central[c].head;
  g_central[c].head = first;
  g_central[c].listed += n;
}

void thread_exit(void* arg) {
  auto& tc = *static_cast<ThreadCache*>(arg);
  std::lock_guard lock(g_threads_mutex);
  for (int c = 0; c < kClasses; ++c) {
    const std::uint32_t n = tc.count[c].load(std::memory_order_relaxed);
    if (n > 0) hand_over(tc, c, n);
  }
  (tc.prev != nullptr ? tc.prev->next : g_threads) = tc.next;
  if (tc.next != nullptr) tc.next->prev = tc.prev;
  tc.state = kDead;  // its later releases go to the shared lists
}

void register_thread(ThreadCache& tc) {
  std::lock_guard lock(g_threads_mutex);
  tc.next = g_threads;
  if (g_threads != nullptr) g_threads->prev = &tc;
  g_threads = &tc;
  tc.state = kLive;
  pthread_setspecific(g_exit_key, &tc);
}

// A new span for class c, or nullptr when the range is used up or cannot be committed.
char* new_span(int c) {
  std::lock_guard lock(g_region_mutex);
  char* base = g_base.load(std::memory_order_relaxed);
  if (g_used + kSpanSize > kRegionSize) return nullptr;
  if (g_used + kSpanSize > g_committed) {
    if (mprotect(base + g_committed, kCommitStep, PROT_READ | PROT_WRITE) != 0) return nullptr;
    g_committed += kCommitStep;
  }
  char* span = base + g_used;
  g_span_class[g_used >> kSpanShift] = static_cast<std::uint8_t>(c);
  g_used += kSpanSize;
  return span;
}

// Up to n blocks of class c from the shared list or new spans, as a list; sets *got.
Node* take_from_central(int c, std::uint32_t n, std::uint32_t* got) {
  Central& central = g_central[c];
  const std::size_t size = kClassSize[c];
  std::lock_guard lock(central.mutex);
  Node* first = nullptr;
  std::uint32_t i = 0;
  while (i < n && central.head != nullptr) {
    Node* node = central.head;
    central.head = node->next;
    node->next = first;
    first = node;
    ++i;
  }
  central.listed -= i;
  while (i < n) {
    if (central.bump == central.bump_end) {
      central.bump = new_span(c);
      if (central.bump == nullptr) {
        central.bump_end = nullptr;
        break;
      }
      central.bump_end = central.bump + kSpanSize / size * size;
    }
    auto* node = reinterpret_cast<Node*>(central.bump);
    central.bump += size;
    ++central.carved;
    node->next = first;
    first = node;
    ++i;
  }
  *got = i;
  return first;
}

// allocate's way when the thread's list of class c is empty.
[[gnu::noinline]] void* allocate_slow(ThreadCache& tc, int c, std::size_t bytes) {
  if (g_size.load(std::memory_order_relaxed) == 0) return std::malloc(bytes);
  if (tc.state == kUnregistered) register_thread(tc);
  std::uint32_t got = 0;
  const std::uint32_t want = tc.state == kLive ? kCacheLimit[c] / 2 : 1;
  Node* list = take_from_central(c, want, &got);
  if (list == nullptr) return std::malloc(bytes);  // the range is full
  if (tc.state != kLive) return list;
  tc.head[c] = list->next;
  add_count(tc, c, got - 1);
  return list;
}

// release's way on a thread not registered yet or gone.
[[gnu::noinline]] void release_slow(ThreadCache& tc, int c, Node* node) {
  if (tc.state == kUnregistered) register_thread(tc);
  if (tc.state == kLive) {
    node->next = tc.head[c];
    tc.head[c] = node;
    add_count(tc, c, 1);
    return;
  }
  std::lock_guard lock(g_central[c].mutex);
  node->next = g_central[c].head;
  g_central[c].head = node;
  ++g_central[c].listed;
}

}  // namespace

bool SmallAlloc::reserve() {
  static const bool reserved = [] {
    if (pthread_key_create(&g_exit_key, thread_exit) != 0) return false;
    void* base =
        mmap(nullptr, kRegionSize, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED) return false;
    g_base.store(static_cast<char*>(base), std::memory_order_relaxed);
    g_size.store(kRegionSize, std::memory_order_release);
    return true;
  }();
  return reserved;
}

void* SmallAlloc::allocate(std::size_t bytes) {
  if (bytes - 1 >= kMaxSmall) return bytes == 0 ? nullptr : std::malloc(bytes);
  const int c = kClassOf[(bytes + 15) >> 4];
  ThreadCache& tc = t_cache;
  Node* node = tc.head[c];
  if (node == nullptr) return allocate_slow(tc, c, bytes);
  tc.head[c] = node->next;
  add_count(tc, c, -1);
  return node;
}

void SmallAlloc::release(void* block) {
  if (block == nullptr) return;  // OpenSSL's frees are often of nothing
  const auto offset = reinterpret_cast<std::uintptr_t>(block) -
                      reinterpret_cast<std::uintptr_t>(g_base.load(std::memory_order_relaxed));
  if (offset >= g_size.load(std::memory_order_relaxed)) {
    std::free(block);
    return;
  }
  const int c = g_span_class[offset >> kSpanShift];
  ThreadCache& tc = t_cache;
  auto* node = static_cast<Node*>(block);
  if (tc.state != kLive) {
    release_slow(tc, c, node);
    return;
  }
  node->next = tc.head[c];
  tc.head[c] = node;
  const std::uint32_t count = tc.count[c].load(std::memory_order_relaxed) + 1;
  tc.count[c].store(count, std::memory_order_relaxed);
  if (count > kCacheLimit[c]) hand_over(tc, c, kCacheLimit[c] / 2);
}

void* SmallAlloc::reallocate(void* block, std::size_t bytes) {
  if (block == nullptr) return allocate(bytes);
  if (bytes == 0) {
    release(block);
    return nullptr;
  }
  const std::size_t old = block_size(block);
  if (old == 0) return std::realloc(block, bytes);
  if (bytes <= old) return block;
  void* moved = allocate(bytes);
  if (moved == nullptr) return nullptr;
  std::memcpy(moved, block, old);
  release(block);
  return moved;
}

bool SmallAlloc::owns(const void* block) {
  return block_size(block) != 0;
}

std::size_t SmallAlloc::block_size(const void* block) {
  const auto offset = reinterpret_cast<std::uintptr_t>(block) -
                      reinterpret_cast<std::uintptr_t>(g_base.load(std::memory_order_relaxed));
  if (offset >= g_size.load(std::memory_order_relaxed)) return 0;
  return kClassSize[g_span_class[offset >> kSpanShift]];
}

std::size_t SmallAlloc::bytes_in_use() {
  std::lock_guard lock(g_threads_mutex);
  std::int64_t total = 0;
  for (int c = 0; c < kClasses; ++c) {
    std::lock_guard central(g_central[c].mutex);  // no hand-over meanwhile
    auto blocks = static_cast<std::int64_t>(g_central[c].carved - g_central[c].listed);
    for (const ThreadCache* tc = g_threads; tc != nullptr; tc = tc->next) {
      blocks -= tc->count[c].load(std::memory_order_relaxed);
    }
    total += blocks * kClassSize[c];
  }
  // Blocks a thread is taking from the shared list may be counted for a moment.
  return total > 0 ? static_cast<std::size_t>(total) : 0;
}

}  // namespace ringproxy
