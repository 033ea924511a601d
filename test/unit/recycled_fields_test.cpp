// detail::recycled_allocator, the memory of the client's header fields: a freed block is
// handed out again on the same thread instead of coming from the heap, blocks freed on
// another thread serve that thread, each size class keeps a bounded number, and Beast's
// fields work on it (insert, lookup, erase, copies, the rate-limit headers). The file
// buffers of detail::recycled_block: handed out again when large enough, at most two kept.
// Memory freed after a thread's caches were released (at thread or program exit) goes to the heap.
// Under AddressSanitizer the caches are off by design.
#include <carcheck/detail/recycled_fields.hpp>
#include <carcheck/rate_limit.hpp>

#include <boost/test/unit_test.hpp>

#include <algorithm>

#include <set>
#include <string>
#include <thread>
#include <vector>

using carcheck::detail::block_buffer_cache;
using carcheck::detail::client_fields;
using carcheck::detail::recycled_block;
using carcheck::detail::recycled_allocator;
using carcheck::detail::small_block_cache;
namespace http = boost::beast::http;

BOOST_AUTO_TEST_SUITE(recycled_fields_test)

BOOST_AUTO_TEST_CASE(a_freed_block_is_handed_out_again)
{
    recycled_allocator<char> a;
    // Blocks of the same size class (65..128 bytes) come back in last-freed-first order.
    std::vector<char*> blocks;
    for (int i = 0; i < 8; ++i)
        blocks.push_back(a.allocate(100));
    for (char* p : blocks)
        a.deallocate(p, 100);
    std::vector<char*> again;
    for (int i = 0; i < 8; ++i)
        again.push_back(a.allocate(70));
#if CARCHECK_RECYCLE_BLOCKS
    for (int i = 0; i < 8; ++i)
        BOOST_TEST(again[static_cast<std::size_t>(i)] == blocks[static_cast<std::size_t>(7 - i)]);
#endif
    for (char* p : again)
        a.deallocate(p, 70);
}

BOOST_AUTO_TEST_CASE(blocks_move_between_threads)
{
    recycled_allocator<char> a;
    std::vector<char*> made;
    std::thread t([&] {
        for (int i = 0; i < 16; ++i)
            made.push_back(a.allocate(40));
    });
    t.join(); // that thread's cache is gone; its blocks live on
    std::set<char*> freed(made.begin(), made.end());
    for (char* p : made)
        a.deallocate(p, 40); // into this thread's cache
    std::size_t reused = 0;
    std::vector<char*> again;
    for (int i = 0; i < 16; ++i) {
        again.push_back(a.allocate(40));
        reused += freed.count(again.back());
    }
#if CARCHECK_RECYCLE_BLOCKS
    BOOST_TEST(reused == 16u);
#endif
    for (char* p : again)
        a.deallocate(p, 40);
}

BOOST_AUTO_TEST_CASE(fields_work_on_it)
{
    client_fields f;
    f.set(http::field::host, "api.openalpr.com");
    f.insert("X-RateLimit-Limit", "100");
    f.insert("X-Ratelimit-Remaining", "99");
    f.insert(http::field::content_type, std::string(300, 'a')); // a block of another class
    client_fields copy = f;
    f.erase("x-ratelimit-limit");
    BOOST_TEST(f.count("X-RateLimit-Limit") == 0u);
    BOOST_TEST(copy["x-ratelimit-limit"] == "100");
    BOOST_TEST(copy[http::field::content_type].size() == 300u);
    BOOST_TEST(f["X-RATELIMIT-REMAINING"] == "99");
    const auto info = carcheck::detail::parse_rate_limit(copy);
    BOOST_TEST(info.limit.value_or(0) == 100);
    BOOST_TEST(info.remaining.value_or(0) == 99);
}

BOOST_AUTO_TEST_CASE(each_class_keeps_a_bounded_number)
{
    recycled_allocator<char> a;
    constexpr std::size_t bytes = 3 * small_block_cache::granule; // class 2
    const std::size_t kept = small_block_cache::kept(2);
    BOOST_TEST(kept == small_block_cache::class_budget / bytes);
    std::vector<char*> made;
    for (std::size_t i = 0; i < kept + 40; ++i)
        made.push_back(a.allocate(bytes));
    BOOST_TEST(small_block_cache::cached(2) == 0u); // all of this thread's were handed out
    for (char* p : made)
        a.deallocate(p, bytes);
#if CARCHECK_RECYCLE_BLOCKS
    BOOST_TEST(small_block_cache::cached(2) == kept); // the 40 beyond went back to the heap
#else
    BOOST_TEST(small_block_cache::cached(2) == 0u);
#endif
    std::vector<char*> again;
    for (std::size_t i = 0; i < kept; ++i)
        again.push_back(a.allocate(bytes));
    BOOST_TEST(small_block_cache::cached(2) == 0u);
    for (char* p : again)
        a.deallocate(p, bytes);
}

