#ifndef CARCHECK_DETAIL_RECYCLED_ALLOCATOR_HPP
#define CARCHECK_DETAIL_RECYCLED_ALLOCATOR_HPP

// Memory the client frees and needs again once per request, kept per thread instead of
// going back to the heap: small blocks (header fields, map nodes, shared states) and the
// block buffer a file is read through. Blocks migrate freely between threads (a block freed
// on another thread joins that thread's cache); each cache is bounded and is released when
// its thread ends. Under AddressSanitizer the caches are off, so that a use-after-free is
// still caught.

#include <cstddef>
#include <new>
#include <utility>

#if defined(__SANITIZE_ADDRESS__)
#define CARCHECK_RECYCLE_BLOCKS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CARCHECK_RECYCLE_BLOCKS 0
#endif
#endif
#ifndef CARCHECK_RECYCLE_BLOCKS
#define CARCHECK_RECYCLE_BLOCKS 1
#endif

namespace carcheck::detail {

/// Whether a per-thread cache keeps blocks: not yet (nothing given back on this thread),
/// open, or closed because its thread is releasing its storage.
enum class cache_state : unsigned char { unused, open, closed };

/// Opens Cache's per-thread storage on the first block given back and calls Cache::drain()
/// when the thread ends; drain() closes the cache, so blocks freed afterwards (by a later
/// thread_local or static destructor, such as an io_context destroyed at exit) go to the heap.
template <class Cache>
class drained_at_thread_exit {
public:
    /// True when `state` is open now: the caller may keep the block.
    static bool keep(cache_state& state) noexcept
    {
        if (state == cache_state::closed)
            return false;
        static thread_local drainer registered; // its destructor runs at this thread's exit
        (void)registered;
        state = cache_state::open;
        return true;
    }

private:
    struct drainer {
        ~drainer() { Cache::drain(); }
    };
};

/// Freed blocks of up to max_block bytes, in size classes of `granule` bytes, at most
/// class_budget bytes of each class kept (2048 blocks of 64 bytes, 204 of 640: enough for
/// the fields and operation states of some hundred requests in flight, which are all freed
/// and made again as replies come in; an operation's state with its recognition is 528
/// bytes); larger blocks go to the heap directly.
class small_block_cache {
public:
    static constexpr std::size_t granule = 64;
    static constexpr std::size_t classes = 10;
    static constexpr std::size_t max_block = granule * classes;
    static constexpr std::size_t class_budget = 128 * 1024;
    /// How many freed blocks of class c (blocks of (c + 1) * granule bytes) are kept.
    static constexpr std::size_t kept(std::size_t c) noexcept { return class_budget / ((c + 1) * granule); }

    static void* take(std::size_t bytes)
    {
        if (!CARCHECK_RECYCLE_BLOCKS || bytes == 0 || bytes > max_block)
            return ::operator new(bytes);
        const std::size_t c = (bytes - 1) / granule;
        auto& l = lists;
        if (node* n = l.head[c]) {
            l.head[c] = n->next;
            --l.count[c];
            return n;
        }
        return ::operator new((c + 1) * granule);
    }

    static void give(void* p, std::size_t bytes) noexcept
    {
        if (!CARCHECK_RECYCLE_BLOCKS || bytes == 0 || bytes > max_block)
            return ::operator delete(p);
        const std::size_t c = (bytes - 1) / granule;
        auto& l = lists;
        if (l.state != cache_state::open && !drained_at_thread_exit<small_block_cache>::keep(l.state))
            return ::operator delete(p);
        if (l.count[c] >= kept(c))
            return ::operator delete(p);
        l.head[c] = ::new (p) node{l.head[c]};
        ++l.count[c];
    }

    /// Freed blocks of class c this thread holds now.
    static std::size_t cached(std::size_t c) noexcept { return lists.count[c]; }

private:
    struct node {
        node* next;
    };
    // Trivially destructible, so it stays usable until the thread's storage is gone.
    struct free_lists {
        node* head[classes];
        std::size_t count[classes];
        cache_state state;
    };

    friend class drained_at_thread_exit<small_block_cache>;
    static void drain() noexcept
    {
        lists.state = cache_state::closed;
        for (std::size_t c = 0; c < classes; ++c) {
            while (node* n = lists.head[c]) {
                lists.head[c] = n->next;
                ::operator delete(n);
            }
            lists.count[c] = 0;
        }
    }

    static inline thread_local constinit free_lists lists{};
};

/// A stateless allocator over small_block_cache: all instances are interchangeable.
template <class T>
class recycled_allocator {
public:
    using value_type = T;
    static_assert(alignof(T) <= __STDCPP_DEFAULT_NEW_ALIGNMENT__, "blocks have operator new's alignment");

