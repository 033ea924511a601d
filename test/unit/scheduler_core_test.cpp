// The scheduler's decision logic on a virtual clock: no sockets, no timers, no sleeps.
#include <carcheck/detail/scheduler_core.hpp>
#include <carcheck/error.hpp>
#include <carcheck/rate_limit.hpp>
#include <carcheck/retry_policy.hpp>

#include <boost/beast/http/fields.hpp>
#include <boost/system/errc.hpp>
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <vector>

namespace {

using namespace std::chrono_literals;
using carcheck::attempt_outcome;
using carcheck::backoff_options;
using carcheck::exponential_backoff;
using carcheck::priority;
using carcheck::retry_decision;
using carcheck::scheduler_options;
using carcheck::detail::admit_result;
using carcheck::detail::core_event;
using carcheck::detail::request_id;
using carcheck::detail::sched_time;
using carcheck::detail::scheduler_core;
using err = carcheck::error;

carcheck::error_code code(err e) { return make_error_code(e); }

// A whole second, so that Date headers (second resolution) are exact.
const sched_time t0{std::chrono::seconds{1'700'000'000}};

std::int64_t epoch_of(sched_time t)
{
    return std::chrono::floor<std::chrono::seconds>(t.time_since_epoch()).count();
}

// Pacing and the adaptive in-flight limit off: these tests are about the window itself
// (holds, resets, caps, retries), and check each send; pacing, which spreads the sends over
// the window, and the adaptive limit have their tests below.
scheduler_options seeded(scheduler_options o = {}, unsigned max_attempts = 3)
{
    o.pace = false;
    o.adaptive_concurrency = false;
    o.seed = 42;
    backoff_options b;
    b.max_attempts = max_attempts;
    b.seed = 42;
    o.retry = std::make_shared<exponential_backoff>(b);
    return o;
}

// A 200 reply carrying the rate-limit headers given (none when empty).
attempt_outcome reply(unsigned status, std::optional<std::int64_t> remaining = {},
                      std::optional<std::int64_t> reset = {}, std::optional<std::int64_t> limit = {},
                      std::optional<sched_time> date = {})
{
    attempt_outcome o;
    o.http_status = status;
    o.response_bytes_received = true;
    o.request_fully_written = true;
    o.rate_limit.remaining = remaining;
    o.rate_limit.reset_epoch = reset;
    o.rate_limit.limit = limit;
    o.rate_limit.server_date = date;
    if (status != 200)
        o.ec = carcheck::error_from_status(status);
    return o;
}

attempt_outcome transport_failure(bool written, bool bytes, carcheck::error_code ec =
                                                               make_error_code(boost::system::errc::connection_reset))
{
    attempt_outcome o;
    o.ec = ec;
    o.request_fully_written = written;
    o.response_bytes_received = bytes;
    return o;
}

std::vector<request_id> drain(scheduler_core& c, sched_time now, carcheck::error_code expect = {})
{
    std::vector<request_id> out;
    while (auto e = c.next_event(now)) {
        BOOST_TEST(e->ec == expect);
        out.push_back(e->id);
    }
    return out;
}

// Opens and requests one request; returns its id and what request() said.
std::pair<request_id, admit_result> submit(scheduler_core& c, sched_time now, priority p = priority::normal)
{
    const request_id id = c.open(p);
    return {id, c.request(now, id)};
}

bool sent(const admit_result& r) { return r.what == admit_result::send_now; }
bool queued(const admit_result& r) { return r.what == admit_result::queued; }

// A server on the virtual clock for the adaptive in-flight limit: each request is counted in
// its fixed window when it arrives (200 with X-RateLimit-* while the window has room, else
// 403) and answered `latency(in_flight)` later. Runs `count` requests through the core.
struct latency_run {
    sched_time finished{};
    std::size_t peak_limit = 0;   // largest in_flight_limit seen
    std::size_t peak_in_flight = 0;
    std::size_t final_limit = 0;
    std::uint64_t refused = 0;
    std::vector<std::pair<sched_time, std::size_t>> limits; // in_flight_limit after each reply
};

template <class Latency>
latency_run run_latency_bound(scheduler_options o, std::size_t count, std::int64_t limit, std::chrono::seconds window,
                              Latency latency, bool headers = true, sched_time until = t0 + 600s)
{
    scheduler_core c{o};
    latency_run out;
    struct pending {
        request_id id;
        attempt_outcome reply;
    };
    std::multimap<sched_time, pending> replies;
    std::int64_t window_index = -1, used = 0;
    std::size_t done = 0;
    sched_time now = t0;
    auto send = [&](request_id id) {
        const std::int64_t index = epoch_of(now) / window.count();
        if (index != window_index) {
            window_index = index;
            used = 0;
        }
        const bool room = limit == 0 || used < limit;
        if (room)
            ++used;
        attempt_outcome r;
        if (headers && limit > 0)
            r = reply(room ? 200 : 403, limit - used, (index + 1) * window.count(), limit, now);
        else
            r = reply(200);
        const auto flying = c.counters(now).in_flight;
        replies.emplace(now + latency(flying), pending{id, r});
    };
    for (std::size_t i = 0; i < count; ++i) {
        auto [id, r] = submit(c, now);
        if (sent(r))
            send(id);
    }
    while (done < count && now < until) {
        while (!replies.empty() && replies.begin()->first <= now) {
            const pending p = replies.begin()->second;
            replies.erase(replies.begin());
            if (p.reply.http_status == 403)
                ++out.refused;
            const retry_decision d = c.on_outcome(now, p.id, p.reply);
            if (d.retry) {
                if (sent(c.request(now, p.id)))
                    send(p.id);
            } else {
                ++done;
                c.release(now, p.id);
            }
            const auto k = c.counters(now);
            out.limits.emplace_back(now, k.in_flight_limit.value_or(0));
        }
        while (auto e = c.next_event(now))
            if (!e->ec)
                send(e->id);
        const auto k = c.counters(now);
        out.peak_limit = std::max(out.peak_limit, k.in_flight_limit.value_or(0));
        out.peak_in_flight = std::max(out.peak_in_flight, k.in_flight);
        std::optional<sched_time> next = c.next_wakeup(now);
        if (!replies.empty())
            next = next ? std::min(*next, replies.begin()->first) : replies.begin()->first;
        if (!next)
            break;
        now = std::max(*next, now + 1us);
    }
    BOOST_TEST(done == count);
    out.finished = now;
    out.final_limit = c.counters(now).in_flight_limit.value_or(0);
    BOOST_TEST(c.counters(now).in_flight_peak == out.peak_in_flight);
    BOOST_TEST(c.counters(now).in_flight_limit_peak == out.peak_limit);
    return out;
}

scheduler_options adaptive(std::size_t cap = 64)
{
    scheduler_options o;
    o.seed = 42;
    o.max_adaptive_in_flight = cap;
    return o;
}

} // namespace

BOOST_AUTO_TEST_SUITE(scheduler_core_test)

BOOST_AUTO_TEST_CASE(without_limits_everything_is_sent_at_once)
{
    scheduler_core c{seeded()};
    for (int i = 0; i < 50; ++i)
        BOOST_TEST(sent(submit(c, t0).second));
    BOOST_TEST(!c.next_wakeup(t0).has_value());
    const auto k = c.counters(t0);
    BOOST_TEST(k.submitted == 50u);
    BOOST_TEST(k.sent == 50u);
    BOOST_TEST(k.in_flight == 50u);
    BOOST_TEST(k.queue_length == 0u);
}

BOOST_AUTO_TEST_CASE(window_spent_mid_batch_holds_until_reset_then_full_speed)
{
    scheduler_core c{seeded()};
    const auto reset = epoch_of(t0) + 10;
    auto [first, r0] = submit(c, t0);
    BOOST_REQUIRE(sent(r0));
    // 5 per window, 2 left, resets in 10 s. Date equals local time: no skew.
    c.on_outcome(t0, first, reply(200, 2, reset, 5, t0));
    BOOST_TEST(c.budget().value() == 2);

    std::vector<request_id> ids;
    std::vector<admit_result> res;
    for (int i = 0; i < 6; ++i) {
        auto [id, r] = submit(c, t0);
        ids.push_back(id);
        res.push_back(r);
    }
    BOOST_TEST(sent(res[0]));
    BOOST_TEST(sent(res[1]));
    for (int i = 2; i < 6; ++i)
        BOOST_TEST(queued(res[static_cast<std::size_t>(i)]));
    BOOST_TEST(drain(c, t0).empty());

    const sched_time release_at = sched_time{std::chrono::seconds{reset}} + 250ms; // margin
    BOOST_TEST((c.reset_time().value() == release_at));
    BOOST_TEST((c.next_wakeup(t0).value() == release_at));

    // The two in flight come back; nothing moves before the reset.
    c.on_outcome(t0 + 1s, ids[0], reply(200, 1, reset, 5, t0 + 1s));
    c.on_outcome(t0 + 2s, ids[1], reply(200, 0, reset, 5, t0 + 2s));
    BOOST_TEST(drain(c, t0 + 2s).empty());
    BOOST_TEST(drain(c, release_at - 1ms).empty());
    BOOST_TEST((c.next_wakeup(release_at - 1ms).value() == release_at));

    // At the reset all four go at once (the new window holds `limit` = 5).
    const auto released = drain(c, release_at);
    BOOST_TEST(released == std::vector<request_id>(ids.begin() + 2, ids.end()), boost::test_tools::per_element());
    BOOST_TEST(c.counters(release_at).in_flight == 4u);
    // Held: four requests from t0 to the release.
    BOOST_TEST((c.counters(release_at).throttled_time == 4 * (release_at - t0)));
    // The wall-clock time with at least one held is their union, not their sum.
    BOOST_TEST((c.counters(release_at).throttled_wall_time == release_at - t0));
}

BOOST_AUTO_TEST_CASE(requests_in_flight_count_against_remaining)
{
    scheduler_core c{seeded()};
    const auto reset = epoch_of(t0) + 30;
    std::vector<request_id> flying;
    for (int i = 0; i < 4; ++i) {
        auto [id, r] = submit(c, t0);
        BOOST_REQUIRE(sent(r));
        flying.push_back(id);
    }
    // Remaining 5 when three others are still out: only 2 more may go.
    c.on_outcome(t0, flying[0], reply(200, 5, reset, 10));
    BOOST_TEST(c.budget().value() == 2);
    BOOST_TEST(sent(submit(c, t0).second));
    BOOST_TEST(sent(submit(c, t0).second));
    BOOST_TEST(queued(submit(c, t0).second));
    BOOST_TEST(c.counters(t0).rate_remaining.value() == 0);
}

BOOST_AUTO_TEST_CASE(overtaken_reply_of_the_same_window_is_ignored)
{
    scheduler_core c{seeded()};
    const auto reset = epoch_of(t0) + 30;
    auto [a, ra] = submit(c, t0);
    auto [b, rb] = submit(c, t0);
    BOOST_REQUIRE(sent(ra) && sent(rb));
    c.on_outcome(t0, a, reply(200, 3, reset));
    BOOST_TEST(c.budget().value() == 2); // b still out
    // b's reply was produced earlier (Remaining higher): it must not raise the budget.
    c.on_outcome(t0, b, reply(200, 4, reset));
    BOOST_TEST(c.budget().value() == 2);
}

BOOST_AUTO_TEST_CASE(reset_in_the_past_does_not_hold)
{
    scheduler_core c{seeded()};
    auto [a, r] = submit(c, t0);
    BOOST_REQUIRE(sent(r));
    c.on_outcome(t0, a, reply(200, 0, epoch_of(t0) - 5, 10, t0));
    BOOST_TEST(!c.reset_time().has_value());
    BOOST_TEST(sent(submit(c, t0).second));
    BOOST_TEST(sent(submit(c, t0).second));
}

BOOST_AUTO_TEST_CASE(reset_absurdly_far_in_the_past_does_not_hold)
{
    // Found by fuzzing: a very negative epoch must not overflow the conversion to local time.
    for (std::int64_t past : {std::int64_t{-1}, std::int64_t{-9'000'000'000'000'000'000}}) {
        scheduler_core c{seeded()};
        auto [a, r] = submit(c, t0);
        BOOST_REQUIRE(sent(r));
        c.on_outcome(t0, a, reply(200, 0, past, 10, t0));
        BOOST_TEST(!c.reset_time().has_value());
        BOOST_TEST(sent(submit(c, t0).second));
    }
}

BOOST_AUTO_TEST_CASE(reset_far_in_the_future_is_capped)
{
    for (std::int64_t far : {std::int64_t{epoch_of(t0) + 1'000'000'000}, std::int64_t{9'000'000'000'000'000'000}}) {
        scheduler_options o = seeded();
        o.max_reset_wait = 300s;
        scheduler_core c{o};
        auto [a, r] = submit(c, t0);
        BOOST_REQUIRE(sent(r));
        c.on_outcome(t0, a, reply(200, 0, far, 10, t0));
        BOOST_TEST((c.reset_time().value() == t0 + 300s));
        auto [b, rb] = submit(c, t0);
        BOOST_TEST(queued(rb));
        BOOST_TEST((c.next_wakeup(t0).value() == t0 + 300s));
        BOOST_TEST(drain(c, t0 + 299s).empty());
        BOOST_TEST(drain(c, t0 + 300s) == std::vector<request_id>{b}, boost::test_tools::per_element());
    }
}

BOOST_AUTO_TEST_CASE(local_clock_behind_is_corrected_by_date)
{
    scheduler_core c{seeded()};
    // The local clock is an hour behind the server's.
    const sched_time server_now = t0 + 3600s;
    auto [a, r] = submit(c, t0);
    BOOST_REQUIRE(sent(r));
    c.on_outcome(t0, a, reply(200, 0, epoch_of(server_now) + 10, 10, server_now));
    BOOST_TEST((c.clock_offset() == 3600s));
    // Uncorrected this would wait 3610 s (or the cap); corrected it is 10 s + margin.
    BOOST_TEST((c.reset_time().value() == t0 + 10s + 250ms));
    auto [b, rb] = submit(c, t0);
    BOOST_TEST(queued(rb));
    BOOST_TEST(drain(c, t0 + 10s + 250ms) == std::vector<request_id>{b}, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(local_clock_ahead_is_corrected_by_date)
{
    scheduler_core c{seeded()};
    // The local clock is an hour ahead: uncorrected, the reset would look long past.
    const sched_time local = t0 + 3600s;
    auto [a, r] = submit(c, local);
    BOOST_REQUIRE(sent(r));
    c.on_outcome(local, a, reply(200, 0, epoch_of(t0) + 10, 10, t0));
    BOOST_TEST((c.clock_offset() == -3600s));
    BOOST_TEST((c.reset_time().value() == local + 10s + 250ms));
    BOOST_TEST(queued(submit(c, local).second));
}

BOOST_AUTO_TEST_CASE(offset_keeps_the_best_sample_and_follows_clock_steps)
{
    scheduler_core c{seeded()};
    auto once = [&](sched_time local, sched_time date) {
        auto [id, r] = submit(c, local);
        BOOST_REQUIRE(sent(r));
        attempt_outcome o = reply(200);
        o.rate_limit.server_date = date;
        o.received_at = local;
        c.on_outcome(local + 5s, id, o); // received_at, not "now", is what counts
    };
    once(t0 + 700ms, t0); // Date truncated: the sample is 700 ms low
    BOOST_TEST((c.clock_offset() == -700ms));
    once(t0 + 2100ms, t0 + 2s); // a better sample
    BOOST_TEST((c.clock_offset() == -100ms));
    once(t0 + 3900ms, t0 + 3s); // worse, within Date's resolution: kept the better one
    BOOST_TEST((c.clock_offset() == -100ms));
    once(t0 + 10s, t0 + 5s); // five seconds off: a clock was stepped, follow it
    BOOST_TEST((c.clock_offset() == -5s));
}

BOOST_AUTO_TEST_CASE(missing_and_malformed_headers_are_tolerated)
{
    scheduler_core c{seeded()};
    boost::beast::http::fields f;
    f.set("X-RateLimit-Limit", "lots");
    f.set("X-Ratelimit-Remaining", "-3");
    f.set("X-Ratelimit-Reset", "soon");
    f.set(boost::beast::http::field::date, "yesterday");
    auto [a, r] = submit(c, t0);
    BOOST_REQUIRE(sent(r));
    attempt_outcome o = reply(200);
    o.rate_limit = carcheck::parse_rate_limit(f);
    BOOST_TEST(c.on_outcome(t0, a, o).ec == carcheck::error_code{});
    BOOST_TEST(!c.budget().has_value());
    BOOST_TEST((c.clock_offset() == 0s));
    for (int i = 0; i < 5; ++i)
        BOOST_TEST(sent(submit(c, t0).second));
}

BOOST_AUTO_TEST_CASE(spent_window_without_reset_waits_for_replies_then_a_fixed_time)
{
    scheduler_core c{seeded()};
    auto [a, ra] = submit(c, t0);
    auto [b, rb] = submit(c, t0);
    BOOST_REQUIRE(sent(ra) && sent(rb));
    // Remaining 0 but no usable reset.
    c.on_outcome(t0, a, reply(200, 0));
    auto [x, rx] = submit(c, t0);
    BOOST_TEST(queued(rx));
    BOOST_TEST(!c.next_wakeup(t0).has_value()); // b's reply will tell more
    // b's reply has no headers: nothing in flight will tell, wait unknown_reset_wait.
    c.on_outcome(t0 + 100ms, b, reply(200));
    BOOST_TEST((c.next_wakeup(t0 + 100ms).value() == t0 + 1100ms));
    BOOST_TEST(drain(c, t0 + 1099ms).empty());
    BOOST_TEST(drain(c, t0 + 1100ms) == std::vector<request_id>{x}, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(new_window_admits_only_limit_until_replies_tell_more)
{
    scheduler_core c{seeded()};
    const auto reset = epoch_of(t0) + 1;
    auto [a, r] = submit(c, t0);
    BOOST_REQUIRE(sent(r));
    c.on_outcome(t0, a, reply(200, 0, reset, 3, t0));
    std::vector<request_id> ids;
    for (int i = 0; i < 5; ++i) {
        auto [id, rr] = submit(c, t0);
        BOOST_REQUIRE(queued(rr));
        ids.push_back(id);
    }
    const auto released = drain(c, t0 + 1250ms);
    BOOST_TEST(released == std::vector<request_id>(ids.begin(), ids.begin() + 3), boost::test_tools::per_element());
    BOOST_TEST(!c.next_wakeup(t0 + 1250ms).has_value()); // waits for replies
    // A reply of the new window: remaining 5 with the two others out -> 3 more.
    c.on_outcome(t0 + 1300ms, ids[0], reply(200, 5, reset + 1, 8, t0 + 1s));
    BOOST_TEST(drain(c, t0 + 1300ms) == std::vector<request_id>(ids.begin() + 3, ids.end()),
               boost::test_tools::per_element());
}

// Pacing: a core on the default options, driven in 1 ms steps through one 2 s window of
// 40 requests. Each send is answered at once; `others` more requests of the same key are
// counted by the server for each of ours (other replicas).
struct paced_run {
    std::vector<sched_time> sends;
    double share = 0;
    std::chrono::nanoseconds throttled_wall{};
};

paced_run pace_through_window(std::int64_t others, std::uint64_t seed = 7)
{
    scheduler_options o;
    o.seed = seed;
    scheduler_core c{o};
    const std::int64_t limit = 40;
    const sched_time start = t0; // a window boundary: the window is [t0, t0 + 2 s)
    const auto reset = epoch_of(t0) + 2;
    std::int64_t used = 0;
    std::vector<request_id> ids;
    for (int i = 0; i < 100; ++i)
        ids.push_back(c.open(priority::normal));
    paced_run run;
    auto answer = [&](sched_time now, request_id id) {
        run.sends.push_back(now);
        used = std::min(limit, used + 1 + others);
        const sched_time date{std::chrono::floor<std::chrono::seconds>(now.time_since_epoch())};
        c.on_outcome(now, id, reply(200, limit - used, reset, limit, date));
    };
    for (auto id : ids)
        if (sent(c.request(start, id)))
            answer(start, id);
    for (sched_time now = start; now < start + 2s; now += 1ms)
        while (auto e = c.next_event(now)) {
            BOOST_REQUIRE(!e->ec);
            answer(now, e->id);
        }
    run.share = c.share();
    run.throttled_wall = c.counters(start + 2s).throttled_wall_time;
    return run;
}

BOOST_AUTO_TEST_CASE(first_request_probes_the_limit_alone)
{
    scheduler_core c{scheduler_options{}};
    auto [a, ra] = submit(c, t0);
    BOOST_REQUIRE(sent(ra));
    std::vector<request_id> rest;
    for (int i = 0; i < 5; ++i) {
        auto [id, r] = submit(c, t0);
        BOOST_TEST(queued(r)); // a burst before the limit is known could be refused whole
        rest.push_back(id);
    }
    // Waits for the reply, or unknown_reset_wait (1 s) for a slow one.
    BOOST_TEST((c.next_wakeup(t0).value() == t0 + 1s));
    BOOST_TEST(drain(c, t0 + 5ms).empty());
    // A reply without rate-limit headers: nothing to pace against, everything goes.
    c.on_outcome(t0 + 5ms, a, reply(200));
    BOOST_TEST(drain(c, t0 + 5ms) == rest, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(slow_first_request_holds_the_others_one_second_at_most)
{
    scheduler_core c{scheduler_options{}};
    auto [a, ra] = submit(c, t0);
    BOOST_REQUIRE(sent(ra));
    auto [b, rb] = submit(c, t0);
    BOOST_REQUIRE(queued(rb));
    BOOST_TEST(drain(c, t0 + 999ms).empty());
    BOOST_TEST(drain(c, t0 + 1s) == std::vector<request_id>{b}, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(pacing_spreads_the_window_instead_of_a_burst)
{
    const paced_run run = pace_through_window(0);
    // Alone: the whole window is used, evenly (before pacing all 40 went at once).
    BOOST_TEST(run.sends.size() == 40u);
    const auto first_half = std::count_if(run.sends.begin(), run.sends.end(), [](sched_time t) { return t < t0 + 1s; });
    BOOST_TEST(first_half >= 18);
    BOOST_TEST(first_half <= 23);
    std::size_t most_in_100ms = 0;
    for (auto t : run.sends)
        most_in_100ms = std::max<std::size_t>(
            most_in_100ms, static_cast<std::size_t>(std::count_if(run.sends.begin(), run.sends.end(), [&](sched_time u) {
                return u >= t && u < t + 100ms;
            })));
    BOOST_TEST(most_in_100ms <= 4u); // 2 per 100 ms on average, the bucket allows 2 more
    BOOST_TEST(run.share == 1.0);
    // Requests waited the whole window, held by pacing (until its last ~100 ms) and then by
    // the spent window: both are the rate limit holding them, and the counter says so.
    BOOST_TEST((run.throttled_wall >= 1900ms));
}

BOOST_AUTO_TEST_CASE(pacing_learns_the_share_of_others_from_remaining)
{
    // Three requests of others for each of ours: the window holds 10 of ours, and they are
    // spread over it rather than spent while others still need theirs.
    const paced_run run = pace_through_window(3);
    BOOST_TEST(run.share == 0.25, boost::test_tools::tolerance(0.01));
    BOOST_TEST(run.sends.size() == 10u);
    BOOST_TEST((run.sends.back() - run.sends.front() > 1200ms));
}

BOOST_AUTO_TEST_CASE(a_client_back_after_idle_windows_counts_what_was_spent_meanwhile_as_history)
{
    // Windows of 10 s and 10,000 requests. The client sends in two windows in a row (so it
    // knows the step), sits out three, and comes back into a window others have half spent
    // and left. Its share follows what Remaining does after its return, not the 5,000.
    scheduler_core c{seeded()}; // the share is estimated with pacing off too; every send goes at once
    const std::int64_t limit = 10'000;
    std::int64_t remaining = limit;
    auto one = [&](sched_time now, std::int64_t reset) {
        auto [id, r] = submit(c, now);
        BOOST_REQUIRE(sent(r));
        c.on_outcome(now, id, reply(200, --remaining, reset, limit, now));
    };
    const std::int64_t e0 = epoch_of(t0) - epoch_of(t0) % 10;
    const sched_time w0{std::chrono::seconds{e0}};
    one(w0 + 1s, e0 + 10);
    remaining = limit;
    one(w0 + 11s, e0 + 20);
    BOOST_TEST(c.share() == 1.0);
    remaining = limit - 5'000; // window [e0 + 50, e0 + 60): others spent 5,000 and stopped
    one(w0 + 51s, e0 + 60);
    for (int i = 0; i < 48; ++i)
        one(w0 + 51s + std::chrono::milliseconds{i + 1}, e0 + 60);
    // 48 replies since its return, Remaining falling by one each: (48 + 16/5,001) / (48 + 16).
    BOOST_TEST(c.share() >= 0.74);
}

BOOST_AUTO_TEST_CASE(replicas_start_at_random_offsets_after_a_reset)
{
    // Two replicas held by a spent window: after the reset each waits a random time within
    // 5 % of the window (2 s), so they do not start at the same instant.
    std::vector<sched_time> first;
    for (std::uint64_t seed : {1u, 2u}) {
        scheduler_options o;
        o.seed = seed;
        scheduler_core c{o};
        auto [a, ra] = submit(c, t0);
        BOOST_REQUIRE(sent(ra));
        c.on_outcome(t0, a, reply(200, 0, epoch_of(t0) + 2, 40, t0));
        auto [b, rb] = submit(c, t0);
        BOOST_REQUIRE(queued(rb));
        const sched_time reset_at = t0 + 2s + 250ms; // margin included
        sched_time now = t0;
        while (drain(c, now).empty()) {
            const auto w = c.next_wakeup(now);
            BOOST_REQUIRE(w.has_value());
            BOOST_REQUIRE((*w > now));
            now = *w;
        }
        BOOST_TEST((now >= reset_at));
        BOOST_TEST((now <= reset_at + 100ms));
        first.push_back(now);
    }
    BOOST_TEST((first[0] != first[1]));
}

BOOST_AUTO_TEST_CASE(backoff_ceiling_grows_and_is_capped)
{
    exponential_backoff p{backoff_options{}};
    BOOST_TEST((p.ceiling(1) == 100ms));
    BOOST_TEST((p.ceiling(2) == 200ms));
    BOOST_TEST((p.ceiling(3) == 400ms));
    BOOST_TEST((p.ceiling(7) == 6400ms));
    BOOST_TEST((p.ceiling(8) == 10s));
    BOOST_TEST((p.ceiling(1000) == 10s));
}

BOOST_AUTO_TEST_CASE(backoff_jitter_stays_within_bounds_and_is_reproducible)
{
    backoff_options o;
    o.max_attempts = 100;
    o.seed = 7;
    exponential_backoff p{o}, q{o};
    carcheck::retry_context ctx;
    ctx.reason = carcheck::retry_reason::transport;
    for (unsigned n = 1; n <= 9; ++n) {
        ctx.attempts = n;
        std::set<std::int64_t> distinct;
        std::chrono::nanoseconds sum{};
        for (int i = 0; i < 400; ++i) {
            const auto d = p.next_delay(ctx).value();
            BOOST_TEST((q.next_delay(ctx).value() == d)); // same seed, same sequence
            BOOST_TEST(d.count() >= 0);
            BOOST_TEST((d <= p.ceiling(n)));
            distinct.insert(d.count());
            sum += d;
        }
        BOOST_TEST(distinct.size() > 300u); // jittered, not a constant
        const double mean = static_cast<double>((sum / 400).count());
        const double half = static_cast<double>(p.ceiling(n).count()) / 2;
        BOOST_TEST(mean > 0.8 * half);
        BOOST_TEST(mean < 1.2 * half);
    }
    ctx.attempts = 100;
    BOOST_TEST(!p.next_delay(ctx).has_value());
    // A 403 with a known reset waits for it exactly.
    ctx.attempts = 1;
    ctx.reason = carcheck::retry_reason::rate_limited;
    ctx.until_reset = 3s;
    BOOST_TEST((p.next_delay(ctx).value() == 3s));
}

BOOST_AUTO_TEST_CASE(rate_limited_storm_without_reset_is_bounded_by_time_and_backs_off)
{
    // 403s are free to repeat: they are retried well past max_attempts (3), for
    // max_rate_limited_wait, with a growing jittered back-off while no reset is known.
    scheduler_options o = seeded({}, 3);
    o.max_rate_limited_wait = 60s;
    scheduler_core c{o};
    exponential_backoff bounds{backoff_options{}};
    const request_id id = c.open(priority::normal);
    sched_time now = t0;
    std::vector<retry_decision> decisions;
    for (int attempt = 1;; ++attempt) {
        BOOST_REQUIRE(attempt <= 100);
        admit_result r = c.request(now, id);
        if (!sent(r)) {
            BOOST_REQUIRE(queued(r));
            const auto wake = c.next_wakeup(now).value();
            BOOST_TEST(drain(c, wake) == std::vector<request_id>{id}, boost::test_tools::per_element());
            now = wake;
        }
        const retry_decision d = c.on_outcome(now, id, reply(403));
        decisions.push_back(d);
        if (!d.retry)
            break;
        BOOST_TEST((d.delay <= bounds.ceiling(static_cast<unsigned>(attempt))));
        BOOST_TEST((now + d.delay - t0 <= 60s));
        // No reset known: every request is held for the back-off, not just this one.
        if (d.delay > 0ns)
            BOOST_TEST((c.reset_time().value() == now + d.delay));
    }
    BOOST_TEST(decisions.size() > 3u);
    BOOST_TEST(decisions.back().ec == code(err::rate_limited));
    // It gave up because the next wait would have crossed the budget, not before.
    BOOST_TEST((now - t0 > 60s - bounds.ceiling(100)));
    const auto k = c.counters(now);
    BOOST_TEST(k.responses_403 == decisions.size());
    BOOST_TEST(k.retried_rate_limited == decisions.size() - 1);
    BOOST_TEST(k.rate_limited_given_up == 1u);
    BOOST_TEST(k.failed == 1u);
}

BOOST_AUTO_TEST_CASE(rate_limited_wait_of_zero_fails_the_first_403)
{
    scheduler_options o = seeded();
    o.max_rate_limited_wait = 0ms;
    scheduler_core c{o};
    auto [a, r] = submit(c, t0);
    BOOST_REQUIRE(sent(r));
    const auto d = c.on_outcome(t0, a, reply(403, 0, epoch_of(t0) + 5, 10, t0));
    BOOST_TEST(!d.retry);
    BOOST_TEST(d.ec == code(err::rate_limited));
}

BOOST_AUTO_TEST_CASE(attempts_bound_connection_failures_not_403s)
{
    // Five 403s, then connection failures: max_attempts (3) counts only the latter.
    scheduler_core c{seeded({}, 3)};
    const request_id id = c.open(priority::normal);
    sched_time now = t0;
    auto attempt = [&](const attempt_outcome& o) {
        admit_result r = c.request(now, id);
        if (!sent(r)) {
            BOOST_REQUIRE(queued(r));
            now = c.next_wakeup(now).value();
            BOOST_REQUIRE(drain(c, now) == std::vector<request_id>{id});
        }
        return c.on_outcome(now, id, o);
    };
    for (int i = 0; i < 5; ++i) {
        const auto reset = epoch_of(now) + 1;
        BOOST_TEST(attempt(reply(403, 0, reset, 10, now)).retry);
    }
    BOOST_TEST(attempt(transport_failure(false, false)).retry);
    BOOST_TEST(attempt(transport_failure(false, false)).retry);
    const auto last = attempt(transport_failure(false, false));
    BOOST_TEST(!last.retry);
    BOOST_TEST(last.ec == make_error_code(boost::system::errc::connection_reset));
    BOOST_TEST(c.counters(now).retried_rate_limited == 5u);
    BOOST_TEST(c.counters(now).retried_transport == 2u);
}

BOOST_AUTO_TEST_CASE(rate_limited_with_reset_waits_for_the_reset)
{
    scheduler_core c{seeded()};
    const auto reset = epoch_of(t0) + 20;
    std::vector<request_id> ids;
    for (int i = 0; i < 3; ++i) {
        auto [id, r] = submit(c, t0);
        BOOST_REQUIRE(sent(r));
        ids.push_back(id);
    }
    const sched_time release_at = sched_time{std::chrono::seconds{reset}} + 250ms;
    // All three refused (a storm): each retries once, at the reset.
    for (auto id : ids) {
        const auto d = c.on_outcome(t0 + 1s, id, reply(403, 0, reset, 3, t0 + 1s));
        BOOST_TEST(d.retry);
        BOOST_TEST((d.delay == release_at - (t0 + 1s)));
        BOOST_TEST(queued(c.request(t0 + 1s, id)));
    }
    auto [late, rl] = submit(c, t0 + 2s);
    BOOST_TEST(queued(rl));
    BOOST_TEST((c.next_wakeup(t0 + 2s).value() == release_at));
    BOOST_TEST(drain(c, release_at - 1ns).empty());
    // Retries keep their place ahead of the later request; the new window holds 3.
    BOOST_TEST(drain(c, release_at) == ids, boost::test_tools::per_element());
    BOOST_TEST(c.counters(release_at).queue_length == 1u);
    const auto k = c.counters(release_at);
    BOOST_TEST(k.retried_rate_limited == 3u);
    BOOST_TEST(k.throttled_time > 3 * (release_at - (t0 + 1s)) - 1ns);
}

BOOST_AUTO_TEST_CASE(monthly_limit_fails_queued_and_new_until_reset)
{
    scheduler_options o = seeded();
    o.max_in_flight = 1;
    scheduler_core c{o};
    auto [a, ra] = submit(c, t0);
    BOOST_REQUIRE(sent(ra));
    auto [b, rb] = submit(c, t0, priority::low);
    auto [x, rx] = submit(c, t0, priority::high);
    BOOST_REQUIRE(queued(rb) && queued(rx));

    const auto d = c.on_outcome(t0 + 1s, a, reply(402));
    BOOST_TEST(!d.retry);
    BOOST_TEST(d.ec == code(err::monthly_limit));
    BOOST_TEST(drain(c, t0 + 1s, err::monthly_limit) == (std::vector<request_id>{x, b}),
               boost::test_tools::per_element());
    BOOST_TEST(c.credits_exhausted());

    auto [n, rn] = submit(c, t0 + 2s);
    BOOST_TEST(rn.what == admit_result::failed);
    BOOST_TEST(rn.ec == code(err::monthly_limit));
    BOOST_TEST(c.counters(t0 + 2s).responses_402 == 1u);
    BOOST_TEST(c.counters(t0 + 2s).failed == 4u);

    c.reset_credits_exhausted(t0 + 3s);
    BOOST_TEST(sent(submit(c, t0 + 3s).second));
    BOOST_TEST(!c.counters(t0 + 3s).credits_exhausted);
}

BOOST_AUTO_TEST_CASE(pending_retry_fails_after_a_402_elsewhere)
{
    scheduler_core c{seeded()};
    auto [a, ra] = submit(c, t0);
    auto [b, rb] = submit(c, t0);
    BOOST_REQUIRE(sent(ra) && sent(rb));
    BOOST_TEST(c.on_outcome(t0, a, transport_failure(false, false)).retry);
    c.on_outcome(t0, b, reply(402));
    const auto r = c.request(t0, a);
    BOOST_TEST(r.what == admit_result::failed);
    BOOST_TEST(r.ec == code(err::monthly_limit));
}

BOOST_AUTO_TEST_CASE(requests_per_second_cap)
{
    scheduler_options o = seeded();
    o.requests_per_second = 10.0;
    scheduler_core c{o};
    auto [a, ra] = submit(c, t0);
    auto [b, rb] = submit(c, t0);
    auto [x, rx] = submit(c, t0);
    BOOST_TEST(sent(ra));
    BOOST_TEST(queued(rb));
    BOOST_TEST(queued(rx));
    BOOST_TEST((c.next_wakeup(t0).value() == t0 + 100ms));
    BOOST_TEST(drain(c, t0 + 99ms).empty());
    BOOST_TEST(drain(c, t0 + 100ms) == std::vector<request_id>{b}, boost::test_tools::per_element());
    BOOST_TEST((c.next_wakeup(t0 + 100ms).value() == t0 + 200ms));
    BOOST_TEST(drain(c, t0 + 200ms) == std::vector<request_id>{x}, boost::test_tools::per_element());
    // The cap is not rate-limit throttling.
    BOOST_TEST((c.counters(t0 + 200ms).throttled_time == 0ns));
    // But it holds requests: from t0 until the last one left at t0 + 200 ms.
    BOOST_TEST((c.counters(t0 + 200ms).throttled_wall_time == 200ms));
    BOOST_TEST((c.counters(t0 + 300ms).throttled_wall_time == 200ms)); // nothing held since
}

BOOST_AUTO_TEST_CASE(requests_per_second_burst)
{
    scheduler_options o = seeded();
    o.requests_per_second = 4.0;
    o.burst = 3.0;
    scheduler_core c{o};
    for (int i = 0; i < 3; ++i)
        BOOST_TEST(sent(submit(c, t0).second));
    auto [d, rd] = submit(c, t0);
    BOOST_TEST(queued(rd));
    BOOST_TEST((c.next_wakeup(t0).value() == t0 + 250ms));
    // After a long pause the bucket holds `burst`, not more.
    BOOST_TEST(drain(c, t0 + 10s).size() == 1u);
    for (int i = 0; i < 2; ++i)
        BOOST_TEST(sent(submit(c, t0 + 10s).second));
    BOOST_TEST(queued(submit(c, t0 + 10s).second));
}

BOOST_AUTO_TEST_CASE(invalid_caps_are_rejected)
{
    scheduler_options o;
    o.requests_per_second = 0.0;
    BOOST_CHECK_THROW(scheduler_core{o}, std::invalid_argument);
    o.requests_per_second.reset();
    o.max_in_flight = 0;
    BOOST_CHECK_THROW(scheduler_core{o}, std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(max_in_flight_cap)
{
    scheduler_options o = seeded();
    o.max_in_flight = 2;
    scheduler_core c{o};
    auto [a, ra] = submit(c, t0);
    auto [b, rb] = submit(c, t0);
    auto [x, rx] = submit(c, t0);
    BOOST_TEST((sent(ra) && sent(rb)));
    BOOST_TEST(queued(rx));
    BOOST_TEST(!c.next_wakeup(t0).has_value()); // only an outcome can help
    c.on_outcome(t0 + 1s, a, reply(200));
    BOOST_TEST(drain(c, t0 + 1s) == std::vector<request_id>{x}, boost::test_tools::per_element());
    // An admitted attempt whose ticket is dropped frees its slot too.
    c.release(t0 + 2s, b);
    BOOST_TEST(c.counters(t0 + 2s).in_flight == 1u);
    BOOST_TEST(sent(submit(c, t0 + 2s).second));
}

BOOST_AUTO_TEST_CASE(priorities_then_fifo)
{
    scheduler_options o = seeded();
    o.max_in_flight = 1;
    scheduler_core c{o};
    auto [first, rf] = submit(c, t0);
    BOOST_REQUIRE(sent(rf));
    const request_id low1 = submit(c, t0, priority::low).first;
    const request_id norm1 = submit(c, t0, priority::normal).first;
    const request_id high1 = submit(c, t0, priority::high).first;
    const request_id norm2 = submit(c, t0, priority::normal).first;
    const request_id high2 = submit(c, t0, priority::high).first;
    std::vector<request_id> order;
    request_id out = first;
    for (int i = 0; i < 5; ++i) {
        c.on_outcome(t0, out, reply(200));
        auto ev = drain(c, t0);
        BOOST_REQUIRE(ev.size() == 1u);
        out = ev.front();
        order.push_back(out);
    }
    BOOST_TEST(order == (std::vector<request_id>{high1, high2, norm1, norm2, low1}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(retry_keeps_its_place_before_later_arrivals)
{
    scheduler_options o = seeded();
    o.max_in_flight = 1;
    scheduler_core c{o};
    auto [a, ra] = submit(c, t0);
    BOOST_REQUIRE(sent(ra));
    const request_id later = submit(c, t0).first;
    const auto d = c.on_outcome(t0, a, transport_failure(false, false));
    BOOST_REQUIRE(d.retry);
    // The slot is free now and `later` takes it; a's retry waits its delay first.
    std::vector<request_id> ev = drain(c, t0);
    BOOST_TEST(ev == std::vector<request_id>{later}, boost::test_tools::per_element());
    const request_id later2 = submit(c, t0).first;
    const auto ra2 = c.request(t0, a);
    BOOST_TEST(queued(ra2));
    c.on_outcome(t0 + 1s, later, reply(200)); // the retry delay (<= 100 ms) is over
    BOOST_TEST(drain(c, t0 + 1s) == std::vector<request_id>{a}, boost::test_tools::per_element());
    c.on_outcome(t0 + 1s, a, reply(200));
    BOOST_TEST(drain(c, t0 + 1s) == std::vector<request_id>{later2}, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(queue_full_fail_fast)
{
    scheduler_options o = seeded();
    o.max_in_flight = 1;
    o.max_queue = 2;
    o.fail_when_full = true;
    scheduler_core c{o};
    BOOST_TEST(sent(submit(c, t0).second));
    BOOST_TEST(queued(submit(c, t0).second));
    BOOST_TEST(queued(submit(c, t0).second));
    auto [x, rx] = submit(c, t0);
    BOOST_TEST(rx.what == admit_result::failed);
    BOOST_TEST(rx.ec == code(err::queue_full));
    const auto k = c.counters(t0);
    BOOST_TEST(k.rejected_queue_full == 1u);
    BOOST_TEST(k.failed == 1u);
    BOOST_TEST(k.queue_length == 2u);
}

BOOST_AUTO_TEST_CASE(queue_full_waits_for_space)
{
    scheduler_options o = seeded();
    o.max_in_flight = 1;
    o.max_queue = 2;
    scheduler_core c{o};
    const request_id a = submit(c, t0).first;
    const request_id b = submit(c, t0).first;
    const request_id x = submit(c, t0).first;
    auto [w1, r1] = submit(c, t0);
    auto [w2, r2] = submit(c, t0, priority::high);
    BOOST_TEST(queued(r1));
    BOOST_TEST(queued(r2));
    BOOST_TEST(c.counters(t0).queue_length == 4u);
    // Cancelling a queued request makes room; the best waiter moves in.
    BOOST_TEST(c.cancel(t0, x));
    BOOST_TEST(!c.cancel(t0, x));
    std::vector<request_id> order;
    request_id out = a;
    for (int i = 0; i < 3; ++i) {
        c.on_outcome(t0, out, reply(200));
        auto ev = drain(c, t0);
        BOOST_REQUIRE(ev.size() == 1u);
        out = ev.front();
        order.push_back(out);
    }
    // w2 (high) entered the queue before w1 but after b, which was already queued.
    BOOST_TEST(order == (std::vector<request_id>{w2, b, w1}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(cancel_removes_a_queued_request_at_once)
{
    scheduler_options o = seeded();
    o.max_in_flight = 1;
    scheduler_core c{o};
    const request_id a = submit(c, t0).first;
    const request_id b = submit(c, t0).first;
    const request_id x = submit(c, t0).first;
    BOOST_TEST(c.cancel(t0, b));
    BOOST_TEST(!c.cancel(t0, a)); // in flight: not the scheduler's to cancel
    BOOST_TEST(c.counters(t0).queue_length == 1u);
    BOOST_TEST(c.counters(t0).cancelled == 1u);
    c.on_outcome(t0, a, reply(200));
    BOOST_TEST(drain(c, t0) == std::vector<request_id>{x}, boost::test_tools::per_element());
    // A cancelled request can ask again.
    BOOST_TEST(queued(c.request(t0, b)));
    c.release(t0, b);
    BOOST_TEST(c.counters(t0).queue_length == 0u);
}

BOOST_AUTO_TEST_CASE(transport_failures_retry_only_when_certainly_unprocessed)
{
    scheduler_core c{seeded()};
    auto attempt = [&](const attempt_outcome& o) {
        auto [id, r] = submit(c, t0);
        BOOST_REQUIRE(sent(r));
        return c.on_outcome(t0, id, o);
    };
    BOOST_TEST(attempt(transport_failure(false, false)).retry);
    BOOST_TEST(!attempt(transport_failure(true, false)).retry);  // the server has it all
    BOOST_TEST(!attempt(transport_failure(false, true)).retry);  // it started answering
    BOOST_TEST(!attempt(transport_failure(true, true)).retry);
    attempt_outcome idem = transport_failure(true, false);
    idem.idempotent = true;
    BOOST_TEST(attempt(idem).retry);
    const auto timeout = attempt(transport_failure(false, false, err::timeout));
    BOOST_TEST(!timeout.retry);
    BOOST_TEST(timeout.ec == code(err::timeout));
    const auto s503 = attempt(reply(503));
    BOOST_TEST(!s503.retry);
    BOOST_TEST(s503.ec == code(err::unexpected_status));
    const auto s400 = attempt(reply(400));
    BOOST_TEST(!s400.retry);
    BOOST_TEST(s400.ec == code(err::invalid_parameter));
    const auto aborted = attempt(transport_failure(false, false, make_error_code(boost::system::errc::operation_canceled)));
    BOOST_TEST(!aborted.retry);
    const auto k = c.counters(t0);
    BOOST_TEST(k.retried_transport == 2u);
    BOOST_TEST(k.cancelled == 1u);
}

BOOST_AUTO_TEST_CASE(transport_retries_are_bounded)
{
    scheduler_core c{seeded({}, 3)};
    const request_id id = c.open(priority::normal);
    sched_time now = t0;
    int attempts = 0;
    for (;;) {
        admit_result r = c.request(now, id);
        if (queued(r)) {
            now = c.next_wakeup(now).value();
            BOOST_REQUIRE(drain(c, now).size() == 1u);
        }
        ++attempts;
        const auto d = c.on_outcome(now, id, transport_failure(false, false));
        if (!d.retry) {
            BOOST_TEST(d.ec == make_error_code(boost::system::errc::connection_reset));
            break;
        }
    }
    BOOST_TEST(attempts == 3);
}

BOOST_AUTO_TEST_CASE(close_fails_waiting_and_later_requests)
{
    scheduler_options o = seeded();
    o.max_in_flight = 1;
    scheduler_core c{o};
    const request_id a = submit(c, t0).first;
    const request_id b = submit(c, t0).first;
    c.close(t0);
    BOOST_TEST(drain(c, t0, err::client_closed) == std::vector<request_id>{b}, boost::test_tools::per_element());
    auto [x, rx] = submit(c, t0);
    BOOST_TEST(rx.what == admit_result::failed);
    BOOST_TEST(rx.ec == code(err::client_closed));
    // The one in flight still reports; a retry is refused.
    const auto d = c.on_outcome(t0, a, transport_failure(false, false));
    BOOST_TEST(!d.retry);
    BOOST_TEST(d.ec == code(err::client_closed));
}

BOOST_AUTO_TEST_CASE(credits_are_tracked)
{
    scheduler_core c{seeded()};
    auto [a, r] = submit(c, t0);
    BOOST_REQUIRE(sent(r));
    attempt_outcome o = reply(200);
    o.credits_used = 120;
    o.credits_total = 1000;
    c.on_outcome(t0, a, o);
    const auto k = c.counters(t0);
    BOOST_TEST(k.credits_used.value() == 120);
    BOOST_TEST(k.credits_total.value() == 1000);
    BOOST_TEST(k.credits_remaining.value() == 880);
    BOOST_TEST(k.succeeded == 1u);
}

BOOST_AUTO_TEST_CASE(misuse_is_reported_not_fatal)
{
    scheduler_core c{seeded()};
    BOOST_TEST(c.request(t0, 12345).ec == code(err::invalid_argument));
    const request_id a = submit(c, t0).first;
    BOOST_TEST(c.request(t0, a).ec == code(err::invalid_argument)); // already in flight
    BOOST_TEST(c.on_outcome(t0, 999, reply(200)).ec == code(err::invalid_argument));
    c.release(t0, 999);
    c.release(t0, a);
    BOOST_TEST(c.counters(t0).in_flight == 0u);
}


BOOST_AUTO_TEST_CASE(adaptive_limit_converges_near_rate_times_latency)
{
    // 100 a second allowed, 200 ms per reply: 20 in flight use the whole rate; the old fixed 8
    // reach 40/s. Little's law with headroom 1.5: 31.
    const auto flat = [](std::size_t) { return 200ms; };
    const latency_run run = run_latency_bound(adaptive(), 500, 100, 1s, flat);
    BOOST_TEST(run.final_limit >= 20u);
    BOOST_TEST(run.final_limit <= 40u);
    BOOST_TEST(run.peak_limit <= 40u);
    BOOST_TEST(run.peak_in_flight >= 18u);
    // 500 at 100/s: about 5 s (the windows' reset margins cost a little), never 12.5 s.
    BOOST_TEST((run.finished - t0 < 7s), (run.finished - t0).count());
    BOOST_TEST(run.refused == 0u);

    scheduler_options fixed = adaptive();
    fixed.max_in_flight = 8; // pinned: the old default of the CLI
    const latency_run old = run_latency_bound(fixed, 500, 100, 1s, flat);
    BOOST_TEST(old.peak_limit == 8u);
    BOOST_TEST(old.peak_in_flight == 8u);
    BOOST_TEST((old.finished - t0 > 12s));
}

BOOST_AUTO_TEST_CASE(adaptive_limit_stops_growing_when_the_rate_is_the_limit)
{
    // 20 a second at 50 ms: one in flight nearly does; ceil(20 x 0.05 x 1.5) + 1 = 3.
    const latency_run run = run_latency_bound(adaptive(), 100, 20, 1s, [](std::size_t) { return 50ms; });
    BOOST_TEST(run.peak_limit <= 8u); // starts at 8, never grows
    BOOST_TEST(run.final_limit <= 3u);
    BOOST_TEST(run.final_limit >= 1u);
}

BOOST_AUTO_TEST_CASE(adaptive_limit_without_a_rate_grows_to_the_cap_and_never_above)
{
    // No rate-limit headers and a flat latency: nothing says where the limit is.
    const auto flat = [](std::size_t) { return 100ms; };
    const latency_run run = run_latency_bound(adaptive(20), 400, 0, 1s, flat, false);
    BOOST_TEST(run.peak_limit == 20u);
    BOOST_TEST(run.peak_in_flight == 20u);
    BOOST_TEST(run.final_limit == 20u);
    // Grows by one a reply: from 8 to 20 within a few round trips.
    const auto reached = std::find_if(run.limits.begin(), run.limits.end(), [](const auto& l) { return l.second == 20u; });
    BOOST_REQUIRE(reached != run.limits.end());
    BOOST_TEST((reached->first - t0 <= 500ms), std::chrono::duration_cast<std::chrono::milliseconds>(reached->first - t0).count() << " ms");

    const latency_run wide = run_latency_bound(adaptive(64), 2000, 0, 1s, flat, false);
    BOOST_TEST(wide.peak_limit == 64u);
    BOOST_TEST(wide.peak_in_flight >= 63u); // the first went alone (probe), then 63 with it answered
}

BOOST_AUTO_TEST_CASE(adaptive_limit_backs_off_when_latency_rises_with_the_load)
{
    // A server that takes 10 ms per request in flight: more in flight only queue there.
    const latency_run run = run_latency_bound(adaptive(64), 400, 0, 1s,
                                              [](std::size_t n) { return 10ms * static_cast<int>(n + 1); }, false);
    BOOST_TEST(run.peak_limit < 20u);
    BOOST_TEST(run.peak_in_flight < 20u);
}

BOOST_AUTO_TEST_CASE(adaptive_limit_shrinks_when_latency_falls)
{
    scheduler_core c{adaptive()};
    sched_time now = t0;
    std::int64_t used = 0;
    const std::int64_t limit = 1000; // a 10 s window: 100 a second
    const auto reset = epoch_of(t0) + 10;
    auto answer = [&](request_id id, std::chrono::milliseconds latency) {
        now += latency;
        ++used;
        c.on_outcome(now, id, reply(200, limit - used, reset, limit, t0));
    };
    // 200 ms replies, one at a time, requests always waiting: grows to about 31.
    std::vector<request_id> waiting;
    for (int i = 0; i < 60; ++i)
        waiting.push_back(submit(c, now).first);
    for (int round = 0; round < 40; ++round) {
        std::vector<request_id> flying;
        if (round == 0)
            flying.push_back(waiting.front());
        while (auto e = c.next_event(now))
            flying.push_back(e->id);
        for (const auto id : flying) {
            answer(id, round < 20 ? 200ms : 5ms);
            now -= round < 20 ? 200ms : 5ms; // all answered together, one latency later
            c.release(now, id);
            const auto again = c.open(priority::normal);
            c.request(now, again);
        }
        now += round < 20 ? 200ms : 5ms;
        if (round == 19) {
            const auto k = c.counters(now);
            BOOST_TEST(k.in_flight_limit.value() >= 20u);
            BOOST_TEST(k.in_flight_limit.value() <= 40u);
            BOOST_TEST(k.observed_latency.value() > 150ms);
        }
    }
    // 5 ms now: ceil(100 x 0.005 x 1.5) + 1 = 2.
    const auto k = c.counters(now);
    BOOST_TEST(k.in_flight_limit.value() <= 3u);
    BOOST_TEST(k.observed_latency.value() < 20ms);
    BOOST_TEST(k.allowed_rate.value() == 100.0, boost::test_tools::tolerance(0.2));
}

BOOST_AUTO_TEST_CASE(pinned_max_in_flight_is_never_adapted)
{
    scheduler_options o = adaptive();
    o.max_in_flight = 5;
    const latency_run run = run_latency_bound(o, 100, 0, 1s, [](std::size_t) { return 100ms; }, false);
    BOOST_TEST(run.peak_limit == 5u);
    BOOST_TEST(run.peak_in_flight == 5u);
    BOOST_TEST(run.final_limit == 5u);

    scheduler_options off = adaptive();
    off.adaptive_concurrency = false; // and no max_in_flight: unlimited, as before
    const latency_run free = run_latency_bound(off, 100, 0, 1s, [](std::size_t) { return 100ms; }, false);
    BOOST_TEST(free.peak_limit == 0u);
    BOOST_TEST(free.peak_in_flight >= 99u); // all but the probe at once
}

BOOST_AUTO_TEST_SUITE_END()
