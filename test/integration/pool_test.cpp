// The connection pool under load, server-side closes, faults, cancellation and threads.
#include "support/loopback.hpp"
#include "support/mock_fixture.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>

#include <thread>

using namespace carcheck_test;
namespace mock = carcheck::mock;

namespace {

// Runs `count` requests with `concurrency` in flight; returns how many failed.
asio::awaitable<std::size_t> load(carcheck::client& c, const fs::path& path, std::size_t count,
                                  std::size_t concurrency)
{
    std::size_t next = 0, failed = 0;
    auto worker = [&]() -> asio::awaitable<void> {
        carcheck::recognize_options opts;
        while (next < count) {
            ++next;
            auto [ec, r] = co_await c.recognize_file(path, opts, asio::as_tuple(asio::deferred));
            if (ec || r.results.empty())
                ++failed;
        }
    };
    // Workers run on this coroutine's executor (a strand when threads are involved), so the
    // counters need no lock. The last one to finish wakes us.
    auto ex = co_await asio::this_coro::executor;
    std::size_t running = concurrency;
    asio::steady_timer all_done(ex, asio::steady_timer::time_point::max());
    for (std::size_t i = 0; i < concurrency; ++i)
        asio::co_spawn(ex, worker(), [&](std::exception_ptr) {
            if (--running == 0)
                all_done.cancel();
        });
    co_await all_done.async_wait(asio::as_tuple(asio::deferred));
    co_return failed;
}

} // namespace

BOOST_AUTO_TEST_SUITE(pool_test)

BOOST_AUTO_TEST_CASE(thousand_requests_over_at_most_four_connections)
{
    mock_fixture f;
    auto co = f.options();
    co.max_connections = 4;
    carcheck::client c(f.ioc.get_executor(), co);
    auto path = f.image("POOL1");
    BOOST_TEST(f.run(load(c, path, 1000, 32)) == 0u);
    auto stats = f.server.get_stats();
    BOOST_TEST(stats.connections_accepted <= 4u);
    BOOST_TEST(stats.requests == 1000u);
    auto counters = c.connection_counters();
    BOOST_TEST(counters.connects <= 4u);
    BOOST_TEST(counters.reuses + counters.connects >= 1000u - 32u);
    BOOST_TEST(counters.in_use == 0u);
    BOOST_TEST(counters.open <= 4u);
}

BOOST_AUTO_TEST_CASE(server_closing_after_n_requests_costs_no_error)
{
    auto o = default_mock_options();
    o.max_requests_per_connection = 3;
    mock_fixture f(o);
    carcheck::client c(f.ioc.get_executor(), f.options());
    auto path = f.image("CLOSE3");
    BOOST_TEST(f.run(load(c, path, 60, 4)) == 0u);
    BOOST_TEST(f.server.get_stats().connections_accepted >= 20u);
}

BOOST_AUTO_TEST_CASE(idle_connections_closed_by_the_server_are_replaced)
{
    auto o = default_mock_options();
    o.idle_close = std::chrono::milliseconds(50);
    mock_fixture f(o);
    carcheck::client c(f.ioc.get_executor(), f.options());
    auto path = f.image("IDLE1");
    carcheck::recognize_options opts;
    for (int i = 0; i < 3; ++i) {
        BOOST_TEST(f.run(c.recognize_file(path, opts)).results.size() == 1u);
        // Give the server time to close the idle connection; whether or not it has, the
        // next request must succeed.
        std::this_thread::sleep_for(std::chrono::milliseconds(150));
    }
    BOOST_TEST(f.server.get_stats().connections_accepted >= 2u);
}

BOOST_AUTO_TEST_CASE(tls_sessions_are_resumed)
{
    auto o = default_mock_options();
    o.max_requests_per_connection = 1; // every request needs a new connection
    mock_fixture f(o);
    carcheck::client c(f.ioc.get_executor(), f.options());
    auto path = f.image("RESUME1");
    carcheck::recognize_options opts;
    for (int i = 0; i < 4; ++i)
        BOOST_TEST(f.run(c.recognize_file(path, opts)).results.size() == 1u);
    auto counters = c.connection_counters();
    BOOST_TEST(counters.handshakes_full >= 1u);
    BOOST_TEST(counters.handshakes_resumed >= 2u);
    BOOST_TEST(f.server.get_stats().tls_resumed >= 2u);
}

