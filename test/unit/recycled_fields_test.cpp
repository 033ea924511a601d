// detail::recycled_allocator, the memory of the client's header fields: a freed block is
// handed out again on the same thread instead of coming from the heap, blocks freed on
// another thread serve that thread, and Beast's fields work on it (insert, lookup, erase,
// copies, the rate-limit headers). Under AddressSanitizer the cache is off by design.
#include <carcheck/detail/recycled_fields.hpp>
#include <carcheck/rate_limit.hpp>

#include <boost/test/unit_test.hpp>

#include <algorithm>

#include <set>
#include <string>
#include <thread>
#include <vector>

using carcheck::detail::client_fields;
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

BOOST_AUTO_TEST_SUITE_END()
