#ifndef CARCHECK_DETAIL_RECYCLED_FIELDS_HPP
#define CARCHECK_DETAIL_RECYCLED_FIELDS_HPP

// The header fields of the client's requests and replies, in memory that is recycled.
//
// Beast's basic_fields allocates every field (and a request's target) on its own; a request
// and its reply carry some fifteen, built and freed once per request. recycled_allocator
// hands out small blocks from a per-thread cache of freed ones instead, so that in a steady
// state they cost no call to the heap. Blocks migrate freely between threads (a block freed
// on another thread joins that thread's cache); each cache is bounded and is released when
// its thread ends. Under AddressSanitizer the cache is off, so that use-after-free of a
// field is still caught.

#include <carcheck/config.hpp>

#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include <cstddef>
#include <new>

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

namespace carcheck {
struct rate_limit_info; // <carcheck/rate_limit.hpp> (its implementation includes this header)
} // namespace carcheck

namespace carcheck::detail {

/// Freed blocks of up to max_block bytes, in size classes of `granule` bytes, at most
/// per_class of each kept; larger blocks go to the heap directly.
class small_block_cache {
public:
    static constexpr std::size_t granule = 64;
    static constexpr std::size_t classes = 8;
    static constexpr std::size_t max_block = granule * classes;
    static constexpr std::size_t per_class = 64;

    static void* take(std::size_t bytes)
    {
        if (!CARCHECK_RECYCLE_BLOCKS || bytes == 0 || bytes > max_block)
            return ::operator new(bytes);
        const std::size_t c = (bytes - 1) / granule;
        auto& l = lists();
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
        auto& l = lists();
        if (l.count[c] >= per_class)
            return ::operator delete(p);
        l.head[c] = ::new (p) node{l.head[c]};
        ++l.count[c];
    }

private:
    struct node {
        node* next;
    };
    struct free_lists {
        node* head[classes] = {};
        std::size_t count[classes] = {};
        free_lists() = default;
        free_lists(const free_lists&) = delete;
        free_lists& operator=(const free_lists&) = delete;
        ~free_lists()
        {
            for (node* n : head)
                while (n) {
                    node* next = n->next;
                    ::operator delete(n);
                    n = next;
                }
        }
    };

    static free_lists& lists() noexcept
    {
        static thread_local free_lists l;
        return l;
    }
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

namespace http = boost::beast::http;

/// Header fields of the client's requests and replies.
using client_fields = http::basic_fields<recycled_allocator<char>>;
/// A request as the client sends it.
template <class Body>
using client_request = http::request<Body, client_fields>;
/// A reply as the client reads it.
using client_response = http::response<http::string_body, client_fields>;
using client_response_parser = http::response_parser<http::string_body, recycled_allocator<char>>;

/// carcheck::parse_rate_limit for the client's own fields (in impl/rate_limit.ipp).
CARCHECK_DECL rate_limit_info parse_rate_limit(const client_fields& headers);

} // namespace carcheck::detail

#endif
