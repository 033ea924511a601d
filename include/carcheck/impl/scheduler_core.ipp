#ifndef CARCHECK_IMPL_SCHEDULER_CORE_IPP
#define CARCHECK_IMPL_SCHEDULER_CORE_IPP

#include <carcheck/detail/scheduler_core.hpp>

#include <boost/system/errc.hpp>

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace carcheck::detail {

CARCHECK_DECL scheduler_core::scheduler_core(scheduler_options opts) : opts_(std::move(opts))
{
    if (opts_.requests_per_second && !(*opts_.requests_per_second > 0.0))
        throw std::invalid_argument("scheduler_options::requests_per_second must be positive");
    if (opts_.max_in_flight && *opts_.max_in_flight == 0)
        throw std::invalid_argument("scheduler_options::max_in_flight must be positive");
    if (!(opts_.burst >= 1.0))
        opts_.burst = 1.0;
    using std::chrono::milliseconds;
    opts_.reset_margin = std::max(opts_.reset_margin, milliseconds{0});
    opts_.max_reset_wait = std::max(opts_.max_reset_wait, milliseconds{0});
    opts_.unknown_reset_wait = std::max(opts_.unknown_reset_wait, milliseconds{0});
    opts_.max_rate_limited_wait = std::max(opts_.max_rate_limited_wait, milliseconds{0});
    if (!(opts_.reset_jitter >= 0.0)) // also NaN
        opts_.reset_jitter = 0.0;
    opts_.reset_jitter = std::min(opts_.reset_jitter, 1.0);
    if (!(opts_.pace_burst >= 0.0))
        opts_.pace_burst = 0.0;
    rng_.seed(opts_.seed ? *opts_.seed : (std::uint64_t{std::random_device{}()} << 32) ^ std::random_device{}());
    if (!opts_.retry)
        opts_.retry = std::make_shared<exponential_backoff>();
    tokens_ = opts_.burst;
    opts_.initial_in_flight = std::max<std::size_t>(opts_.initial_in_flight, 1);
    opts_.max_adaptive_in_flight = std::max<std::size_t>(opts_.max_adaptive_in_flight, 1);
    if (!(opts_.adaptive_headroom >= 1.0))
        opts_.adaptive_headroom = 1.0;
    adaptive_limit_ = static_cast<double>(std::min(opts_.initial_in_flight, opts_.max_adaptive_in_flight));
}

CARCHECK_DECL request_id scheduler_core::open(priority p)
{
    const request_id id = next_id_++;
    record r;
    r.prio = p;
    records_.emplace(id, r);
    return id;
}

// Brings time-driven state up to `now`: accounting, token refill, due retries, window end.
CARCHECK_DECL void scheduler_core::advance(sched_time now)
{
    if (!started_) {
        started_ = true;
        last_ = now;
        bucket_time_ = now;
        pace_time_ = now;
    }
    refill_pace(now); // at the rate the state before this input allowed
    if (now > last_) {
        const std::size_t held =
            delayed_held_ + (rate_blocked_ ? ready_.size() + waiting_space_.size() : 0);
        c_.throttled_time += std::chrono::duration_cast<std::chrono::nanoseconds>(now - last_) *
                             static_cast<std::int64_t>(held);
        if (held || pace_blocked_ || (cap_blocked_ && !ready_.empty()))
            c_.throttled_wall_time += std::chrono::duration_cast<std::chrono::nanoseconds>(now - last_);
    }
    last_ = now; // a clock stepped back just skips accounting
    if (opts_.requests_per_second && now > bucket_time_) {
        const double dt = std::chrono::duration<double>(now - bucket_time_).count();
        tokens_ = std::min(opts_.burst, tokens_ + dt * *opts_.requests_per_second);
    }
    bucket_time_ = now;
    while (!delayed_.empty() && delayed_.begin()->first <= now) {
        const request_id id = delayed_.begin()->second;
        delayed_.erase(delayed_.begin());
        record& r = records_.at(id);
        if (r.held_by_rate_limit) {
            r.held_by_rate_limit = false;
            --delayed_held_;
        }
        r.state = where::ready;
        ready_.insert({static_cast<std::uint8_t>(r.prio), id});
    }
    update_window(now);
}

// Run at the end of every input: the state must be consistent for next_wakeup().
CARCHECK_DECL void scheduler_core::settle(sched_time now)
{
    update_window(now);
    admit_waiters();
    rate_blocked_ = !rate_gate().open;
    const std::size_t cap = in_flight_cap();
    if (cap && in_flight_ >= cap && candidate())
        limit_bound_ = true;
    c_.in_flight_limit_peak = std::max(c_.in_flight_limit_peak, cap);
    cap_blocked_ = opts_.requests_per_second && tokens_ < 1.0 - 1e-9;
    // Pacing against a known window holds requests as the rate limit does (not the wait for
    // the first reply, which only learns the limit).
    pace_blocked_ = !rate_blocked_ && candidate() && budget_ && pace_deadline_ && limit_ && !pace_gate().open;
}

CARCHECK_DECL void scheduler_core::update_window(sched_time now)
{
    // A stepped-back clock must not turn a capped wait into a long one.
    if (reset_local_ && *reset_local_ > now + opts_.max_reset_wait)
        reset_local_ = now + opts_.max_reset_wait;
    if (pace_deadline_ && *pace_deadline_ > now + opts_.max_reset_wait)
        pace_deadline_ = now + opts_.max_reset_wait;
    if (pace_start_ && *pace_start_ > now + opts_.max_reset_wait)
        pace_start_.reset();
    if (reset_local_ && now >= *reset_local_) {
        const sched_time was = *reset_local_;
        // New window: it holds `limit` requests, of which those still in flight may take
        // some (the server may count them in the new window). Unknown limit: unlimited
        // until a reply says otherwise.
        reset_local_.reset();
        window_over_ = true;
        last_remaining_.reset();
        if (limit_)
            budget_ = *limit_ - static_cast<std::int64_t>(in_flight_);
        else
            budget_.reset();
        start_window(now, was);
    } else if (!reset_local_ && pace_deadline_ && now >= *pace_deadline_) {
        start_window(now, *pace_deadline_); // a predicted window ended unobserved
    }
    if (budget_ && *budget_ <= 0 && !reset_local_) {
        // Spent, and no idea when it resets: replies in flight will tell; with none in
        // flight nothing will, so wait a fixed time and try again.
        if (in_flight_ > 0) {
            stall_until_.reset();
        } else {
            if (!stall_until_)
                stall_until_ = now + opts_.unknown_reset_wait;
            if (now >= *stall_until_) {
                stall_until_.reset();
                budget_.reset();
            }
        }
    } else {
        stall_until_.reset();
    }
}

// A new window begins (locally): predict its end, fill the pacing bucket and pick the
// random start that keeps replicas from all sending at the same instant.
CARCHECK_DECL void scheduler_core::start_window(sched_time now, sched_time reset_was)
{
    pace_start_.reset();
    const auto len = window_length();
    if (!opts_.pace || !len || *len <= std::chrono::nanoseconds{0}) {
        pace_deadline_.reset();
        return;
    }
    const auto step = std::chrono::duration_cast<sched_time::duration>(*len);
    sched_time next = pace_deadline_ && *pace_deadline_ <= now ? *pace_deadline_ : reset_was - opts_.reset_margin;
    if (next <= now)
        next += step * ((now - next) / step + 1); // windows that passed unobserved
    pace_deadline_ = next;
    pace_time_ = now;
    pace_tokens_ = pace_capacity();
    const double jitter = opts_.reset_jitter * std::chrono::duration<double>(*len).count();
    if (jitter > 0) {
        std::uniform_real_distribution<double> pick(0.0, jitter);
        pace_start_ = reset_was + std::chrono::duration_cast<sched_time::duration>(
                                      std::chrono::duration<double>(pick(rng_)));
    }
}

CARCHECK_DECL std::optional<std::chrono::nanoseconds> scheduler_core::window_length() const
{
    if (epoch_step_)
        return std::chrono::seconds{*epoch_step_};
    return window_len_;
}

CARCHECK_DECL void scheduler_core::learn_window_length(std::chrono::nanoseconds until_reset,
                                                       std::optional<std::int64_t> step)
{
    const auto cap = std::chrono::duration_cast<std::chrono::nanoseconds>(opts_.max_reset_wait);
    until_reset = std::min(until_reset, cap);
    if (until_reset > std::chrono::nanoseconds{0} && (!window_len_ || until_reset > *window_len_))
        window_len_ = until_reset;
    // Consecutive windows differ by one window length; a gap by a multiple of it.
    if (step && *step > 0 && std::chrono::seconds{*step} <= cap && (!epoch_step_ || *step < *epoch_step_))
        epoch_step_ = step;
}

// Requests this client may still send in this window at its share, per second of the time
// left. The share covers the requests in flight, so they are deducted.
CARCHECK_DECL double scheduler_core::pace_rate() const
{
    if (!budget_ || !pace_deadline_)
        return 0.0;
    const double in_flight = static_cast<double>(in_flight_);
    const double server_remaining = static_cast<double>(*budget_) + in_flight;
    const double mine = share_ * server_remaining - in_flight;
    if (mine <= 0.0)
        return 0.0;
    // Past the predicted end (the margin before the reset is confirmed): what is left may go.
    const double left = std::max(std::chrono::duration<double>(*pace_deadline_ - pace_time_).count(), 1e-3);
    return mine / left;
}

CARCHECK_DECL double scheduler_core::pace_capacity() const
{
    const double window = limit_ ? static_cast<double>(*limit_) : 1.0;
    return std::max(1.0, opts_.pace_burst * share_ * window);
}

CARCHECK_DECL void scheduler_core::refill_pace(sched_time now)
{
    if (!opts_.pace)
        return;
    sched_time from = pace_time_;
    if (pace_start_ && *pace_start_ > from)
        from = *pace_start_; // nothing accrues before the window's random start
    if (now > from) {
        const double rate = pace_rate();
        if (rate > 0.0)
            pace_tokens_ = std::min(pace_capacity(),
                                    pace_tokens_ + rate * std::chrono::duration<double>(now - from).count());
    }
    pace_time_ = now; // a clock stepped back just skips the refill
}

CARCHECK_DECL scheduler_core::gate scheduler_core::pace_gate() const
{
    if (!opts_.pace)
        return {};
    // The first reply tells the limit: one request at a time until then, but a slow first
    // request (a large upload) holds the others no longer than unknown_reset_wait.
    if (!heard_ && in_flight_ > 0 && probe_sent_ && last_ < *probe_sent_ + opts_.unknown_reset_wait)
        return {false, *probe_sent_ + opts_.unknown_reset_wait};
    if (!budget_ || !pace_deadline_ || !limit_)
        return {}; // no window known: nothing to pace against
    if (pace_start_ && last_ < *pace_start_)
        return {false, pace_start_};
    if (pace_tokens_ >= 1.0 - 1e-9)
        return {};
    // The window's reset changes everything: wake up for it at the latest.
    const std::optional<sched_time> reset = reset_local_ ? reset_local_ : pace_deadline_;
    const double rate = pace_rate();
    if (rate <= 0.0)
        return {false, reset}; // this client's share is spent (or in flight)
    const std::chrono::duration<double> need{(1.0 - pace_tokens_) / rate};
    sched_time t = pace_time_ + std::chrono::ceil<sched_time::duration>(need);
    if (reset && *reset > pace_time_)
        t = std::min(t, *reset);
    return {false, t};
}

CARCHECK_DECL void scheduler_core::count_own_reply(const rate_limit_info& info, unsigned status)
{
    if (!info.reset_epoch || !info.remaining || !limit_)
        return;
    const std::int64_t epoch = *info.reset_epoch;
    if (share_epoch_ && epoch < *share_epoch_)
        return; // overtaken by a reply of a later window
    bool first_reply = false;
    if (!share_epoch_ || epoch > *share_epoch_) {
        // Joined part-way: the first window, or one after a window this client sent nothing
        // in. That takes the step between consecutive resets, known once replies of two
        // windows in a row were seen (a gap before that is taken for the step); twice the
        // step, so that resets a second or so off their grid do not count as gaps.
        const bool skipped = share_epoch_ && epoch_step_ && epoch - *share_epoch_ >= 2 * *epoch_step_;
        if (share_epoch_ && !skipped && total_in_window() > 0) {
            own_before_ = own_in_window();
            total_before_ = total_in_window();
        } else if (skipped) {
            own_before_ = total_before_ = 0;
        }
        joined_ = !share_epoch_ || skipped;
        own_now_ = total_now_ = 0;
        share_epoch_ = epoch;
        first_reply = true;
    }
    // The server counts what it processed, and refusals that cost a credit check (402).
    if ((status >= 200 && status < 300) || status == 402)
        ++own_now_;
    total_now_ = std::max(total_now_, *limit_ - *info.remaining);
    if (first_reply && joined_) {
        joined_own_ = own_now_;
        joined_total_ = std::max(total_now_, own_now_);
    }
    const double own = own_in_window() + own_before_;
    const double total = std::max(total_in_window() + total_before_, own);
    if (total <= 0)
        return;
    // Never below one request a window: a client that sends nothing would never learn more.
    const double floor = 1.0 / static_cast<double>(std::max<std::int64_t>(*limit_, 1));
    share_ = std::clamp(own / total, floor, 1.0);
}

// The counts of the current window, for the share. In a window joined part-way they start at
// the first reply, plus a prior split as that reply showed, weighing as joined_weight()
// requests: at the first reply the share is what it showed, and each reply after it shifts
// the share by what Remaining did since.
CARCHECK_DECL double scheduler_core::own_in_window() const
{
    if (!joined_)
        return static_cast<double>(own_now_);
    return static_cast<double>(own_now_ - joined_own_) + joined_weight() * joined_split();
}

CARCHECK_DECL double scheduler_core::total_in_window() const
{
    if (!joined_)
        return static_cast<double>(std::max(total_now_, own_now_));
    const std::int64_t since = std::max(total_now_ - joined_total_, own_now_ - joined_own_);
    return static_cast<double>(since) + joined_weight();
}

CARCHECK_DECL double scheduler_core::joined_split() const
{
    if (joined_total_ <= 0)
        return 1.0;
    return static_cast<double>(std::max<std::int64_t>(joined_own_, 1)) / static_cast<double>(joined_total_);
}

// Replicas started together see each other in their first replies too. Weighing every
// first reply the same (rather than as all it saw, which is the old count for them and
// what lets history hold a newcomer back) keeps their shares alike: in the simulations of
// scheduler_replicas_test, capping the weight at what a first reply saw made 16 replicas
// started 3 ms apart end with shares from 0.3x to 2.1x the fair one.
CARCHECK_DECL double scheduler_core::joined_weight() const
{
    return static_cast<double>(joined_prior);
}

CARCHECK_DECL void scheduler_core::admit_waiters()
{
    while (!waiting_space_.empty() && ready_.size() + delayed_.size() < opts_.max_queue) {
        const queue_key k = *waiting_space_.begin();
        waiting_space_.erase(waiting_space_.begin());
        ready_.insert(k);
        records_.at(k.second).state = where::ready;
    }
}

CARCHECK_DECL scheduler_core::gate scheduler_core::rate_gate() const
{
    if (!budget_ || *budget_ > 0)
        return {};
    if (reset_local_)
        return {false, reset_local_};
    return {false, stall_until_}; // empty: until a reply arrives
}

CARCHECK_DECL scheduler_core::gate scheduler_core::combined_gate(bool with_in_flight_cap) const
{
    const gate rate = rate_gate();
    bool open = rate.open;
    bool wait_outcome = !rate.open && !rate.until;
    std::optional<sched_time> until = rate.open ? std::nullopt : rate.until;
    if (open) { // pacing matters only while the window has room
        const gate pace = pace_gate();
        if (!pace.open) {
            open = false;
            if (pace.until)
                until = pace.until;
            else
                wait_outcome = true;
        }
    }
    if (const std::size_t cap = with_in_flight_cap ? in_flight_cap() : 0; cap && in_flight_ >= cap) {
        open = false;
        wait_outcome = true;
    }
    // The epsilon absorbs rounding of the refill; the wake-up time is rounded up.
    if (opts_.requests_per_second && tokens_ < 1.0 - 1e-9) {
        open = false;
        const std::chrono::duration<double> need{(1.0 - tokens_) / *opts_.requests_per_second};
        const sched_time t = bucket_time_ + std::chrono::ceil<sched_time::duration>(need);
        until = until ? std::max(*until, t) : t;
    }
    if (open)
        return {};
    if (wait_outcome)
        return {false, std::nullopt};
    return {false, until};
}

// 0: no limit.
CARCHECK_DECL std::size_t scheduler_core::in_flight_cap() const
{
    if (opts_.max_in_flight)
        return *opts_.max_in_flight;
    if (!opts_.adaptive_concurrency)
        return 0;
    return std::max<std::size_t>(1, static_cast<std::size_t>(adaptive_limit_));
}

// What this client may send per second in the long run, when anything says.
CARCHECK_DECL std::optional<double> scheduler_core::allowed_rate() const
{
    std::optional<double> rate = opts_.requests_per_second;
    const auto len = window_length();
    if (limit_ && *limit_ > 0 && len && *len > std::chrono::nanoseconds{0}) {
        const double window = static_cast<double>(*limit_) * (opts_.pace ? share_ : 1.0) /
                              std::chrono::duration<double>(*len).count();
        rate = rate ? std::min(*rate, window) : window;
    }
    return rate;
}

// Little's law: keeping rate x latency requests in flight is all the rate needs; fewer
// leave the rate unused when the server is slow, more only queue at the server.
CARCHECK_DECL void scheduler_core::adapt_in_flight(sched_time now, const record& r, unsigned status)
{
    if (!opts_.adaptive_concurrency || opts_.max_in_flight || status == 0)
        return;
    const double cap = static_cast<double>(opts_.max_adaptive_in_flight);
    // Bound by the limit: a request waited for it since the last reply, or one waits now
    // that nothing but the limit would hold (several replies arriving together).
    const bool bound = std::exchange(limit_bound_, false) || (candidate() && combined_gate(false).open);
    const bool may_cut = !last_cut_ || !latency_ ||
                         now - *last_cut_ >= std::chrono::duration_cast<sched_time::duration>(
                                                 std::chrono::duration<double>(*latency_));
    if (status == 403) { // the rate is what limits: fewer in flight would have done
        if (may_cut) {
            adaptive_limit_ = std::max(1.0, std::floor(adaptive_limit_ / 2));
            last_cut_ = now;
        }
        return;
    }
    const double sample = std::max(std::chrono::duration<double>(now - r.sent_at).count(), 0.0);
    latency_ = latency_ ? 0.8 * *latency_ + 0.2 * sample : sample;
    fastest_ = fastest_ ? std::min(*fastest_, sample) : sample;
    const std::optional<double> rate = allowed_rate();
    double ceiling = cap;
    if (rate)
        ceiling = std::clamp(std::ceil(*rate * *latency_ * opts_.adaptive_headroom) + 1.0, 1.0, cap);
    // Without a known rate, a latency that rises with the load says the server (or the
    // link) is what limits.
    const bool rising = !rate && *latency_ > 2.0 * *fastest_ + 0.005;
    if (rising && may_cut) {
        adaptive_limit_ = std::max(1.0, std::floor(adaptive_limit_ * 0.8));
        last_cut_ = now;
    } else if (bound && !rising && adaptive_limit_ < ceiling) {
        adaptive_limit_ += 1.0;
    }
    adaptive_limit_ = std::clamp(adaptive_limit_, 1.0, ceiling);
}

CARCHECK_DECL const scheduler_core::queue_key* scheduler_core::candidate() const
{
    if (!ready_.empty())
        return &*ready_.begin();
    if (!waiting_space_.empty()) // only with max_queue == 0
        return &*waiting_space_.begin();
    return nullptr;
}

CARCHECK_DECL void scheduler_core::send(request_id, record& r)
{
    r.state = where::in_flight;
    ++r.attempts;
    ++in_flight_;
    c_.in_flight_peak = std::max(c_.in_flight_peak, in_flight_);
    r.sent_at = last_;
    ++c_.sent;
    if (budget_)
        --*budget_;
    if (opts_.requests_per_second)
        tokens_ -= 1.0;
    if (opts_.pace && pace_deadline_)
        pace_tokens_ -= 1.0;
    if (!probe_sent_)
        probe_sent_ = last_;
}

CARCHECK_DECL void scheduler_core::unqueue(request_id id, record& r)
{
    const queue_key k{static_cast<std::uint8_t>(r.prio), id};
    switch (r.state) {
    case where::ready: ready_.erase(k); break;
    case where::waiting_space: waiting_space_.erase(k); break;
    case where::delayed:
        delayed_.erase({r.delayed_until, id});
        if (r.held_by_rate_limit)
            --delayed_held_;
        break;
    default: return;
    }
    r.held_by_rate_limit = false;
    r.state = where::idle;
}

CARCHECK_DECL void scheduler_core::fail_waiting(error_code ec)
{
    auto fail = [&](request_id id) {
        record& r = records_.at(id);
        r.state = where::idle;
        r.held_by_rate_limit = false;
        ++c_.failed;
        events_.push_back({id, ec});
    };
    for (const auto& k : ready_)
        fail(k.second);
    for (const auto& k : waiting_space_)
        fail(k.second);
    for (const auto& d : delayed_)
        fail(d.second);
    ready_.clear();
    waiting_space_.clear();
    delayed_.clear();
    delayed_held_ = 0;
}

CARCHECK_DECL admit_result scheduler_core::request(sched_time now, request_id id, bool may_wait)
{
    advance(now);
    const auto it = records_.find(id);
    if (it == records_.end() || it->second.state != where::idle) {
        settle(now);
        return {admit_result::failed, error::invalid_argument};
    }
    record& r = it->second;
    const bool retry = r.attempts > 0;
    if (!r.counted) {
        r.counted = true;
        ++c_.submitted;
    }
    if (closed_ || exhausted_) {
        ++c_.failed;
        r.not_before.reset();
        settle(now);
        return {admit_result::failed, closed_ ? error::client_closed : error::monthly_limit};
    }
    if (r.not_before && *r.not_before > now) {
        if (!may_wait) {
            settle(now);
            return {admit_result::would_wait, {}};
        }
        r.state = where::delayed;
        r.delayed_until = *r.not_before;
        r.not_before.reset();
        delayed_.insert({r.delayed_until, id});
        if (r.held_by_rate_limit)
            ++delayed_held_;
        settle(now);
        return {admit_result::queued, {}};
    }
    r.not_before.reset();
    r.held_by_rate_limit = false;
    const queue_key key{static_cast<std::uint8_t>(r.prio), id};
    const queue_key* head = candidate();
    if ((!head || key < *head) && combined_gate().open) {
        send(id, r);
        settle(now);
        return {admit_result::send_now, {}};
    }
    if (!may_wait) {
        settle(now);
        return {admit_result::would_wait, {}};
    }
    // Retries were admitted once already: never refuse them for lack of space.
    if (!retry && ready_.size() + delayed_.size() >= opts_.max_queue) {
        if (opts_.fail_when_full) {
            ++c_.failed;
            ++c_.rejected_queue_full;
            settle(now);
            return {admit_result::failed, error::queue_full};
        }
        r.state = where::waiting_space;
        waiting_space_.insert(key);
        settle(now);
        return {admit_result::queued, {}};
    }
    r.state = where::ready;
    ready_.insert(key);
    settle(now);
    return {admit_result::queued, {}};
}

CARCHECK_DECL bool scheduler_core::cancel(sched_time now, request_id id)
{
    advance(now);
    const auto it = records_.find(id);
    bool removed = false;
    if (it != records_.end()) {
        const where w = it->second.state;
        if (w == where::ready || w == where::waiting_space || w == where::delayed) {
            unqueue(id, it->second);
            ++c_.cancelled;
            removed = true;
        }
    }
    settle(now);
    return removed;
}

CARCHECK_DECL void scheduler_core::release(sched_time now, request_id id) noexcept
{
    try {
        advance(now);
        const auto it = records_.find(id);
        if (it != records_.end()) {
            record& r = it->second;
            if (r.state == where::in_flight) {
                --in_flight_;
                ++c_.cancelled;
            } else if (r.state != where::idle || r.not_before) {
                unqueue(id, r); // (no-op for a retry not yet requested)
                ++c_.cancelled;
            }
            records_.erase(it);
        }
        settle(now);
    } catch (...) {
        // Only allocation can fail here; the record is gone either way.
    }
}

CARCHECK_DECL void scheduler_core::learn_offset(sched_time server_date, sched_time received)
{
    // Every sample underestimates the true offset: Date is truncated to the second and was
    // written before the reply travelled. So keep the largest sample; one more than a
    // second below it can only mean a clock was stepped, and starts over.
    const auto sample = std::chrono::duration_cast<std::chrono::nanoseconds>(server_date - received);
    if (!offset_ || sample > *offset_ || sample < *offset_ - std::chrono::seconds{1})
        offset_ = sample;
}

CARCHECK_DECL sched_time scheduler_core::reset_to_local(sched_time now, std::int64_t epoch) const
{
    const auto off = clock_offset();
    const sched_time cap = now + opts_.max_reset_wait;
    const std::int64_t server_now_s =
        std::chrono::floor<std::chrono::seconds>((now + off).time_since_epoch()).count();
    const std::int64_t cap_s =
        std::chrono::duration_cast<std::chrono::seconds>(opts_.max_reset_wait).count() + 2;
    if (epoch > server_now_s + cap_s) // also keeps the conversion below from overflowing
        return cap;
    if (epoch < server_now_s - cap_s) // long past (or absurd): reset already, no overflow
        return now;
    const sched_time local = sched_time{std::chrono::duration_cast<sched_time::duration>(
                                 std::chrono::seconds{epoch})} -
                             std::chrono::duration_cast<sched_time::duration>(off) +
                             opts_.reset_margin;
    return std::min(local, cap);
}

CARCHECK_DECL void scheduler_core::apply_rate_limit(sched_time now, const rate_limit_info& info, bool refused)
{
    if (info.limit)
        limit_ = info.limit;
    if (refused) {
        // A 403 says the window is spent, whatever Remaining says.
        budget_ = std::min<std::int64_t>(budget_.value_or(0), 0);
        last_remaining_ = 0;
        if (info.reset_epoch && !(window_epoch_ && *info.reset_epoch < *window_epoch_)) {
            const sched_time local = reset_to_local(now, *info.reset_epoch);
            if (local > now) {
                const auto step = window_epoch_ ? std::optional<std::int64_t>{*info.reset_epoch - *window_epoch_}
                                                : std::nullopt;
                window_epoch_ = *info.reset_epoch;
                window_over_ = false;
                reset_local_ = local;
                set_pace_deadline(now, local, step);
                return;
            }
            // Refused although its reset has passed by our reckoning: the offset is off.
        }
        // No usable reset: keep one we still wait for; otherwise on_outcome() holds
        // everything for the retry's back-off.
        if (reset_local_ && *reset_local_ <= now)
            reset_local_.reset();
        return;
    }
    if (!info.remaining)
        return;
    const std::int64_t remaining = *info.remaining;
    // Requests still in flight may not have been counted in this reply yet: assume each
    // will take one more.
    const std::int64_t others = static_cast<std::int64_t>(in_flight_);
    if (!info.reset_epoch) {
        // No window id: trust the newest count and keep the reset we knew.
        budget_ = remaining - others;
        last_remaining_ = remaining;
        return;
    }
    const std::int64_t epoch = *info.reset_epoch;
    if (window_epoch_ &&
        (epoch < *window_epoch_ ||
         (epoch == *window_epoch_ && (window_over_ || (last_remaining_ && remaining > *last_remaining_)))))
        return; // a window we already left, or a reply overtaken by a newer one
    const auto step = window_epoch_ ? std::optional<std::int64_t>{epoch - *window_epoch_} : std::nullopt;
    window_epoch_ = epoch;
    const sched_time local = reset_to_local(now, epoch);
    if (local <= now) {
        window_over_ = true; // the reply is about a window that has already reset
        return;
    }
    window_over_ = false;
    last_remaining_ = remaining;
    budget_ = remaining - others;
    reset_local_ = local;
    set_pace_deadline(now, local, step);
}

// The window's end as the server has it (the margin only delays the wait for a reset).
CARCHECK_DECL void scheduler_core::set_pace_deadline(sched_time now, sched_time reset_local,
                                                     std::optional<std::int64_t> step)
{
    const sched_time end = reset_local - opts_.reset_margin;
    learn_window_length(std::chrono::duration_cast<std::chrono::nanoseconds>(end - now), step);
    if (!pace_deadline_) { // pacing starts: a full bucket, not the debt of unpaced sends
        pace_time_ = now;
        pace_tokens_ = pace_capacity();
    }
    pace_deadline_ = end;
}

CARCHECK_DECL retry_decision scheduler_core::give_up(error_code ec)
{
    ++c_.failed;
    retry_decision d;
    d.ec = ec;
    return d;
}

CARCHECK_DECL retry_decision scheduler_core::try_retry(sched_time now, request_id, record& r, retry_reason why,
                                         const attempt_outcome& o, error_code final_ec)
{
    if (closed_)
        return give_up(error::client_closed);
    if (exhausted_)
        return give_up(error::monthly_limit);
    retry_context ctx;
    ctx.reason = why;
    ctx.attempts = r.attempts;
    ctx.refused = r.refused;
    ctx.outcome = &o;
    if (why == retry_reason::rate_limited && reset_local_)
        ctx.until_reset = std::max(std::chrono::duration_cast<std::chrono::nanoseconds>(*reset_local_ - now),
                                   std::chrono::nanoseconds{0});
    auto delay = opts_.retry->next_delay(ctx);
    if (!delay)
        return give_up(final_ec);
    *delay = std::max(*delay, std::chrono::nanoseconds{0});
    // A 403 is retried for a time, not a number of attempts: waiting is all it costs.
    if (why == retry_reason::rate_limited && r.first_refused &&
        now + std::chrono::duration_cast<sched_time::duration>(*delay) - *r.first_refused > opts_.max_rate_limited_wait) {
        ++c_.rate_limited_given_up;
        return give_up(final_ec);
    }
    r.not_before = now + std::chrono::duration_cast<sched_time::duration>(*delay);
    r.held_by_rate_limit = why == retry_reason::rate_limited;
    if (why == retry_reason::rate_limited)
        ++c_.retried_rate_limited;
    else
        ++c_.retried_transport;
    retry_decision d;
    d.retry = true;
    d.delay = *delay;
    d.ec = final_ec;
    return d;
}

CARCHECK_DECL retry_decision scheduler_core::on_outcome(sched_time now, request_id id,
                                                        const attempt_outcome& o)
{
    advance(now);
    const auto it = records_.find(id);
    if (it == records_.end() || it->second.state != where::in_flight) {
        settle(now);
        retry_decision d;
        d.ec = error::invalid_argument;
        return d;
    }
    record& r = it->second;
    r.state = where::idle;
    --in_flight_;

    if (o.rate_limit.server_date)
        learn_offset(*o.rate_limit.server_date, o.received_at.value_or(now));
    if (o.credits_used)
        c_.credits_used = o.credits_used;
    if (o.credits_total)
        c_.credits_total = o.credits_total;
    if (c_.credits_used && c_.credits_total)
        c_.credits_remaining = *c_.credits_total - *c_.credits_used;

    const unsigned status = o.http_status;
    const bool ok_status = status >= 200 && status < 300;
    const error_code final_ec = o.ec ? o.ec : (status == 0 || ok_status ? error_code{} : error_from_status(status));
    apply_rate_limit(now, o.rate_limit, status == 403);
    if (status != 0) {
        heard_ = true;
        count_own_reply(o.rate_limit, status);
    }
    adapt_in_flight(now, r, status);

    retry_decision d;
    if (status == 402) {
        ++c_.responses_402;
        exhausted_ = true;
        fail_waiting(error::monthly_limit);
        d = give_up(error::monthly_limit);
    } else if (status == 403) {
        ++c_.responses_403; // refused unprocessed: always safe to repeat
        ++r.refused;
        if (!r.first_refused)
            r.first_refused = now;
        d = try_retry(now, id, r, retry_reason::rate_limited, o, final_ec ? final_ec : error_code{error::rate_limited});
        // Reset unknown: hold every request for this back-off, not just the refused one.
        if (d.retry && !reset_local_)
            reset_local_ = now + std::chrono::duration_cast<sched_time::duration>(d.delay);
    } else if (!final_ec) {
        ++c_.succeeded;
    } else if (final_ec == boost::system::errc::operation_canceled) {
        ++c_.cancelled;
        d.ec = final_ec;
    } else if (final_ec == error::timeout) {
        d = give_up(final_ec); // the server may still be working on it
    } else {
        // Repeat only connection failures the server cannot have processed (credits are
        // money): nothing of a reply arrived and it never got the whole request (or
        // repeating is free). carcheck's own verdicts (a changed upload file, a bad reply)
        // would fail the same way again.
        const bool answered = status != 0 || o.response_bytes_received;
        const bool safe = is_connection_failure(final_ec) && !answered && (!o.request_fully_written || o.idempotent);
        d = safe ? try_retry(now, id, r, retry_reason::transport, o, final_ec) : give_up(final_ec);
    }
    settle(now);
    return d;
}

CARCHECK_DECL std::optional<core_event> scheduler_core::next_event(sched_time now)
{
    advance(now);
    if (!events_.empty()) {
        const core_event e = events_.front();
        events_.pop_front();
        return e;
    }
    const queue_key* head = candidate();
    if (head && combined_gate().open) {
        const request_id id = head->second;
        record& r = records_.at(id);
        unqueue(id, r);
        send(id, r);
        settle(now);
        return core_event{id, {}};
    }
    settle(now);
    return std::nullopt;
}

CARCHECK_DECL std::optional<sched_time> scheduler_core::next_wakeup(sched_time now) const
{
    if (!events_.empty())
        return now;
    std::optional<sched_time> w;
    if (candidate()) {
        const gate g = combined_gate();
        if (g.open)
            w = now;
        else if (g.until)
            w = std::max(*g.until, now);
    }
    if (!delayed_.empty())
        w = w ? std::min(*w, delayed_.begin()->first) : delayed_.begin()->first;
    return w;
}

CARCHECK_DECL void scheduler_core::reset_credits_exhausted(sched_time now)
{
    advance(now);
    exhausted_ = false;
    settle(now);
}

CARCHECK_DECL void scheduler_core::close(sched_time now)
{
    advance(now);
    closed_ = true;
    fail_waiting(error::client_closed);
    settle(now);
}

CARCHECK_DECL scheduler_counters scheduler_core::counters(sched_time now) const
{
    scheduler_counters c = c_;
    if (started_ && now > last_) {
        const std::size_t held =
            delayed_held_ + (rate_blocked_ ? ready_.size() + waiting_space_.size() : 0);
        c.throttled_time += std::chrono::duration_cast<std::chrono::nanoseconds>(now - last_) *
                            static_cast<std::int64_t>(held);
        if (held || pace_blocked_ || (cap_blocked_ && !ready_.empty()))
            c.throttled_wall_time += std::chrono::duration_cast<std::chrono::nanoseconds>(now - last_);
    }
    c.credits_exhausted = exhausted_;
    c.queue_length = ready_.size() + waiting_space_.size() + delayed_.size();
    c.in_flight = in_flight_;
    c.rate_limit = limit_;
    c.rate_remaining = budget_;
    c.rate_share = share_;
    if (const std::size_t cap = in_flight_cap())
        c.in_flight_limit = cap;
    if (latency_)
        c.observed_latency = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::duration<double>(*latency_));
    if (opts_.adaptive_concurrency && !opts_.max_in_flight)
        c.allowed_rate = allowed_rate();
    return c;
}

} // namespace carcheck::detail

#endif