BOOST_AUTO_TEST_CASE(connections_reopened_together_all_resume)
{
    // Every connection is closed by the server after 5 requests, so the 4 connections reach
    // their end together and reconnect at the same moment. Each must resume a session of
    // its own (OpenSSL uses a TLS 1.3 session for one resumption): only the first 4
    // connects, made before any session existed, may be full handshakes.
    auto o = default_mock_options();
    o.max_requests_per_connection = 5;
    mock_fixture f(o);
    auto co = f.options();
    co.max_connections = 4;
    carcheck::client c(f.ioc.get_executor(), co);
    auto path = f.image("TOGETHER1");
    BOOST_TEST(f.run(load(c, path, 200, 4)) == 0u);
    const auto counters = c.connection_counters();
    BOOST_TEST(counters.connects >= 40u);
    BOOST_TEST(counters.handshakes_full <= 4u);
    // Every connect ends in a full or a resumed handshake, but for those still opening when
    // the load ended (at most one per connection slot).
    BOOST_TEST(counters.handshakes_full + counters.handshakes_resumed <= counters.connects);
    BOOST_TEST(counters.handshakes_full + counters.handshakes_resumed + co.max_connections >= counters.connects);
    // The server agrees, but for connections still opening when the load ended (a TLS 1.3
    // client finishes its handshake before the server has read the client's Finished).
    BOOST_TEST(f.server.get_stats().tls_resumed <= counters.handshakes_resumed);
    BOOST_TEST(f.server.get_stats().tls_resumed + co.max_connections >= counters.handshakes_resumed);
}

BOOST_AUTO_TEST_CASE(close_mid_response_fails_one_caller_only)
{
    mock_fixture f;
    carcheck::client c(f.ioc.get_executor(), f.options());
    auto path = f.image("MID1");
    carcheck::recognize_options opts;
    BOOST_TEST(f.run(c.recognize_file(path, opts)).results.size() == 1u);
    f.server.inject(mock::fault::close_mid_headers);
    auto [ec, r] = f.run(c.recognize_file(path, opts, asio::as_tuple(asio::deferred)));
    BOOST_TEST(ec.failed());
    BOOST_TEST(f.run(load(c, path, 20, 4)) == 0u);
    BOOST_TEST(c.connection_counters().discarded >= 1u);
}

BOOST_AUTO_TEST_CASE(cancelling_a_wait_for_a_connection)
{
    mock_fixture f;
    auto co = f.options();
    co.max_connections = 1;
    // Let the pool, not the scheduler, hold the second request (the client's default
    // admits no more requests than there are connections).
    co.scheduling.max_in_flight = 16;
    carcheck::client c(f.ioc.get_executor(), co);
    auto path = f.image("WAIT1");
    carcheck::recognize_options opts;
    f.server.inject(mock::fault::stall);
    asio::cancellation_signal stalled_signal, waiting_signal;
    std::optional<carcheck::error_code> stalled, waiting;
    c.recognize_file(path, opts, asio::bind_cancellation_slot(stalled_signal.slot(),
                                 [&](carcheck::error_code ec, carcheck::recognition) { stalled = ec; }));
    c.recognize_file(path, opts, asio::bind_cancellation_slot(waiting_signal.slot(),
                                 [&](carcheck::error_code ec, carcheck::recognition) { waiting = ec; }));
    f.ioc.restart();
    // Let both start: the first holds the only connection, the second waits for it.
    while (c.connection_counters().in_use == 0 || c.connection_counters().waits < 2)
        f.ioc.run_one_for(std::chrono::seconds(10));
    waiting_signal.emit(asio::cancellation_type::terminal);
    while (!waiting)
        f.ioc.run_one_for(std::chrono::seconds(10));
    BOOST_TEST(*waiting == asio::error::operation_aborted);
    BOOST_TEST(!stalled.has_value());
    stalled_signal.emit(asio::cancellation_type::terminal);
    while (!stalled)
        f.ioc.run_one_for(std::chrono::seconds(10));
    BOOST_TEST(*stalled == asio::error::operation_aborted);
    // The cancelled exchange's connection was closed, not reused half-read.
    BOOST_TEST(f.run(c.recognize_file(path, opts)).results.size() == 1u);
    BOOST_TEST(c.connection_counters().discarded >= 1u);
}

