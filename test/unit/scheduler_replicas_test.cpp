// Several independent scheduler cores sharing one API key, on a virtual clock: the server's
// fixed rate windows (as the mock keeps them: [k*w, (k+1)*w) in epoch seconds, 403 past the
// limit, Remaining after counting the request) are simulated here, the cores only see the
// replies' X-RateLimit-* headers, as replicas of a service do.
#include <carcheck/detail/scheduler_core.hpp>
#include <carcheck/error.hpp>
#include <carcheck/retry_policy.hpp>

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <queue>
#include <random>
#include <tuple>
#include <vector>

namespace {

using namespace std::chrono_literals;
using carcheck::attempt_outcome;
using carcheck::scheduler_options;
using carcheck::detail::admit_result;
using carcheck::detail::request_id;
using carcheck::detail::sched_time;
using carcheck::detail::scheduler_core;

struct fleet_config {
    int cores = 1;
    int images_per_core = 100;
    std::int64_t limit = 40;       // requests per window
    std::int64_t window_s = 2;     // window length
    std::size_t concurrency = 16;  // max_in_flight of each core
    std::chrono::microseconds latency{4000}; // each way
    bool pace = true;
    std::uint64_t seed = 1;
    std::int64_t history = 0; // requests of processes gone, counted in the first window
    std::chrono::milliseconds last_core_delay{0}; // the last core starts this much later
};

struct fleet_result {
    std::uint64_t sent = 0, refused = 0, succeeded = 0, lost = 0;
    double seconds = 0;              // first send to last success
    double ideal_seconds = 0;        // all images at exactly the allowed rate
    std::vector<int> done_at_half;   // successes per core when half of all were done
    double jain_at_half = 0;         // fairness of done_at_half (1 = equal)
    std::vector<double> share_at_half; // each core's share estimate then
    std::vector<double> share_seen;  // each core's share estimate at the end
};

// The key's windows as the mock server keeps them.
class window_server {
public:
    window_server(std::int64_t limit, std::int64_t window_s, std::int64_t history = 0)
        : limit_(limit), window_s_(window_s), history_(history)
    {
    }

