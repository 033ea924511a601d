// The scheduler between the client and the pool, against the mock's rate windows and
// monthly credits: throttling by the reset epoch, 403 retries, 402 fail-fast, back-pressure.
#include "support/mock_fixture.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>

#include <vector>

using namespace carcheck_test;
namespace mock = carcheck::mock;

namespace {

mock::server_options key_with(std::int64_t monthly_credits, std::int64_t rate_limit, std::chrono::seconds window)
{
    mock::server_options o;
    o.keys.push_back(mock::key_config{.key = "test-key", .monthly_credits = monthly_credits,
                                      .rate_limit = rate_limit, .window = window});
    return o;
}

/// Starts `n` recognitions at once and collects every outcome.
asio::awaitable<std::vector<carcheck::error_code>> batch(carcheck::client& c, const fs::path& image, int n)
{
    std::vector<carcheck::error_code> outcomes;
    int pending = n;
    auto ex = co_await asio::this_coro::executor;
    asio::steady_timer all_done(ex, asio::steady_timer::time_point::max());
    const carcheck::recognize_options opts;
    for (int i = 0; i < n; ++i) {
        c.recognize_file(image, opts, [&](carcheck::error_code ec, carcheck::recognition) {
            outcomes.push_back(ec);
            if (--pending == 0)
                all_done.cancel();
        });
    }
    auto [ignored] = co_await all_done.async_wait(asio::as_tuple(asio::use_awaitable));
    (void)ignored;
    co_return outcomes;
}

std::size_t count(const std::vector<carcheck::error_code>& v, carcheck::error_code ec)
{
    std::size_t n = 0;
    for (auto& e : v)
        n += e == ec ? 1 : 0;
    return n;
}

} // namespace

BOOST_AUTO_TEST_SUITE(scheduling_test)

BOOST_AUTO_TEST_CASE(spent_window_holds_requests_until_the_reset)
{
    // N = 3 requests per 1 s window and a batch of 10 x N: the scheduler waits for each
    // reset instead of sending requests the server would refuse.
    constexpr int n = 3;
    mock_fixture f(key_with(1'000'000, n, std::chrono::seconds(1)));
    auto o = f.options();
    o.max_connections = 2;
    carcheck::client c(f.ioc.get_executor(), o);
    auto image = f.image("RATE42");
    const auto started = std::chrono::steady_clock::now();
    auto outcomes = f.run(batch(c, image, 10 * n));
    const auto took = std::chrono::steady_clock::now() - started;
    BOOST_TEST(outcomes.size() == std::size_t(10 * n)); // one outcome each
    BOOST_TEST(count(outcomes, {}) == std::size_t(10 * n));
    auto stats = f.server.get_stats();
    BOOST_TEST(stats.responses_by_status[200] == std::size_t(10 * n));
    // Zero refusals after the first window (the first replies teach the client the limit).
    BOOST_TEST(stats.responses_by_status[403] <= 1u);
    auto counters = c.scheduling_counters();
    BOOST_TEST(counters.succeeded == std::size_t(10 * n));
    BOOST_TEST(counters.throttled_time.count() > 0);
    BOOST_TEST(counters.rate_limit.value_or(0) == n);
    // The credits the client reports are the mock's ledger.
    BOOST_TEST(counters.credits_used.value_or(-1) == f.server.credits_used("test-key"));
    BOOST_TEST(counters.credits_remaining.value_or(-1) == 1'000'000 - f.server.credits_used("test-key"));
    // It cannot have been faster than the windows allow (at least 8 full windows; a lower bound
    // only: a slow machine may take longer).
    BOOST_TEST(took >= std::chrono::milliseconds(8000));
    BOOST_TEST_MESSAGE("10 x N batch took " << std::chrono::duration<double>(took).count() << " s");
}

BOOST_AUTO_TEST_CASE(credits_running_out_mid_batch)
{
    // 10 credits, 30 concurrent requests: 10 succeed, the other 20 fail with monthly_limit
    // at once (the first 402 fails every queued request), nothing hangs.
    mock_fixture f(key_with(10, 0, std::chrono::seconds(60)));
    auto o = f.options();
    o.max_connections = 4;
    carcheck::client c(f.ioc.get_executor(), o);
    auto image = f.image("MIDB42");
    auto outcomes = f.run(batch(c, image, 30));
    BOOST_TEST(outcomes.size() == 30u);
    BOOST_TEST(count(outcomes, {}) == 10u);
    BOOST_TEST(count(outcomes, carcheck::error::monthly_limit) == 20u);
    // At most the requests in flight when the first 402 came back reached the server.
    BOOST_TEST(f.server.get_stats().responses_by_status[402] <= 4u);
    BOOST_TEST(c.scheduling_counters().credits_exhausted);
}

BOOST_AUTO_TEST_CASE(refused_request_is_retried_after_the_reset)
{
    // Two requests in flight before the client knows the limit of 1 per window: the second
    // is refused with 403 and sent again after the reset, so both succeed. (Unpaced: pacing
    // sends one request until the first reply tells the limit, so no 403 would come.)
    mock_fixture f(key_with(1'000'000, 1, std::chrono::seconds(1)));
    auto o = f.options();
    o.max_connections = 2;
    o.scheduling.pace = false;
    carcheck::client c(f.ioc.get_executor(), o);
    auto image = f.image("RETRY1");
    auto outcomes = f.run(batch(c, image, 2));
    BOOST_TEST(count(outcomes, {}) == 2u);
    auto counters = c.scheduling_counters();
    BOOST_TEST(counters.responses_403 == 1u);
    BOOST_TEST(counters.retried_rate_limited == 1u);
    BOOST_TEST(f.server.get_stats().responses_by_status[403] == 1u);
}