BOOST_AUTO_TEST_CASE(pool_wait_timeout)
{
    mock_fixture f;
    auto co = f.options();
    co.max_connections = 1;
    // Let the pool, not the scheduler, hold the second request (the client's default
    // admits no more requests than there are connections).
    co.scheduling.max_in_flight = 16;
    co.timeouts.pool_wait = std::chrono::milliseconds(100);
    co.timeouts.request = std::chrono::seconds(5);
    carcheck::client c(f.ioc.get_executor(), co);
    auto path = f.image("PWAIT1");
    carcheck::recognize_options opts;
    f.server.inject(mock::fault::stall);
    std::optional<carcheck::error_code> first, second;
    carcheck::diagnostics diag;
    c.recognize_file(path, opts, [&](carcheck::error_code ec, carcheck::recognition) { first = ec; });
    c.recognize_file(path, opts, diag, [&](carcheck::error_code ec, carcheck::recognition) { second = ec; });
    f.ioc.restart();
    while (!first || !second)
        f.ioc.run_one_for(std::chrono::seconds(10));
    BOOST_TEST(*second == carcheck::error::timeout);
    BOOST_TEST(diag.client_message.find("pool") != std::string::npos);
    BOOST_TEST(*first == carcheck::error::timeout); // the stalled exchange hit its request deadline
}

BOOST_AUTO_TEST_CASE(two_threads_share_one_client)
{
    mock_fixture f;
    auto co = f.options();
    co.max_connections = 8;
    carcheck::client c(f.ioc.get_executor(), co);
    auto path = f.image("THREAD1");
    auto fut = asio::co_spawn(asio::make_strand(f.ioc), load(c, path, 300, 16), asio::use_future);
    std::thread t1([&] { f.ioc.run(); });
    std::thread t2([&] { f.ioc.run(); });
    BOOST_TEST(fut.get() == 0u);
    c.close();
    f.ioc.stop();
    t1.join();
    t2.join();
}

// The documented lifetime rule: the client may go away while an operation is pending; the
// operation still completes (client_closed), and nothing it used is touched after that.
BOOST_AUTO_TEST_CASE(destroying_the_client_completes_its_pending_operations)
{
    mock_fixture f;
    auto path = f.image("GONE1");
    carcheck::recognize_options opts;
    f.server.inject(mock::fault::stall);
    std::optional<carcheck::error_code> a;
    {
        carcheck::client c(f.ioc.get_executor(), f.options());
        c.recognize_file(path, opts, [&](carcheck::error_code ec, carcheck::recognition) { a = ec; });
        f.ioc.restart();
        while (c.connection_counters().in_use == 0)
            f.ioc.run_one_for(std::chrono::seconds(10));
    }
    for (int i = 0; !a && i < 1000; ++i)
        f.ioc.run_one_for(std::chrono::milliseconds(10));
    BOOST_REQUIRE(a.has_value());
    BOOST_TEST(*a == carcheck::error::client_closed);
}

// An operation made with asio::deferred runs when it is launched; the initiation owns the
// client's state, so launching it after the client is gone is safe and fails cleanly (it used
// to call into the destroyed client).
BOOST_AUTO_TEST_CASE(a_deferred_operation_launched_after_its_client_is_gone)
{
    mock_fixture f;
    auto path = f.image("LATE1");
    carcheck::recognize_options opts;
    auto c = std::make_unique<carcheck::client>(f.ioc.get_executor(), f.options());
    auto op = c->recognize_file(path, opts, asio::as_tuple(asio::deferred));
    auto config_op = c->get_config(asio::as_tuple(asio::deferred));
    c.reset();
    auto [ec, r] = f.run(std::move(op));
    BOOST_TEST(ec == carcheck::error::client_closed);
    auto [cec, cfg] = f.run(std::move(config_op));
    BOOST_TEST(cec == carcheck::error::client_closed);
    BOOST_TEST(f.server.get_stats().requests == 0u);
}

