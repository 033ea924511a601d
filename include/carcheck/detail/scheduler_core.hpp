#ifndef CARCHECK_DETAIL_SCHEDULER_CORE_HPP
#define CARCHECK_DETAIL_SCHEDULER_CORE_HPP

// The decision logic of carcheck::scheduler as a pure state machine: no I/O, no timers, no
// threads, no reading of clocks. Every input carries the time ("now"); outputs are
// decisions (send now, queued, failed, retry after a delay) and the time at which the
// state may next change by itself. The public option and counter types are in
// <carcheck/scheduler_options.hpp>; the Asio front end is <carcheck/scheduler.hpp>.

#include <carcheck/detail/recycled_allocator.hpp>
#include <carcheck/error.hpp>
#include <carcheck/rate_limit.hpp>
#include <carcheck/retry_policy.hpp>
#include <carcheck/scheduler_options.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <unordered_map>
#include <utility>

namespace carcheck::detail {

using sched_time = std::chrono::system_clock::time_point;
using request_id = std::uint64_t; // 0 is never issued

/// Result of scheduler_core::request().
struct admit_result {
    /// would_wait: only from request(..., false): nothing was queued.
    enum kind { send_now, queued, failed, would_wait } what = failed;
    error_code ec; ///< for `failed`
};

/// A decision about a queued request that the core makes later: send it now (ec empty)
/// or finish it with ec (402, close).
struct core_event {
    request_id id = 0;
    error_code ec;
};

/// Not thread-safe; the owner serialises calls. Times passed in should not go backwards;
/// if they do (a stepped clock) waits are re-capped, never extended without bound.
///
/// Protocol per request: open() once; then per attempt request() and, once admitted
/// (send_now or a core_event without error), exactly one on_outcome(); release() when the
/// request is over. After every call, take next_event() until empty and wake up at
/// next_wakeup().
class scheduler_core {
public:
    /// Throws std::invalid_argument for a non-positive rate or max_in_flight of 0.
    CARCHECK_DECL explicit scheduler_core(scheduler_options opts);

    /// Registers a request; no attempt yet.
    CARCHECK_DECL request_id open(priority p);

    /// Asks to send the next attempt of `id`. With may_wait false, an attempt that cannot go
    /// at once is not queued: the result is would_wait and the request stays as it was.
    CARCHECK_DECL admit_result request(sched_time now, request_id id, bool may_wait = true);

    /// Removes a queued request (it stays open; a later request() queues it again).
    /// False if it was not waiting.
    CARCHECK_DECL bool cancel(sched_time now, request_id id);

    /// Forgets the request. An admitted attempt without outcome counts as cancelled.
    CARCHECK_DECL void release(sched_time now, request_id id) noexcept;

    /// Reports how an admitted attempt ended.
    CARCHECK_DECL retry_decision on_outcome(sched_time now, request_id id, const attempt_outcome& o);

    /// The next decision due at `now`, if any.
    CARCHECK_DECL std::optional<core_event> next_event(sched_time now);

    /// When the state may change without input: a hold ends, a retry delay elapses.
    /// Empty when nothing waits or everything waits for an outcome.
    CARCHECK_DECL std::optional<sched_time> next_wakeup(sched_time now) const;

    /// Accepts requests again after a 402.
    CARCHECK_DECL void reset_credits_exhausted(sched_time now);

    /// Fails every waiting request with error::client_closed, and every later one.
    CARCHECK_DECL void close(sched_time now);

    CARCHECK_DECL scheduler_counters counters(sched_time now) const;

    bool closed() const noexcept { return closed_; }
    bool credits_exhausted() const noexcept { return exhausted_; }
    /// Learnt offset server clock - local clock (0 until a Date header was seen).
    std::chrono::nanoseconds clock_offset() const noexcept { return offset_.value_or(std::chrono::nanoseconds{0}); }
    /// Local time the current window resets (margin included), if known.
    std::optional<sched_time> reset_time() const noexcept { return reset_local_; }
    /// Requests that may still be sent in this window; empty when unknown (unlimited).
    std::optional<std::int64_t> budget() const noexcept { return budget_; }
    /// With pacing: this client's estimated share of the key's window (1 until others show).
    double share() const noexcept { return share_; }

private:
    enum class where : std::uint8_t { idle, ready, waiting_space, delayed, in_flight };
    struct record {
        priority prio = priority::normal;
        where state = where::idle;
        unsigned attempts = 0;
        unsigned refused = 0;                  // attempts answered with a 403
        std::optional<sched_time> first_refused; // when the first 403 came
        bool held_by_rate_limit = false; // a delayed 403 retry
        bool counted = false;            // in counters().submitted
        std::optional<sched_time> not_before; // set by a retry decision
        sched_time delayed_until{};
        sched_time sent_at{}; // of the attempt in flight: its latency when the reply comes
    };
    using queue_key = std::pair<std::uint8_t, request_id>;
    struct gate {
        bool open = true;
        std::optional<sched_time> until; // when closed: empty = until an outcome arrives
    };