    recycled_allocator() noexcept = default;
    template <class U>
    recycled_allocator(const recycled_allocator<U>&) noexcept
    {
    }

    T* allocate(std::size_t n)
    {
        if (n > static_cast<std::size_t>(-1) / sizeof(T))
            throw std::bad_array_new_length();
        return static_cast<T*>(small_block_cache::take(n * sizeof(T)));
    }

    void deallocate(T* p, std::size_t n) noexcept { small_block_cache::give(p, n * sizeof(T)); }

    template <class U>
    bool operator==(const recycled_allocator<U>&) const noexcept
    {
        return true;
    }
};

/// Freed file-read buffers of up to max_block bytes, at most `kept` of them per thread: a
/// small upload reads its file through one buffer and gives it back before the next one
/// starts, so one or two cover a thread's requests.
class block_buffer_cache {
public:
    static constexpr std::size_t max_block = 256 * 1024;
    static constexpr std::size_t kept = 2;

    /// A buffer of at least `bytes` bytes; `capacity` is set to its real size.
    static std::byte* take(std::size_t bytes, std::size_t& capacity)
    {
        if (CARCHECK_RECYCLE_BLOCKS && bytes <= max_block) {
            for (auto& e : slots.entry)
                if (e.block && e.capacity >= bytes) {
                    capacity = e.capacity;
                    return std::exchange(e.block, nullptr);
                }
        }
        capacity = bytes;
        return static_cast<std::byte*>(::operator new(bytes));
    }

    static void give(std::byte* p, std::size_t capacity) noexcept
    {
        if (!p)
            return;
        auto& s = slots;
        if (CARCHECK_RECYCLE_BLOCKS && capacity <= max_block && (s.state == cache_state::open || drained_at_thread_exit<block_buffer_cache>::keep(s.state))) {
            slot* smallest = &s.entry[0];
            for (auto& e : s.entry) {
                if (!e.block) {
                    e = {p, capacity};
                    return;
                }
                if (e.capacity < smallest->capacity)
                    smallest = &e;
            }
            if (smallest->capacity < capacity) { // keep the larger: it serves more requests
                ::operator delete(smallest->block);
                *smallest = {p, capacity};
                return;
            }
        }
        ::operator delete(p);
    }

    /// Freed buffers this thread holds now.
    static std::size_t cached() noexcept
    {
        std::size_t n = 0;
        for (const auto& e : slots.entry)
            n += e.block != nullptr;
        return n;
    }

private:
    struct slot {
        std::byte* block;
        std::size_t capacity;
    };
    // Trivially destructible for the same reason as small_block_cache's lists.
    struct slot_array {
        slot entry[kept];
        cache_state state;
    };

    friend class drained_at_thread_exit<block_buffer_cache>;
    static void drain() noexcept
    {
        slots.state = cache_state::closed;
        for (auto& e : slots.entry)
            ::operator delete(std::exchange(e.block, nullptr));
    }

    static inline thread_local constinit slot_array slots{};
};

/// A buffer from block_buffer_cache, given back when destroyed.
class recycled_block {
public:
    recycled_block() = default;
    recycled_block(const recycled_block&) = delete;
    recycled_block& operator=(const recycled_block&) = delete;
    recycled_block(recycled_block&& o) noexcept
        : data_(std::exchange(o.data_, nullptr)), capacity_(std::exchange(o.capacity_, 0))
    {
    }
    recycled_block& operator=(recycled_block&& o) noexcept
    {
        if (this != &o) {
            reset();
            data_ = std::exchange(o.data_, nullptr);
            capacity_ = std::exchange(o.capacity_, 0);
        }
        return *this;
    }
    ~recycled_block() { reset(); }

    /// Makes the buffer at least `bytes` long (the contents are not kept).
    void reserve(std::size_t bytes)
    {
        if (data_ && capacity_ >= bytes)
            return;
        reset();
        data_ = block_buffer_cache::take(bytes, capacity_);
    }
    void reset() noexcept
    {
        block_buffer_cache::give(std::exchange(data_, nullptr), std::exchange(capacity_, 0));
    }

    std::byte* data() const noexcept { return data_; }
    std::size_t capacity() const noexcept { return capacity_; }
    explicit operator bool() const noexcept { return data_ != nullptr; }

private:
    std::byte* data_ = nullptr;
    std::size_t capacity_ = 0;
};

} // namespace carcheck::detail

#endif