BOOST_AUTO_TEST_CASE(refusal_is_reported_when_retries_are_disabled)
{
    mock_fixture f(key_with(1'000'000, 1, std::chrono::seconds(60)));
    auto o = f.options();
    carcheck::backoff_options no_retries;
    no_retries.max_attempts = 1;
    o.scheduling.retry = std::make_shared<carcheck::exponential_backoff>(no_retries);
    o.scheduling.max_rate_limited_wait = std::chrono::milliseconds{0}; // 403s are retried for a time
    carcheck::client c(f.ioc.get_executor(), o);
    auto image = f.image("NORETRY");
    const carcheck::recognize_options opts;
    auto first = f.run(c.recognize_file(image, opts));
    BOOST_TEST(first.results.size() == 1u);
    carcheck::diagnostics diag;
    // The window is known to be spent now, so the scheduler would hold the request for a
    // minute: cancel that wait after a moment and check nothing was sent.
    using namespace asio::experimental::awaitable_operators;
    auto held = f.run([&]() -> asio::awaitable<bool> {
        asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::milliseconds(200));
        auto r = co_await (c.recognize_file(image, opts, diag, asio::as_tuple(asio::use_awaitable)) ||
                           t.async_wait(asio::as_tuple(asio::use_awaitable)));
        co_return r.index() == 1;
    }());
    BOOST_TEST(held);
    BOOST_TEST(f.server.get_stats().requests == 1u);
    BOOST_TEST(c.scheduling_counters().cancelled == 1u);
}

BOOST_AUTO_TEST_CASE(spent_credits_fail_fast_until_reset)
{
    mock_fixture f(key_with(3, 0, std::chrono::seconds(60)));
    carcheck::client c(f.ioc.get_executor(), f.options());
    auto image = f.image("CRED1T");
    const carcheck::recognize_options opts;
    for (int i = 0; i < 3; ++i)
        BOOST_TEST(f.run(c.recognize_file(image, opts)).results.size() == 1u);
    BOOST_TEST(c.scheduling_counters().credits_remaining.value_or(-1) == 0);

    carcheck::diagnostics diag;
    auto [ec, r] = f.run(c.recognize_file(image, opts, diag, asio::as_tuple(asio::deferred)));
    BOOST_TEST(ec == carcheck::error::monthly_limit);
    BOOST_TEST(diag.http_status == 402u);
    BOOST_TEST(!diag.server_message.empty());

    // Fails fast without reaching the server, queued requests included.
    const auto sent = f.server.get_stats().requests;
    auto outcomes = f.run(batch(c, image, 5));
    BOOST_TEST(count(outcomes, carcheck::error::monthly_limit) == 5u);
    BOOST_TEST(f.server.get_stats().requests == sent);
    BOOST_TEST(c.scheduling_counters().credits_exhausted);

    f.server.set_key(mock::key_config{.key = "test-key", .monthly_credits = 10});
    c.reset_credits_exhausted();
    BOOST_TEST(f.run(c.recognize_file(image, opts)).results.size() == 1u);
}

BOOST_AUTO_TEST_CASE(full_queue_fails_fast_when_configured)
{
    mock_fixture f;
    auto o = f.options();
    o.max_connections = 1;
    o.scheduling.max_in_flight = 1;
    o.scheduling.max_queue = 2;
    o.scheduling.fail_when_full = true;
    carcheck::client c(f.ioc.get_executor(), o);
    auto image = f.image("QUEUE1");
    auto outcomes = f.run(batch(c, image, 6));
    // One in flight, two queued, three refused.
    BOOST_TEST(count(outcomes, {}) == 3u);
    BOOST_TEST(count(outcomes, carcheck::error::queue_full) == 3u);
    BOOST_TEST(c.scheduling_counters().rejected_queue_full == 3u);
}

BOOST_AUTO_TEST_CASE(unwritten_request_is_resent_written_one_is_not)
{
    mock_fixture f;
    carcheck::client c(f.ioc.get_executor(), f.options(false));
    // Large enough that the socket buffers cannot take all of it before the reset arrives.
    auto image = f.image("RESET1", 32u << 20);
    const carcheck::recognize_options opts;
    // The server resets the connection while the body arrives: it cannot have processed it.
    f.server.inject(mock::fault::reset_during_request);
    BOOST_TEST(f.run(c.recognize_file(image, opts)).results.size() == 1u);
    BOOST_TEST(c.scheduling_counters().retried_transport == 1u);

    // The server got the whole request and closed without answering: it may have charged
    // for it, so the client reports instead of resending.
    f.server.inject(mock::fault::close_before_response);
    carcheck::diagnostics diag;
    auto [ec, r] = f.run(c.recognize_file(image, opts, diag, asio::as_tuple(asio::deferred)));
    BOOST_TEST(static_cast<bool>(ec));
    BOOST_TEST(c.scheduling_counters().retried_transport == 1u);
    BOOST_TEST(f.run(c.recognize_file(image, opts)).results.size() == 1u);
}

BOOST_AUTO_TEST_SUITE_END()
