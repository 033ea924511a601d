#ifndef CARCHECK_SCHEDULER_OPTIONS_HPP
#define CARCHECK_SCHEDULER_OPTIONS_HPP

// Settings and counters of carcheck::scheduler, apart from the scheduler itself so that
// client_options can hold them without pulling in Asio.

#include <carcheck/config.hpp>
#include <carcheck/retry_policy.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>

namespace carcheck {

/// Admission order: a higher priority is admitted first; FIFO within a priority. A retry
/// keeps its request's place (it goes before requests that arrived after it).
enum class priority : std::uint8_t { high = 0, normal = 1, low = 2 };

/// Settings of carcheck::scheduler.
struct scheduler_options {
    /// New requests that may wait for admission at once (retries are not refused).
    std::size_t max_queue = 100000;
    /// When the queue is full: true fails a new request at once with error::queue_full,
    /// false makes it wait for space (back-pressure on the caller).
    bool fail_when_full = false;
    /// Client-side cap: a token bucket refilled at this rate (> 0). None by default.
    std::optional<double> requests_per_second;
    /// Token bucket capacity: requests that may be sent back to back (>= 1).
    double burst = 1.0;
    /// Client-side cap of requests sent and not yet answered (> 0). None by default. When
    /// set, it pins the number in flight: adaptive_concurrency is then ignored.
    std::optional<std::size_t> max_in_flight;
    /// Sizes the limit of requests in flight to the latency (Little's law): while requests
    /// wait for the limit and the replies' latency does not rise, it grows by one a reply
    /// (doubling per round trip) up to the allowed rate x the observed latency x
    /// adaptive_headroom + 1 (the rate from X-RateLimit-Limit over the window length, times
    /// this client's share when pacing, and requests_per_second), or up to
    /// max_adaptive_in_flight while no rate is known. It shrinks at once when the latency
    /// falls or the rate drops, halves on a 403 (at most once a round trip) and falls by a
    /// fifth when, with no rate known, the latency more than doubles its fastest value.
    bool adaptive_concurrency = true;
    /// The adaptive limit starts here (>= 1)...
    std::size_t initial_in_flight = 8;
    /// ...and never goes above this (>= 1). The client caps it at max_connections.
    std::size_t max_adaptive_in_flight = 64;
    /// Margin over rate x latency, for the latency's spread (>= 1).
    double adaptive_headroom = 1.5;
    /// Decides retries of 403s and safe transport failures; exponential_backoff{} if empty.
    std::shared_ptr<retry_policy> retry = {};
    /// Added to every reset time. The learnt clock offset never makes a reset early (Date
    /// has 1 s resolution and is truncated, so the offset is underestimated), the margin
    /// covers the server's own sub-second handling of the boundary.
    std::chrono::milliseconds reset_margin{250};
    /// Sanity cap of a wait for a reset: a reset further away than this (a bogus header, a
    /// reset in milliseconds, a wildly wrong clock) is treated as this far away. After it the
    /// scheduler sends again; a further 403 holds requests again.
    std::chrono::milliseconds max_reset_wait{300'000};
    /// When the window is spent and no reset time is known (missing or stale header, or a
    /// 403 whose reset already passed locally): wait for the replies in flight to bring one,
    /// or this long when none are in flight.
    std::chrono::milliseconds unknown_reset_wait{1'000};
    /// Spread what is left of the rate-limit window over the time left in it, instead of
    /// spending it at once. The window belongs to the key, so other processes may spend it
    /// too: this client paces to its own share, estimated from how much faster
    /// X-Ratelimit-Remaining falls than its own requests explain. Until the first reply
    /// tells the limit, one request is sent at a time. Off: send as long as the window has
    /// room (a single client alone gets the same rate either way).
    bool pace = true;
    /// With pacing: after a window resets, the first request waits a random time up to
    /// this fraction of the window (0..1), so that replicas do not all start together.
    double reset_jitter = 0.05;
    /// With pacing: requests that may go back to back ahead of the even spread, as a
    /// fraction of this client's share of the window (at least 1 request).
    double pace_burst = 0.05;
    /// A 403 costs nothing (never processed, never charged), so a refused request is retried
    /// for as long as this allows, counted from its first 403, whatever retry->max_attempts
    /// says (attempts bound connection failures only). 0: a 403 fails the request at once.
    std::chrono::milliseconds max_rate_limited_wait{300'000};
    /// Seed of the reset jitter; from std::random_device when empty (tests pin it).
    std::optional<std::uint64_t> seed;
};

/// Counters a service can export. Times are sums over requests.
struct scheduler_counters {
    std::uint64_t submitted = 0;           ///< requests that asked for admission (first attempt)
    std::uint64_t sent = 0;                ///< attempts admitted, retries included
    std::uint64_t succeeded = 0;           ///< requests that ended with a 2xx reply
    std::uint64_t failed = 0;              ///< requests that ended with an error (not cancellation)
    std::uint64_t cancelled = 0;           ///< removed from the queue, aborted, or abandoned
    std::uint64_t rejected_queue_full = 0; ///< of `failed`: refused with error::queue_full
    std::uint64_t retried_rate_limited = 0; ///< retries after a 403
    std::uint64_t retried_transport = 0;   ///< retries after a safe transport failure
    std::uint64_t responses_402 = 0;
    std::uint64_t responses_403 = 0;
    /// Time requests spent held by the rate limit (window spent, 403 back-off), summed;
    /// pacing is not counted here (throttled_wall_time counts it).
    std::chrono::nanoseconds throttled_time{};
    /// Wall-clock time during which at least one request was held, by the rate limit (a spent
    /// window, a 403 back-off, pacing) or by the requests_per_second cap (the union of the
    /// holds, not their sum).
    std::chrono::nanoseconds throttled_wall_time{};
    std::optional<std::int64_t> credits_used;      ///< credits_monthly_used of the last 200
    std::optional<std::int64_t> credits_total;     ///< credits_monthly_total of the last 200
    std::optional<std::int64_t> credits_remaining; ///< total - used
    bool credits_exhausted = false;        ///< a 402 was seen and not reset yet
    std::size_t queue_length = 0;          ///< waiting for admission (retries included)
    std::size_t in_flight = 0;             ///< admitted and not yet reported
    std::optional<std::int64_t> rate_limit;         ///< last X-RateLimit-Limit
    std::optional<std::int64_t> rate_remaining;     ///< estimate for this window, in flight deducted
    /// With pacing: this client's estimated share of the key's window (1 = nobody else seen).
    double rate_share = 1.0;
    std::uint64_t rate_limited_given_up = 0; ///< of `failed`: 403s past max_rate_limited_wait
    /// Current limit of requests in flight: max_in_flight when pinned, the adaptive limit,
    /// or empty when there is none.
    std::optional<std::size_t> in_flight_limit;
    std::size_t in_flight_limit_peak = 0; ///< largest in_flight_limit so far (0: none)
    std::size_t in_flight_peak = 0;       ///< most requests in flight at once so far
    /// Smoothed time from admission to reply (EWMA over replies, 403s not included).
    std::optional<std::chrono::nanoseconds> observed_latency;
    /// The rate the adaptive limit is sized to (requests/s), once known.
    std::optional<double> allowed_rate;
};

} // namespace carcheck

#endif
