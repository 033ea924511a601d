// The async wrapper: admission on an io_context, driven by a manual clock where waits matter.
#include <carcheck/scheduler.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using carcheck::attempt_outcome;
using carcheck::error_code;
using carcheck::priority;
using carcheck::scheduler;
using carcheck::scheduler_options;
using err = carcheck::error;

error_code code(err e) { return make_error_code(e); }
using sys_time = std::chrono::system_clock::time_point;

const sys_time t0{std::chrono::seconds{1'700'000'000}};

class manual_clock final : public carcheck::scheduler_clock {
public:
    sys_time now() const override { return now_; }
    void advance(std::chrono::nanoseconds d) { now_ += std::chrono::duration_cast<sys_time::duration>(d); }

private:
    sys_time now_ = t0;
};

struct result {
    bool done = false;
    error_code ec;
};

auto record(result& r)
{
    return [&r](error_code ec) {
        r.done = true;
        r.ec = ec;
    };
}

attempt_outcome ok_reply(std::optional<std::int64_t> remaining = {}, std::optional<std::int64_t> reset = {})
{
    attempt_outcome o;
    o.http_status = 200;
    o.request_fully_written = true;
    o.response_bytes_received = true;
    o.rate_limit.remaining = remaining;
    o.rate_limit.reset_epoch = reset;
    o.rate_limit.limit = 10;
    o.rate_limit.server_date = t0;
    return o;
}

attempt_outcome status_reply(unsigned status)
{
    attempt_outcome o;
    o.http_status = status;
    o.ec = carcheck::error_from_status(status);
    o.request_fully_written = true;
    o.response_bytes_received = true;
    return o;
}

struct fixture {
    asio::io_context ioc;
    std::shared_ptr<manual_clock> clock = std::make_shared<manual_clock>();

    // Pacing off: these tests drive the Asio front end's mechanics one send at a time; the
    // pacing decisions are the core's, tested in scheduler_core_test.
    scheduler make(scheduler_options o = {})
    {
        o.pace = false;
        return scheduler{ioc.get_executor(), std::move(o), clock};
    }

    // Admits `t` right away (the scheduler must say go without waiting).
    void admit_now(scheduler& s, scheduler::ticket& t)
    {
        result r;
        s.async_admit(t, record(r));
        ioc.poll();
        ioc.restart();
        BOOST_REQUIRE(r.done);
        BOOST_REQUIRE(!r.ec);
    }

    void poll()
    {
        ioc.poll();
        ioc.restart();
    }
};

scheduler_options one_at_a_time()
{
    scheduler_options o;
    o.max_in_flight = 1;
    return o;
}

// Retries at once: makes retry paths testable without waits.
struct immediate_retry final : carcheck::retry_policy {
    std::optional<std::chrono::nanoseconds> next_delay(const carcheck::retry_context& ctx) override
    {
        ++asked;
        if (ctx.attempts >= 3)
            return std::nullopt;
        return std::chrono::nanoseconds{0};
    }
    int asked = 0;
};

} // namespace

BOOST_AUTO_TEST_SUITE(scheduler_test)

BOOST_FIXTURE_TEST_CASE(zero_wait_completes_but_never_inline, fixture)
{
    auto s = make();
    auto t = s.make_ticket();
    result r;
    s.async_admit(t, record(r));
    BOOST_TEST(!r.done); // not from inside the initiating function
    poll();
    BOOST_TEST(r.done);
    BOOST_TEST(!r.ec);
    BOOST_TEST(s.counters().in_flight == 1u);
    BOOST_TEST(!s.on_outcome(t, ok_reply()).retry);
    BOOST_TEST(s.counters().in_flight == 0u);
    BOOST_TEST(s.counters().succeeded == 1u);
}

BOOST_FIXTURE_TEST_CASE(try_admit_admits_at_once_when_nothing_waits, fixture)
{
    auto s = make(one_at_a_time());
    auto a = s.make_ticket();
    auto admitted = s.try_admit(a);
    BOOST_REQUIRE(admitted.has_value());
    BOOST_TEST(!*admitted); // admitted: no handler, nothing to run
    BOOST_TEST(s.counters().in_flight == 1u);
    BOOST_TEST(s.counters().submitted == 1u);
    BOOST_TEST(s.counters().sent == 1u);
    // The in-flight limit is reached: b would wait, so nothing happens to it...
    auto b = s.make_ticket();
    BOOST_TEST(!s.try_admit(b).has_value());
    BOOST_TEST(s.counters().queue_length == 0u);
    BOOST_TEST(s.counters().sent == 1u);
    // ...and async_admit queues it as usual, counted once.
    result rb;
    s.async_admit(b, record(rb));
    poll();
    BOOST_TEST(!rb.done);
    BOOST_TEST(s.counters().queue_length == 1u);
    // A later ticket may not overtake the queued one, even once there is room.
    auto c = s.make_ticket();
    BOOST_TEST(!s.on_outcome(a, ok_reply()).retry);
    poll();
    BOOST_TEST(rb.done);
    BOOST_TEST(!rb.ec);
    BOOST_TEST(!s.try_admit(c).has_value()); // b holds the only place
    BOOST_TEST(!s.on_outcome(b, ok_reply()).retry);
    auto now_c = s.try_admit(c);
    BOOST_REQUIRE(now_c.has_value());
    BOOST_TEST(!*now_c);
    BOOST_TEST(!s.on_outcome(c, ok_reply()).retry);
    const auto k = s.counters();
    BOOST_TEST(k.submitted == 3u);
    BOOST_TEST(k.sent == 3u);
    BOOST_TEST(k.succeeded == 3u);
    BOOST_TEST(k.in_flight == 0u);
}

BOOST_FIXTURE_TEST_CASE(try_admit_waits_for_a_queued_one_and_a_held_window, fixture)
{
    auto s = make();
    auto a = s.make_ticket();
    admit_now(s, a);
    // Nothing left in this window (resets in 10 s): a new request would wait.
    s.on_outcome(a, ok_reply(0, std::chrono::floor<std::chrono::seconds>(t0.time_since_epoch()).count() + 10));
    auto b = s.make_ticket();
    BOOST_TEST(!s.try_admit(b).has_value());
    BOOST_TEST(s.counters().queue_length == 0u);
    clock->advance(10250ms);
    auto now_b = s.try_admit(b);
    BOOST_REQUIRE(now_b.has_value());
    BOOST_TEST(!*now_b);
}

BOOST_FIXTURE_TEST_CASE(try_admit_reports_what_async_admit_would, fixture)
{
    auto s = make();
    auto a = s.make_ticket();
    admit_now(s, a);
    BOOST_TEST(!s.on_outcome(a, status_reply(402)).retry);
    auto b = s.make_ticket();
    auto r = s.try_admit(b);
    BOOST_REQUIRE(r.has_value());
    BOOST_TEST((*r == code(err::monthly_limit)));
    scheduler::ticket empty;
    r = s.try_admit(empty);
    BOOST_REQUIRE(r.has_value());
    BOOST_TEST((*r == code(err::invalid_argument)));
    auto c = s.make_ticket();
    s.close();
    r = s.try_admit(c);
    BOOST_REQUIRE(r.has_value());
    BOOST_TEST((*r == code(err::client_closed)));
}

BOOST_FIXTURE_TEST_CASE(held_until_reset_on_the_manual_clock, fixture)
{
    auto s = make();
    auto a = s.make_ticket();
    admit_now(s, a);
    // 0 left, window resets in 10 s (server clock = manual clock).
    s.on_outcome(a, ok_reply(0, std::chrono::floor<std::chrono::seconds>(t0.time_since_epoch()).count() + 10));
    auto b = s.make_ticket();
    result rb;
    s.async_admit(b, record(rb));
    poll();
    BOOST_TEST(!rb.done);
    BOOST_TEST(s.counters().queue_length == 1u);
    clock->advance(10s);
    s.refresh();
    poll();
    BOOST_TEST(!rb.done); // the 250 ms margin
    clock->advance(250ms);
    s.refresh();
    poll();
    BOOST_TEST(rb.done);
    BOOST_TEST(!rb.ec);
    BOOST_TEST((s.counters().throttled_time == 10250ms));
}

BOOST_AUTO_TEST_CASE(real_timer_releases_a_held_request)
{
    // System clock and a real (short) wait: passes however slow the machine is.
    asio::io_context ioc;
    scheduler_options o;
    o.requests_per_second = 500.0;
    o.pace = false;
    scheduler s{ioc.get_executor(), o};
    auto a = s.make_ticket();
    auto b = s.make_ticket();
    result ra, rb;
    s.async_admit(a, record(ra));
    s.async_admit(b, record(rb));
    ioc.run(); // returns only once b was released by the timer
    BOOST_TEST(ra.done);
    BOOST_TEST(!ra.ec);
    BOOST_TEST(rb.done);
    BOOST_TEST(!rb.ec);
}

BOOST_FIXTURE_TEST_CASE(cancelling_a_queued_admission_removes_it, fixture)
{
    for (auto type : {asio::cancellation_type::terminal, asio::cancellation_type::partial,
                      asio::cancellation_type::total}) {
        auto s = make(one_at_a_time());
        auto a = s.make_ticket();
        admit_now(s, a);
        auto b = s.make_ticket();
        asio::cancellation_signal sig;
        result rb;
        s.async_admit(b, asio::bind_cancellation_slot(sig.slot(), record(rb)));
        poll();
        BOOST_TEST(!rb.done);
        BOOST_TEST(s.counters().queue_length == 1u);
        sig.emit(type);
        BOOST_TEST(s.counters().queue_length == 0u); // at once
        poll();
        BOOST_TEST(rb.done);
        BOOST_TEST(rb.ec == error_code(asio::error::operation_aborted));
        BOOST_TEST(s.counters().cancelled == 1u);
        // The freed slot goes to nobody: b is no longer queued.
        s.on_outcome(a, ok_reply());
        poll();
        BOOST_TEST(s.counters().in_flight == 0u);
    }
}

BOOST_FIXTURE_TEST_CASE(cancellation_after_admission_is_ignored, fixture)
{
    auto s = make(one_at_a_time());
    auto a = s.make_ticket();
    admit_now(s, a);
    auto b = s.make_ticket();
    asio::cancellation_signal sig;
    result rb;
    s.async_admit(b, asio::bind_cancellation_slot(sig.slot(), record(rb)));
    s.on_outcome(a, ok_reply());
    poll();
    BOOST_TEST(rb.done);
    BOOST_TEST(!rb.ec);
    sig.emit(asio::cancellation_type::terminal); // the slot was cleared on completion
    poll();
    BOOST_TEST(s.counters().in_flight == 1u);
    BOOST_TEST(s.counters().cancelled == 0u);
}

BOOST_FIXTURE_TEST_CASE(close_fails_queued_and_later_admissions, fixture)
{
    auto s = make(one_at_a_time());
    auto a = s.make_ticket();
    admit_now(s, a);
    auto b = s.make_ticket(), c = s.make_ticket();
    result rb, rc;
    s.async_admit(b, record(rb));
    s.async_admit(c, record(rc));
    poll();
    BOOST_TEST(!rb.done);
    s.close();
    poll();
    BOOST_TEST(rb.ec == code(err::client_closed));
    BOOST_TEST(rc.ec == code(err::client_closed));
    auto d = s.make_ticket();
    result rd;
    s.async_admit(d, record(rd));
    poll();
    BOOST_TEST(rd.ec == code(err::client_closed));
}

BOOST_FIXTURE_TEST_CASE(destroying_the_scheduler_fails_queued_admissions, fixture)
{
    scheduler::ticket a, b; // outlive the scheduler (dropping `a` first would release b)
    result rb;
    {
        auto s = make(one_at_a_time());
        a = s.make_ticket();
        admit_now(s, a);
        b = s.make_ticket();
        s.async_admit(b, record(rb));
        poll();
        BOOST_TEST(!rb.done);
    }
    poll();
    BOOST_TEST(rb.ec == code(err::client_closed));
    a.reset(); // tickets that outlive their scheduler are harmless
    b.reset();
}

BOOST_FIXTURE_TEST_CASE(monthly_limit_fails_queued_until_reset, fixture)
{
    auto s = make(one_at_a_time());
    auto a = s.make_ticket();
    admit_now(s, a);
    auto b = s.make_ticket();
    result rb;
    s.async_admit(b, record(rb));
    const auto d = s.on_outcome(a, status_reply(402));
    BOOST_TEST(d.ec == code(err::monthly_limit));
    poll();
    BOOST_TEST(rb.ec == code(err::monthly_limit));
    auto c = s.make_ticket();
    result rc;
    s.async_admit(c, record(rc));
    poll();
    BOOST_TEST(rc.ec == code(err::monthly_limit));
    s.reset_credits_exhausted();
    auto e = s.make_ticket();
    admit_now(s, e);
}

BOOST_FIXTURE_TEST_CASE(queue_full_fails_fast_when_configured, fixture)
{
    scheduler_options o = one_at_a_time();
    o.max_queue = 1;
    o.fail_when_full = true;
    auto s = make(o);
    auto a = s.make_ticket();
    admit_now(s, a);
    auto b = s.make_ticket(), c = s.make_ticket();
    result rb, rc;
    s.async_admit(b, record(rb));
    s.async_admit(c, record(rc));
    poll();
    BOOST_TEST(!rb.done);
    BOOST_TEST(rc.ec == code(err::queue_full));
}

BOOST_FIXTURE_TEST_CASE(priorities_through_the_wrapper, fixture)
{
    auto s = make(one_at_a_time());
    auto a = s.make_ticket();
    admit_now(s, a);
    std::vector<int> order;
    auto lo = s.make_ticket(priority::low), hi = s.make_ticket(priority::high);
    s.async_admit(lo, [&](error_code) { order.push_back(2); });
    s.async_admit(hi, [&](error_code) { order.push_back(0); });
    s.on_outcome(a, ok_reply());
    poll();
    s.on_outcome(hi, ok_reply());
    poll();
    BOOST_TEST(order == (std::vector<int>{0, 2}), boost::test_tools::per_element());
}

BOOST_FIXTURE_TEST_CASE(dropping_tickets_releases_their_place, fixture)
{
    auto s = make(one_at_a_time());
    auto a = s.make_ticket();
    admit_now(s, a);
    auto b = s.make_ticket();
    result rb;
    s.async_admit(b, record(rb));
    poll();
    b.reset(); // (misuse: the operation is still pending) it completes, aborted
    poll();
    BOOST_TEST(rb.ec == error_code(asio::error::operation_aborted));
    BOOST_TEST(s.counters().queue_length == 0u);
    a.reset(); // admitted, no outcome: no longer in flight
    BOOST_TEST(s.counters().in_flight == 0u);
    auto c = s.make_ticket();
    admit_now(s, c);
}

BOOST_FIXTURE_TEST_CASE(misuse_fails_with_invalid_argument, fixture)
{
    auto s = make();
    auto other = make();
    scheduler::ticket empty;
    result r1, r2, r3;
    s.async_admit(empty, record(r1));
    auto foreign = other.make_ticket();
    s.async_admit(foreign, record(r2));
    auto t = s.make_ticket();
    admit_now(s, t);
    s.async_admit(t, record(r3)); // already in flight
    poll();
    BOOST_TEST(r1.ec == code(err::invalid_argument));
    BOOST_TEST(r2.ec == code(err::invalid_argument));
    BOOST_TEST(r3.ec == code(err::invalid_argument));
    BOOST_TEST(s.on_outcome(foreign, ok_reply()).ec == code(err::invalid_argument));
}

BOOST_FIXTURE_TEST_CASE(handler_runs_on_its_associated_executor, fixture)
{
    auto s = make();
    auto strand = asio::make_strand(ioc);
    auto t = s.make_ticket();
    bool on_strand = false;
    s.async_admit(t, asio::bind_executor(strand, [&](error_code) { on_strand = strand.running_in_this_thread(); }));
    poll();
    BOOST_TEST(on_strand);
}

BOOST_FIXTURE_TEST_CASE(coroutine_retry_loop_with_a_replaced_policy, fixture)
{
    auto policy = std::make_shared<immediate_retry>();
    scheduler_options o;
    o.retry = policy;
    auto s = make(o);
    int attempts = 0;
    error_code final_ec = err::bad_response;
    asio::co_spawn(
        ioc,
        [&]() -> asio::awaitable<void> {
            auto t = s.make_ticket();
            for (;;) {
                auto [ec] = co_await s.async_admit(t, asio::as_tuple(asio::deferred));
                if (ec) {
                    final_ec = ec;
                    co_return;
                }
                ++attempts;
                // First a 403, then a reset connection before anything was written, then 200.
                attempt_outcome out;
                if (attempts == 1) {
                    out = status_reply(403);
                } else if (attempts == 2) {
                    out.ec = make_error_code(boost::system::errc::connection_reset);
                } else {
                    out = ok_reply();
                }
                const auto d = s.on_outcome(t, out);
                if (!d.retry) {
                    final_ec = d.ec;
                    co_return;
                }
            }
        },
        asio::detached);
    poll();
    BOOST_TEST(attempts == 3);
    BOOST_TEST(!final_ec);
    BOOST_TEST(policy->asked == 2);
    const auto k = s.counters();
    BOOST_TEST(k.retried_rate_limited == 1u);
    BOOST_TEST(k.retried_transport == 1u);
    BOOST_TEST(k.succeeded == 1u);
    BOOST_TEST(k.sent == 3u);
}

BOOST_AUTO_TEST_CASE(many_requests_on_a_strand_of_a_multithreaded_context)
{
    // Exercises the single-executor contract under a thread pool (run under TSan too).
    asio::io_context ioc{2};
    auto strand = asio::make_strand(ioc);
    scheduler_options o;
    o.max_in_flight = 4;
    o.pace = false;
    scheduler s{strand, o};
    constexpr int n = 200;
    int done = 0, errors = 0;
    std::size_t peak = 0;
    for (int i = 0; i < n; ++i) {
        asio::co_spawn(
            strand,
            [&, i]() -> asio::awaitable<void> {
                auto t = s.make_ticket(i % 3 == 0 ? priority::high : priority::normal);
                auto [ec] = co_await s.async_admit(t, asio::as_tuple(asio::deferred));
                if (ec) {
                    ++errors;
                    co_return;
                }
                peak = std::max(peak, s.counters().in_flight);
                co_await asio::post(strand, asio::use_awaitable); // "the exchange"
                attempt_outcome out;
                out.http_status = 200;
                s.on_outcome(t, out);
                ++done;
            },
            asio::detached);
    }
    std::thread other([&] { ioc.run(); });
    ioc.run();
    other.join();
    BOOST_TEST(done == n);
    BOOST_TEST(errors == 0);
    BOOST_TEST(peak <= 4u);
    BOOST_TEST(s.counters().succeeded == static_cast<std::uint64_t>(n));
}

BOOST_AUTO_TEST_SUITE_END()