    void advance(sched_time now);
    void settle(sched_time now);
    void update_window(sched_time now);
    void admit_waiters();
    gate rate_gate() const;
    gate pace_gate() const;
    double pace_rate() const;
    double pace_capacity() const;
    void refill_pace(sched_time now);
    void count_own_reply(const rate_limit_info& info, unsigned status);
    double own_in_window() const;
    double total_in_window() const;
    double joined_split() const;
    double joined_weight() const;
    // Requests the first reply of a window joined part-way weighs as: few enough that
    // history left by processes gone is outweighed within a round trip or two, enough that
    // the first replies of replicas started together (which see each other's first
    // requests) steer their shares until later replies confirm them.
    static constexpr std::int64_t joined_prior = 16;
    void learn_window_length(std::chrono::nanoseconds until_reset, std::optional<std::int64_t> step);
    std::optional<std::chrono::nanoseconds> window_length() const;
    void start_window(sched_time now, sched_time reset_was);
    void set_pace_deadline(sched_time now, sched_time reset_local, std::optional<std::int64_t> step);
    gate combined_gate(bool with_in_flight_cap = true) const;
    std::size_t in_flight_cap() const;
    std::optional<double> allowed_rate() const;
    void adapt_in_flight(sched_time now, const record& r, unsigned status);
    const queue_key* candidate() const;
    void send(request_id id, record& r);
    void unqueue(request_id id, record& r);
    void fail_waiting(error_code ec);
    void learn_offset(sched_time server_date, sched_time received);
    sched_time reset_to_local(sched_time now, std::int64_t epoch) const;
    void apply_rate_limit(sched_time now, const rate_limit_info& info, bool refused);
    retry_decision give_up(error_code ec);
    retry_decision try_retry(sched_time now, request_id id, record& r, retry_reason why,
                             const attempt_outcome& o, error_code final_ec);

    scheduler_options opts_;
    // Nodes from the per-thread cache: one is made and freed per request.
    std::unordered_map<request_id, record, std::hash<request_id>, std::equal_to<request_id>,
                       recycled_allocator<std::pair<const request_id, record>>>
        records_;
    std::set<queue_key> ready_;         // admitted into the bounded queue
    std::set<queue_key> waiting_space_; // beyond max_queue, in wait mode
    std::set<std::pair<sched_time, request_id>> delayed_; // retries before their delay ended
    std::deque<core_event> events_;
    request_id next_id_ = 1;

    bool closed_ = false;
    bool exhausted_ = false;
    std::size_t in_flight_ = 0;
    std::size_t delayed_held_ = 0; // delayed entries held by a 403

    // Rate-limit window as learnt from replies.
    std::optional<std::int64_t> limit_;
    std::optional<std::int64_t> budget_;
    std::optional<std::int64_t> last_remaining_;
    std::optional<std::int64_t> window_epoch_;
    bool window_over_ = false;
    std::optional<sched_time> reset_local_;
    std::optional<sched_time> stall_until_;
    std::optional<std::chrono::nanoseconds> offset_;

    // Pacing (opts_.pace). The deadline is the server's reset in local time, margin not
    // included; after a reset it is predicted from the window length until a reply tells.
    bool heard_ = false; // a reply arrived: until then one request at a time
    std::optional<sched_time> probe_sent_; // when the first request went
    std::optional<sched_time> pace_deadline_;
    std::optional<sched_time> pace_start_; // random start of the current window
    std::optional<std::chrono::nanoseconds> window_len_; // longest time to a reset seen
    std::optional<std::int64_t> epoch_step_;              // smallest step between resets seen
    double pace_tokens_ = 0;
    sched_time pace_time_{};
    // This client's requests the server counted, and all it counted, in the current and the
    // previous window (from Remaining): their ratio is this client's share. In a window this
    // client joined part-way (its first, or the first after windows it sent nothing in), what
    // was spent before its first reply is history, not competition: the counts start at that
    // reply, whose split weighs as a prior of a few requests (joined_weight()).
    std::optional<std::int64_t> share_epoch_;
    std::int64_t own_now_ = 0, total_now_ = 0;
    double own_before_ = 0, total_before_ = 0;
    bool joined_ = false; // the current window was joined part-way
    std::int64_t joined_own_ = 0, joined_total_ = 0; // the counts at its first reply
    double share_ = 1.0;
    std::mt19937_64 rng_;

    // Adaptive limit of requests in flight (opts_.adaptive_concurrency).
    double adaptive_limit_ = 0;
    std::optional<double> latency_; // EWMA, seconds
    std::optional<double> fastest_; // smallest sample, seconds
    bool limit_bound_ = false;       // a request waited for the in-flight limit since the last reply
    std::optional<sched_time> last_cut_; // the last decrease (at most one a round trip)

    // Token bucket.
    double tokens_ = 0;
    sched_time bucket_time_{};

    // Accounting.
    bool started_ = false;
    sched_time last_{};
    bool rate_blocked_ = false;
    bool cap_blocked_ = false; // requests_per_second has no token left (at the last settle)
    bool pace_blocked_ = false; // pacing holds a request while the window has room (at the last settle)
    scheduler_counters c_{};
};

} // namespace carcheck::detail

#ifdef CARCHECK_HEADER_ONLY
#include <carcheck/impl/scheduler_core.ipp>
#endif

#endif