BOOST_AUTO_TEST_CASE(a_file_buffer_serves_the_next_upload)
{
    // Start from an empty cache (earlier tests of this thread may have left buffers in it).
    std::vector<recycled_block> earlier;
    while (block_buffer_cache::cached() != 0) {
        earlier.emplace_back();
        earlier.back().reserve(1);
    }
    [[maybe_unused]] std::byte* first = nullptr; // compared only where blocks are recycled
    {
        recycled_block b;
        b.reserve(30 * 1024 + 1);
        BOOST_TEST(b.capacity() >= 30 * 1024 + 1);
        first = b.data();
        b.data()[30 * 1024] = std::byte{1}; // the whole of it is usable
    }
    recycled_block smaller;
    smaller.reserve(8 * 1024);
    recycled_block larger;
    larger.reserve(64 * 1024 + 1);
    BOOST_TEST(larger.capacity() >= 64 * 1024 + 1);
#if CARCHECK_RECYCLE_BLOCKS
    BOOST_TEST((smaller.data() == first)); // large enough: handed out again
    BOOST_TEST(smaller.capacity() >= 30 * 1024 + 1);
    BOOST_TEST((larger.data() != first));
#endif
    smaller.reset();
    larger.reset();
    // At most `kept` are kept; more freed at once go to the heap.
    std::vector<recycled_block> many(block_buffer_cache::kept + 3);
    std::set<std::byte*> made;
    for (auto& b : many) {
        b.reserve(16 * 1024);
        made.insert(b.data());
    }
    BOOST_TEST(made.size() == many.size());
    BOOST_TEST(block_buffer_cache::cached() == 0u);
    many.clear();
#if CARCHECK_RECYCLE_BLOCKS
    BOOST_TEST(block_buffer_cache::cached() == block_buffer_cache::kept);
#endif
    std::vector<recycled_block> again(block_buffer_cache::kept);
    for (auto& b : again) {
        b.reserve(16 * 1024);
#if CARCHECK_RECYCLE_BLOCKS
        BOOST_TEST(made.count(b.data()) == 1u);
#endif
    }
    BOOST_TEST(block_buffer_cache::cached() == 0u);
    again.clear();
    // A buffer beyond max_block is never kept.
    const std::size_t before = block_buffer_cache::cached();
    recycled_block huge;
    huge.reserve(block_buffer_cache::max_block + 1);
    BOOST_TEST(huge.capacity() == block_buffer_cache::max_block + 1);
    huge.reset();
    BOOST_TEST(block_buffer_cache::cached() == before);
}

// Memory freed by a destructor that runs after the thread's caches are gone (a later
// thread_local, or a static such as an io_context destroyed at exit) goes to the heap: the
// caches are closed, never used again after they were released.
namespace {
struct kept_blocks {
    std::size_t small = 99;
    std::size_t buffers = 99;
};

// Frees one small block and one file-read buffer; how many of each the thread keeps then.
kept_blocks free_one_of_each()
{
    small_block_cache::give(small_block_cache::take(64), 64);
    const std::size_t small = small_block_cache::cached(0);
    recycled_block b;
    b.reserve(1024);
    b.reset();
    return {small, block_buffer_cache::cached()};
}

kept_blocks kept_at_exit;
struct frees_at_thread_exit {
    bool armed = false;
    ~frees_at_thread_exit()
    {
        if (armed)
            kept_at_exit = free_one_of_each();
    }
};
} // namespace

BOOST_AUTO_TEST_CASE(memory_freed_after_the_caches_are_released_goes_to_the_heap)
{
    kept_blocks kept_while_running;
    std::thread t([&] {
        // Constructed before the caches start keeping, so destroyed after they are released.
        static thread_local frees_at_thread_exit late;
        late.armed = true;
        kept_while_running = free_one_of_each();
    });
    t.join();
#if CARCHECK_RECYCLE_BLOCKS
    BOOST_TEST(kept_while_running.small == 1u);
    BOOST_TEST(kept_while_running.buffers == 1u);
#endif
    BOOST_TEST(kept_at_exit.small == 0u);
    BOOST_TEST(kept_at_exit.buffers == 0u);
}

BOOST_AUTO_TEST_SUITE_END()
