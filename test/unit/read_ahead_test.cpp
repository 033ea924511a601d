// The command-line tool's read-ahead thread (tools/cli/read_ahead.*): every file once, in
// order, never more than the window beyond what the batch has taken, and a prompt stop.

#include "cli/read_ahead.hpp"
#include "support/body_wire.hpp"

#include <boost/test/unit_test.hpp>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <sys/stat.h>
#include <unistd.h>

namespace {

using namespace std::chrono_literals;
using carcheck_cli::read_ahead;

/// Waits (bounded) until `pred` holds.
template <class Pred>
bool eventually(Pred pred)
{
    for (int i = 0; i < 2000; ++i) {
        if (pred())
            return true;
        std::this_thread::sleep_for(1ms);
    }
    return pred();
}

std::vector<std::string> names(int n)
{
    std::vector<std::string> v;
    for (int i = 0; i < n; ++i)
        v.push_back("file-" + std::to_string(i));
    return v;
}

struct recorder {
    std::mutex mu;
    std::vector<std::string> fetched;
    std::vector<std::size_t> taken_then; // what the batch had taken when each was fetched
    std::size_t taken = 0;

    read_ahead::fetch_function fn()
    {
        return [this](const std::string& p) {
            std::lock_guard lock(mu);
            fetched.push_back(p);
            taken_then.push_back(taken);
        };
    }
    void take(read_ahead& ra, std::size_t n)
    {
        {
            std::lock_guard lock(mu);
            taken = n;
        }
        ra.advance(n);
    }
};

} // namespace

BOOST_AUTO_TEST_SUITE(read_ahead_test)

BOOST_AUTO_TEST_CASE(every_file_once_in_order_within_the_window)
{
    recorder rec;
    const std::size_t window = 8;
    read_ahead ra(names(100), window, rec.fn());
    BOOST_TEST_REQUIRE(eventually([&] { return ra.fetched() == window; }));
    std::this_thread::sleep_for(50ms);
    BOOST_TEST(ra.fetched() == window); // nothing beyond the window before the batch moves

    // Taking one at a time, each time once the thread has caught up (so none is skipped).
    for (std::size_t taken = 1; taken <= 100; ++taken) {
        rec.take(ra, taken);
        BOOST_TEST_REQUIRE(eventually([&] { return ra.fetched() >= std::min<std::size_t>(100, taken + 1); }));
    }
    BOOST_TEST_REQUIRE(eventually([&] { return ra.fetched() == 100u; }));

    std::lock_guard lock(rec.mu);
    BOOST_TEST(rec.fetched == names(100), boost::test_tools::per_element());
    for (std::size_t i = 0; i < rec.fetched.size(); ++i)
        BOOST_TEST(i < rec.taken_then[i] + window, "file " << i << " fetched with only " << rec.taken_then[i] << " taken");
}

BOOST_AUTO_TEST_CASE(files_the_batch_has_already_taken_are_skipped)
{
    std::mutex gate;
    std::unique_lock hold(gate); // the first fetch blocks here: a slow disk
    std::mutex mu;
    std::vector<std::string> fetched;
    std::atomic<bool> in_first{false};
    read_ahead ra(names(100), 4, [&](const std::string& p) {
        if (p == "file-0") {
            in_first = true;
            std::lock_guard wait(gate);
        }
        std::lock_guard lock(mu);
        fetched.push_back(p);
    });
    BOOST_TEST_REQUIRE(eventually([&] { return in_first.load(); }));
    ra.advance(50); // meanwhile the batch has taken 50 files
    hold.unlock();
    BOOST_TEST_REQUIRE(eventually([&] { return ra.fetched() == 54u; }));
    std::this_thread::sleep_for(20ms);
    BOOST_TEST(ra.fetched() == 54u); // 0, then 50..53: the window beyond 50 taken
    std::lock_guard lock(mu);
    BOOST_TEST(fetched == (std::vector<std::string>{"file-0", "file-50", "file-51", "file-52", "file-53"}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(empty_names_are_skipped_and_a_window_of_one_works)
{
    recorder rec;
    read_ahead ra({"a", "", "b", ""}, 1, rec.fn());
    BOOST_TEST_REQUIRE(eventually([&] { return ra.fetched() == 1u; }));
    for (std::size_t t = 1; t <= 4; ++t) {
        rec.take(ra, t);
        BOOST_TEST_REQUIRE(eventually([&] { return ra.fetched() >= std::min<std::size_t>(4, t + 1); }));
    }
    std::lock_guard lock(rec.mu);
    BOOST_TEST(rec.fetched == (std::vector<std::string>{"a", "b"}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(destruction_stops_a_waiting_thread)
{
    recorder rec;
    const auto t0 = std::chrono::steady_clock::now();
    {
        read_ahead ra(names(1000), 4, rec.fn());
        BOOST_TEST_REQUIRE(eventually([&] { return ra.fetched() == 4u; }));
        // One taken: file 4 is now within the window (fetched if the thread had not gone to
        // sleep yet), and the thread then waits for 3 taken, which never comes.
        rec.take(ra, 1);
    }
    BOOST_TEST(rec.fetched.size() >= 4u);
    BOOST_TEST(rec.fetched.size() <= 5u);
    const bool prompt = std::chrono::steady_clock::now() - t0 < 10s;
    BOOST_TEST(prompt);
}

BOOST_AUTO_TEST_CASE(page_cache_fetch_ignores_missing_files_and_does_not_block_on_fifos)
{
    const carcheck_test::scratch_dir scratch;
    const auto& dir = scratch.dir;
    const auto fifo = dir / "pipe.jpg";
    BOOST_TEST_REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    carcheck_cli::fetch_into_page_cache((dir / "missing.jpg").string());
    carcheck_cli::fetch_into_page_cache(fifo.string()); // returns: no writer needed
    {
        // Through the thread as well: the batch reaches its end.
        read_ahead ra({fifo.string(), (dir / "missing.jpg").string()}, 2);
        BOOST_TEST(eventually([&] { return ra.fetched() == 2u; }));
    }
}

BOOST_AUTO_TEST_CASE(paths_added_later_are_fetched_in_order_and_not_kept)
{
    recorder rec;
    read_ahead ra({}, 4, rec.fn()); // a batch streaming its inputs adds them as it finds them
    std::this_thread::sleep_for(20ms);
    BOOST_TEST(ra.fetched() == 0u);
    for (int i = 0; i < 3; ++i)
        ra.add("file-" + std::to_string(i));
    BOOST_TEST_REQUIRE(eventually([&] { return ra.fetched() == 3u; }));
    for (int i = 3; i < 10; ++i)
        ra.add("file-" + std::to_string(i));
    BOOST_TEST_REQUIRE(eventually([&] { return ra.fetched() == 4u; })); // the window: 4 beyond 0 taken
    for (std::size_t taken = 1; taken <= 10; ++taken) {
        rec.take(ra, taken);
        BOOST_TEST_REQUIRE(eventually([&] { return ra.fetched() >= std::min<std::size_t>(10, taken + 2); }));
    }
    BOOST_TEST_REQUIRE(eventually([&] { return ra.fetched() == 10u; }));
    std::lock_guard lock(rec.mu);
    BOOST_TEST(rec.fetched == names(10), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_SUITE_END()