BOOST_AUTO_TEST_CASE(close_fails_waiters_and_in_flight_work)
{
    mock_fixture f;
    auto co = f.options();
    co.max_connections = 1;
    // Let the pool, not the scheduler, hold the second request (the client's default
    // admits no more requests than there are connections).
    co.scheduling.max_in_flight = 16;
    carcheck::client c(f.ioc.get_executor(), co);
    auto path = f.image("CLOSE1");
    carcheck::recognize_options opts;
    f.server.inject(mock::fault::stall);
    std::optional<carcheck::error_code> a, b;
    c.recognize_file(path, opts, [&](carcheck::error_code ec, carcheck::recognition) { a = ec; });
    c.recognize_file(path, opts, [&](carcheck::error_code ec, carcheck::recognition) { b = ec; });
    f.ioc.restart();
    while (c.connection_counters().in_use == 0 || c.connection_counters().waits < 2)
        f.ioc.run_one_for(std::chrono::seconds(10));
    c.close();
    while (!a || !b)
        f.ioc.run_one_for(std::chrono::seconds(10));
    BOOST_TEST(*a == carcheck::error::client_closed); // closed mid-exchange, promptly
    BOOST_TEST(*b == carcheck::error::client_closed);
    auto [ec, r] = f.run(c.recognize_file(path, opts, asio::as_tuple(asio::deferred)));
    BOOST_TEST(ec == carcheck::error::client_closed);
}



BOOST_AUTO_TEST_CASE(cancelling_during_the_upload_discards_the_connection)
{
    // A loopback listener that accepts and never reads: a large upload blocks in the write.
    mock_fixture f;
    silent_listener silent(f.ioc);
    auto o = f.options(false);
    o.endpoint = "http://127.0.0.1:" + std::to_string(silent.port()) + "/v3";
    o.max_connections = 1;
    carcheck::client c(f.ioc.get_executor(), o);
    auto big = f.image("WRITE1", 32u << 20);
    const carcheck::recognize_options opts;

    using namespace asio::experimental::awaitable_operators;
    auto timer_won = f.run([&]() -> asio::awaitable<bool> {
        asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::milliseconds(300));
        auto r = co_await (c.recognize_file(big, opts, asio::as_tuple(asio::use_awaitable)) ||
                           t.async_wait(asio::as_tuple(asio::use_awaitable)));
        co_return r.index() == 1;
    }());
    BOOST_TEST(timer_won); // the upload was still being written when it was cancelled
    // Let the cancellation finish on the strand.
    f.ioc.restart();
    f.ioc.run_for(std::chrono::milliseconds(100));
    auto counters = c.connection_counters();
    BOOST_TEST(counters.in_use == 0u);
    BOOST_TEST(counters.idle == 0u); // the half-written connection was not kept
    BOOST_TEST(counters.discarded == 1u);
    BOOST_TEST(c.scheduling_counters().in_flight == 0u);
}

// A program whose work is done returns from io_context::run() without calling close():
// an idle pooled connection arms no timer.
BOOST_AUTO_TEST_CASE(run_returns_once_the_last_operation_completes)
{
    mock_fixture f;
    carcheck::client c(f.ioc.get_executor(), f.options());
    auto path = f.image("EXIT1");
    std::optional<std::chrono::steady_clock::time_point> completed;
    c.recognize_file(path, carcheck::recognize_options{}, [&](carcheck::error_code ec, carcheck::recognition r) {
        BOOST_TEST(!ec);
        BOOST_TEST(r.results.size() == 1u);
        completed = std::chrono::steady_clock::now();
    });
    f.ioc.run_for(std::chrono::seconds(20)); // the guard only: it returns as soon as work runs out
    const auto returned = std::chrono::steady_clock::now();
    BOOST_REQUIRE(completed.has_value());
    BOOST_TEST(f.ioc.stopped()); // ran out of work rather than out of time
    BOOST_TEST(std::chrono::duration_cast<std::chrono::milliseconds>(returned - *completed).count() < 100);
    BOOST_TEST(c.connection_counters().idle == 1u); // kept for reuse all the same
}

