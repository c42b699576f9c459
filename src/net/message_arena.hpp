// Memory for the fields of one HTTP message: bump-allocated from 4 KiB blocks of a per-worker
// free list and given back all at once when the message is done, instead of one malloc and one
// free per header field.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <memory>
#include <new>
#include <vector>

namespace ringproxy {

// A worker's spare blocks of Size bytes, at most MaxSpare of them; used only on that worker's
// thread (not thread-safe), except spare_bytes(), which any thread may read.
template <std::size_t Size, std::size_t MaxSpare>
class BlockPool {
 public:
  static constexpr std::size_t kBlockSize = Size;
  static constexpr std::size_t kMaxSpare = MaxSpare;

  BlockPool() = default;
  BlockPool(const BlockPool&) = delete;
  BlockPool& operator=(const BlockPool&) = delete;

  // The same as raw memory, for allocators: a block of kBlockSize bytes.
  void* take_raw() { return take().release(); }
  void give_back_raw(void* block) {
    give_back(std::unique_ptr<std::byte[]>(static_cast<std::byte*>(block)));
  }

  std::unique_ptr<std::byte[]> take() {
    if (spare_.empty()) return std::unique_ptr<std::byte[]>(new std::byte[kBlockSize]);
    auto block = std::move(spare_.back());
    spare_.pop_back();
    spare_count_.store(spare_.size(), std::memory_order_relaxed);
    return block;
  }
  void give_back(std::unique_ptr<std::byte[]> block) {
    if (spare_.size() < kMaxSpare) {
      spare_.push_back(std::move(block));
      spare_count_.store(spare_.size(), std::memory_order_relaxed);
    }
  }

  // Bytes held for reuse now (a relaxed read: for /metrics).
  std::size_t spare_bytes() const {
    return spare_count_.load(std::memory_order_relaxed) * kBlockSize;
  }

 private:
  std::vector<std::unique_ptr<std::byte[]>> spare_;
  std::atomic<std::size_t> spare_count_{0};  // spare_.size(), for other threads
};

// Arena blocks and client read buffers: 256 KiB of spare blocks at most.
using ArenaBlockPool = BlockPool<4096, 64>;
// Backend connections' read buffers (a response head and the first body bytes), taken for an
// exchange and given back when the connection goes idle in the pool: 256 KiB spare at most.
using UpstreamBufferPool = BlockPool<16384, 16>;

// Bump allocation for one message at a time. Not thread-safe: one session owns it. reset()
// gives every block back (no object allocated from it may be used afterwards).
class MessageArena {
 public:
  explicit MessageArena(ArenaBlockPool& pool) : pool_(pool) {}
  MessageArena(const MessageArena&) = delete;
  MessageArena& operator=(const MessageArena&) = delete;
  ~MessageArena() { reset(); }

  void* allocate(std::size_t bytes, std::size_t align) {
    if (bytes > ArenaBlockPool::kBlockSize / 2) {  // a large field: its own allocation
      large_.push_back(std::unique_ptr<std::byte[]>(new std::byte[bytes]));
      return large_.back().get();
    }
    std::size_t at = (used_ + align - 1) & ~(align - 1);
    if (current_ == nullptr || at + bytes > ArenaBlockPool::kBlockSize) {
      current_ = take_block();
      at = 0;
    }
    used_ = at + bytes;
    return current_ + at;
  }

  void reset() {
    for (auto& block : first_) {
      if (block) pool_.give_back(std::move(block));
    }
    for (auto& block : more_) pool_.give_back(std::move(block));
    more_.clear();
    large_.clear();
    current_ = nullptr;
    used_ = 0;
  }

 private:
  // A block from the pool, kept until reset: in first_ while there is room (most messages need
  // one or two blocks, and so no list of their own), then in more_.
  std::byte* take_block() {
    for (auto& block : first_) {
      if (!block) {
        block = pool_.take();
        return block.get();
      }
    }
    more_.push_back(pool_.take());
    return more_.back().get();
  }

  ArenaBlockPool& pool_;
  std::array<std::unique_ptr<std::byte[]>, 2> first_;
  std::vector<std::unique_ptr<std::byte[]>> more_;
  std::vector<std::unique_ptr<std::byte[]>> large_;
  std::byte* current_ = nullptr;  // the block allocations come from
  std::size_t used_ = 0;          // bytes used in current_
};

// A standard allocator over a MessageArena: deallocate is a no-op until the arena resets.
template <class T>
class ArenaAllocator {
 public:
  using value_type = T;

  explicit ArenaAllocator(MessageArena& arena) noexcept : arena_(&arena) {}
  template <class U>
  ArenaAllocator(const ArenaAllocator<U>& other) noexcept : arena_(other.arena()) {}

  T* allocate(std::size_t n) {
    return static_cast<T*>(arena_->allocate(n * sizeof(T), alignof(T)));
  }
  void deallocate(T*, std::size_t) noexcept {}

  MessageArena* arena() const noexcept { return arena_; }
  template <class U>
  bool operator==(const ArenaAllocator<U>& other) const noexcept {
    return arena_ == other.arena();
  }

 private:
  MessageArena* arena_;
};

// A standard allocator that takes requests of exactly a block from a worker's block pool (a
// read buffer's usual size) and anything else from the heap.
template <class T, class Pool = ArenaBlockPool>
class BlockAllocator {
 public:
  using value_type = T;

  explicit BlockAllocator(Pool& pool) noexcept : pool_(&pool) {}
  template <class U>
  BlockAllocator(const BlockAllocator<U, Pool>& other) noexcept : pool_(other.pool()) {}

  T* allocate(std::size_t n) {
    if (n * sizeof(T) == Pool::kBlockSize) return static_cast<T*>(pool_->take_raw());
    return std::allocator<T>().allocate(n);
  }
  void deallocate(T* p, std::size_t n) noexcept {
    if (n * sizeof(T) == Pool::kBlockSize) {
      pool_->give_back_raw(p);
    } else {
      std::allocator<T>().deallocate(p, n);
    }
  }

  Pool* pool() const noexcept { return pool_; }
  template <class U>
  bool operator==(const BlockAllocator<U, Pool>& other) const noexcept {
    return pool_ == other.pool();
  }

 private:
  Pool* pool_;
};

}  // namespace ringproxy