    attempt_outcome handle(sched_time at)
    {
        const std::int64_t now_s = std::chrono::floor<std::chrono::seconds>(at.time_since_epoch()).count();
        const std::int64_t index = now_s / window_s_;
        if (index != index_) {
            used_ = index_ < 0 ? history_ : 0;
            index_ = index;
        }
        attempt_outcome o;
        o.response_bytes_received = true;
        o.request_fully_written = true;
        if (used_ >= limit_) {
            o.http_status = 403;
            o.ec = carcheck::error_from_status(403);
        } else {
            ++used_;
            o.http_status = 200;
        }
        o.rate_limit.limit = limit_;
        o.rate_limit.remaining = limit_ - used_;
        o.rate_limit.reset_epoch = (index + 1) * window_s_;
        o.rate_limit.server_date = sched_time{std::chrono::seconds{now_s}};
        return o;
    }

private:
    std::int64_t limit_, window_s_, history_;
    std::int64_t index_ = -1, used_ = 0;
};

fleet_result run_fleet(const fleet_config& cfg)
{
    // Mid-window start, on a whole-second epoch like the real clock.
    const sched_time start{std::chrono::seconds{1'700'000'001} + 700ms};
    window_server server{cfg.limit, cfg.window_s, cfg.history};
    std::mt19937_64 rng{cfg.seed};

    struct core_state {
        std::unique_ptr<scheduler_core> core;
        std::vector<request_id> ids;
        int done = 0;
        std::uint64_t wake_generation = 0;
    };
    std::vector<core_state> cores(static_cast<std::size_t>(cfg.cores));

    // Events: (time, order, action). `order` keeps equal times deterministic.
    using event = std::tuple<sched_time, std::uint64_t, std::function<void()>>;
    auto later = [](const event& a, const event& b) {
        return std::tie(std::get<0>(a), std::get<1>(a)) > std::tie(std::get<0>(b), std::get<1>(b));
    };
    std::priority_queue<event, std::vector<event>, decltype(later)> events{later};
    std::uint64_t order = 0;
    auto at = [&](sched_time t, std::function<void()> f) { events.emplace(t, order++, std::move(f)); };

    fleet_result res;
    const int total = cfg.cores * cfg.images_per_core;
    std::optional<sched_time> first_send, last_success;
    std::function<void(std::size_t, sched_time)> pump;
    std::function<void(std::size_t, request_id, sched_time)> send;

    send = [&](std::size_t k, request_id id, sched_time now) {
        ++res.sent;
        if (!first_send)
            first_send = now;
        // Up to the server, answered, back: the reply's headers are those of arrival time.
        std::uniform_int_distribution<std::int64_t> wobble(0, cfg.latency.count() / 2);
        const auto up = cfg.latency + std::chrono::microseconds{wobble(rng)};
        const auto down = cfg.latency + std::chrono::microseconds{wobble(rng)};
        at(now + up, [&, k, id, down, arrive = now + up] {
            attempt_outcome o = server.handle(arrive);
            at(arrive + down, [&, k, id, o, back = arrive + down]() mutable {
                auto& c = cores[k];
                o.received_at = back;
                if (o.http_status == 403)
                    ++res.refused;
                const auto d = c.core->on_outcome(back, id, o);
                if (d.retry) {
                    const admit_result r = c.core->request(back, id);
                    if (r.what == admit_result::send_now)
                        send(k, id, back);
                    else if (r.what == admit_result::failed)
                        ++res.lost;
                } else if (d.ec) {
                    ++res.lost;
                } else {
                    ++res.succeeded;
                    ++c.done;
                    last_success = back;
                    if (static_cast<int>(res.succeeded) == total / 2)
                        for (auto& cc : cores) {
                            res.done_at_half.push_back(cc.done);
                            res.share_at_half.push_back(cc.core->share());
                        }
                }
                pump(k, back);
            });
        });
    };

    pump = [&](std::size_t k, sched_time now) {
        auto& c = cores[k];
        while (auto e = c.core->next_event(now)) {
            if (e->ec)
                ++res.lost;
            else
                send(k, e->id, now);
        }
        const auto wake = c.core->next_wakeup(now);
        const std::uint64_t gen = ++c.wake_generation;
        if (wake)
            at(std::max(*wake, now), [&, k, gen, w = std::max(*wake, now)] {
                if (cores[k].wake_generation == gen)
                    pump(k, w);
            });
    };

    for (std::size_t k = 0; k < cores.size(); ++k) {
        scheduler_options o;
        o.max_in_flight = cfg.concurrency;
        o.pace = cfg.pace;
        o.seed = cfg.seed * 1000 + k;
        carcheck::backoff_options b;
        b.seed = cfg.seed * 2000 + k;
        o.retry = std::make_shared<carcheck::exponential_backoff>(b);
        cores[k].core = std::make_unique<scheduler_core>(o);
        // Replicas start a little apart, as processes do.
        sched_time begin = start + std::chrono::milliseconds{static_cast<std::int64_t>(k) * 3};
        if (k + 1 == cores.size())
            begin += cfg.last_core_delay;
        at(begin, [&, k, begin] {
            auto& c = cores[k];
            for (int i = 0; i < cfg.images_per_core; ++i) {
                const request_id id = c.core->open(carcheck::priority::normal);
                c.ids.push_back(id);
                const admit_result r = c.core->request(begin, id);
                if (r.what == admit_result::send_now)
                    send(k, id, begin);
                else if (r.what == admit_result::failed)
                    ++res.lost;
            }
            pump(k, begin);
        });
    }

    const sched_time give_up = start + 30min;
    while (!events.empty()) {
        auto [t, n, f] = events.top();
        events.pop();
        if (t > give_up)
            break;
        f();
    }
    if (first_send && last_success)
        res.seconds = std::chrono::duration<double>(*last_success - *first_send).count();
    res.ideal_seconds = static_cast<double>(total) * static_cast<double>(cfg.window_s) / static_cast<double>(cfg.limit);
    if (!res.done_at_half.empty()) {
        double sum = 0, sq = 0;
        for (int d : res.done_at_half) {
            sum += d;
            sq += static_cast<double>(d) * d;
        }
        res.jain_at_half = sum * sum / (static_cast<double>(res.done_at_half.size()) * sq);
    }
    for (auto& c : cores)
        res.share_seen.push_back(c.core->share());
    return res;
}

void report(const fleet_config& cfg, const fleet_result& r)
{
    BOOST_TEST_MESSAGE(cfg.cores << " cores x " << cfg.images_per_core << " on " << cfg.limit << "/" << cfg.window_s
                                 << " s, pace " << cfg.pace << ": sent " << r.sent << ", 403 " << r.refused
                                 << ", lost " << r.lost << ", " << r.seconds << " s (ideal " << r.ideal_seconds
                                 << " s), fairness at half " << r.jain_at_half);
}

// The bounds: every image succeeds, 403s at most 5 % of the requests, the wall time
// at most 1.2 x what the allowed rate needs, and the cores served about equally.
void check_fleet(int cores, std::int64_t limit)
{
    fleet_config cfg;
    cfg.cores = cores;
    cfg.limit = limit;
    cfg.images_per_core = static_cast<int>(20 * limit / cores); // 20 windows of work
    const auto r = run_fleet(cfg);
    report(cfg, r);
    BOOST_TEST(r.lost == 0u);
    BOOST_TEST(r.succeeded == static_cast<std::uint64_t>(cfg.cores * cfg.images_per_core));
    BOOST_TEST(static_cast<double>(r.refused) <= 0.05 * static_cast<double>(r.sent));
    BOOST_TEST(r.seconds <= 1.2 * r.ideal_seconds);
    BOOST_TEST(r.jain_at_half >= 0.85);
    BOOST_TEST(r.done_at_half.size() == static_cast<std::size_t>(cores));
    // Each core learnt roughly its share (1/K) from the headers alone.
    const double fair = 1.0 / cores;
    for (double share : r.share_at_half) {
        BOOST_TEST(share >= 0.5 * fair);
        BOOST_TEST(share <= 2.0 * fair);
    }
}

} // namespace

BOOST_AUTO_TEST_SUITE(scheduler_replicas_test)

BOOST_AUTO_TEST_CASE(one_core_alone_gets_the_whole_window)
{
    fleet_config cfg;
    cfg.images_per_core = 800;
    const auto r = run_fleet(cfg);
    report(cfg, r);
    BOOST_TEST(r.lost == 0u);
    BOOST_TEST(r.refused == 0u);
    BOOST_TEST(r.sent == 800u);
    // ~100 % of the allowed rate: the first (partial) window is a bonus, pacing costs at most
    // the random start of each window.
    BOOST_TEST(r.seconds <= 1.03 * r.ideal_seconds);
    BOOST_TEST(r.share_seen[0] == 1.0);
}

BOOST_AUTO_TEST_CASE(two_cores_share_one_window) { check_fleet(2, 40); }
BOOST_AUTO_TEST_CASE(four_cores_share_one_window) { check_fleet(4, 40); }
BOOST_AUTO_TEST_CASE(sixteen_cores_share_one_window) { check_fleet(16, 80); }

BOOST_AUTO_TEST_CASE(a_core_joining_a_window_that_others_spent_before_is_not_held_back)
{
    // Processes gone (an earlier batch, a replica before its restart) spent half of a large
    // window. What they spent is history, not competition: the window's room is this core's
    // as soon as its replies show nobody else spending, not after a slow climb from the share
    // the first reply suggested (1 in 50,001).
    fleet_config cfg;
    cfg.limit = 100'000;
    cfg.history = 50'000;
    cfg.images_per_core = 400;
    const auto r = run_fleet(cfg);
    report(cfg, r);
    BOOST_TEST(r.lost == 0u);
    BOOST_TEST(r.refused == 0u);
    BOOST_TEST(r.succeeded == 400u);
    // 400 requests, 16 at a time, 8 to 12 ms a round trip: 0.2 to 0.3 s without any hold.
    BOOST_TEST(r.seconds <= 0.4);
    BOOST_TEST(r.share_seen[0] >= 0.9);
}

BOOST_AUTO_TEST_CASE(a_core_joining_busy_replicas_learns_its_share_without_overrunning)
{
    // Three replicas share a window; a fourth starts three windows later. Its first reply
    // shows a window mostly spent by the others, and the replies after it show them still
    // spending: it takes about a quarter, and the window is not overrun.
    fleet_config cfg;
    cfg.cores = 4;
    cfg.limit = 40;
    cfg.images_per_core = 200;
    cfg.last_core_delay = 6s;
    const auto r = run_fleet(cfg);
    report(cfg, r);
    BOOST_TEST(r.lost == 0u);
    BOOST_TEST(r.succeeded == 800u);
    BOOST_TEST(static_cast<double>(r.refused) <= 0.05 * static_cast<double>(r.sent));
    BOOST_TEST(r.share_at_half.back() >= 0.125);
    BOOST_TEST(r.share_at_half.back() <= 0.5);
}

BOOST_AUTO_TEST_CASE(without_pacing_replicas_collide)
{
    // The behaviour before pacing, for comparison: every core spends the window at its
    // start, so most of the key's requests after the first are refused.
    fleet_config cfg;
    cfg.cores = 4;
    cfg.images_per_core = 200;
    cfg.pace = false;
    const auto r = run_fleet(cfg);
    report(cfg, r);
    BOOST_TEST(r.lost == 0u); // 403s are retried for a time, not a count
    BOOST_TEST(static_cast<double>(r.refused) > 0.2 * static_cast<double>(r.sent));
}

BOOST_AUTO_TEST_SUITE_END()