// Without async_run an expired idle connection is closed lazily by the next operation;
// with it, on time.
BOOST_AUTO_TEST_CASE(idle_connections_expire_lazily_without_async_run)
{
    mock_fixture f;
    auto co = f.options();
    co.timeouts.idle = std::chrono::milliseconds(100);
    carcheck::client c(f.ioc.get_executor(), co);
    auto path = f.image("LAZY1");
    carcheck::recognize_options opts;
    BOOST_TEST(f.run(c.recognize_file(path, opts)).results.size() == 1u);
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    BOOST_TEST(c.connection_counters().open == 1u);
    BOOST_TEST(c.connection_counters().expired_discarded == 0u);
    BOOST_TEST(f.run(c.recognize_file(path, opts)).results.size() == 1u);
    BOOST_TEST(c.connection_counters().expired_discarded == 1u);
    BOOST_TEST(c.connection_counters().connects == 2u);
}

BOOST_AUTO_TEST_CASE(async_run_closes_idle_connections_after_the_idle_timeout)
{
    mock_fixture f;
    auto co = f.options();
    co.timeouts.idle = std::chrono::milliseconds(200);
    carcheck::client c(f.ioc.get_executor(), co);
    auto path = f.image("RUN1");
    std::optional<carcheck::error_code> run_result, second_run;
    c.async_run([&](carcheck::error_code ec) { run_result = ec; });
    c.async_run([&](carcheck::error_code ec) { second_run = ec; });
    carcheck::pool_counters before{}, after{};
    asio::co_spawn(f.ioc, [&]() -> asio::awaitable<void> {
        const carcheck::recognize_options opts; // named: g++ 12 and temporaries in co_await (README)
        auto r = co_await c.recognize_file(path, opts);
        BOOST_TEST(r.results.size() == 1u);
        asio::steady_timer t(co_await asio::this_coro::executor);
        t.expires_after(std::chrono::milliseconds(100));
        co_await t.async_wait(asio::deferred);
        before = c.connection_counters();
        t.expires_after(std::chrono::milliseconds(300)); // 400 ms > 1.25 x 200 ms
        co_await t.async_wait(asio::deferred);
        after = c.connection_counters();
        c.close(); // ends async_run, so run() returns
    }, asio::detached);
    f.ioc.run_for(std::chrono::seconds(20));
    BOOST_TEST(f.ioc.stopped());
    BOOST_TEST(before.open == 1u);
    BOOST_TEST(after.open == 0u);
    BOOST_TEST(after.expired_discarded == 1u);
    BOOST_REQUIRE(run_result.has_value());
    BOOST_TEST(!*run_result); // close() is its normal end
    BOOST_REQUIRE(second_run.has_value());
    BOOST_TEST(*second_run == asio::error::already_started);
}

BOOST_AUTO_TEST_CASE(async_run_ends_when_cancelled)
{
    mock_fixture f;
    carcheck::client c(f.ioc.get_executor(), f.options());
    asio::cancellation_signal stop;
    std::optional<carcheck::error_code> run_result;
    c.async_run(asio::bind_cancellation_slot(stop.slot(), [&](carcheck::error_code ec) { run_result = ec; }));
    asio::steady_timer t(f.ioc, std::chrono::milliseconds(50));
    t.async_wait([&](carcheck::error_code) { stop.emit(asio::cancellation_type::terminal); });
    f.ioc.run_for(std::chrono::seconds(20));
    BOOST_TEST(f.ioc.stopped());
    BOOST_REQUIRE(run_result.has_value());
    BOOST_TEST(*run_result == asio::error::operation_aborted);
}

BOOST_AUTO_TEST_SUITE_END()
