#ifndef CARCHECK_RETRY_POLICY_HPP
#define CARCHECK_RETRY_POLICY_HPP

#include <carcheck/config.hpp>
#include <carcheck/rate_limit.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <random>

namespace carcheck {

/// How one attempt (one send of a request) ended, as the client reports it to the
/// scheduler. Fill in what is known; everything has a harmless default.
struct attempt_outcome {
    /// HTTP status of the reply; 0 when no complete status line arrived.
    unsigned http_status = 0;
    /// The attempt's error: a transport error (connect, TLS, socket), error::timeout,
    /// operation_aborted, or the error the status maps to. Empty for a 200.
    error_code ec;
    /// The X-RateLimit-* and Date headers of the reply (parse_rate_limit()); empty if none.
    rate_limit_info rate_limit;
    /// Local (system clock) time the reply's headers arrived; the scheduler's clock "now"
    /// when empty. Used with rate_limit.server_date to learn the server's clock offset.
    std::optional<std::chrono::system_clock::time_point> received_at;
    /// The whole request (headers and body) was written to the connection.
    bool request_fully_written = false;
    /// At least one byte of a response arrived. Implied by a non-zero http_status.
    bool response_bytes_received = false;
    /// Repeating the request has no cost or side effect (GET /config): a transport failure
    /// after the request was fully written may then be retried too.
    bool idempotent = false;
    /// credits_monthly_used / credits_monthly_total of a 200 reply, when present.
    std::optional<std::int64_t> credits_used;
    std::optional<std::int64_t> credits_total;
};

/// Why the scheduler asks the retry policy about a failed attempt.
enum class retry_reason {
    rate_limited, ///< HTTP 403: the server refused without processing the request
    transport,    ///< a connection failure before the server can have processed the request
};

/// What a retry policy is told. The scheduler only asks about failures that are safe to
/// repeat; timeouts, 402, other statuses and possibly-processed requests never get here.
struct retry_context {
    retry_reason reason = retry_reason::transport;
    /// Attempts made so far, including the one that just failed (>= 1).
    unsigned attempts = 1;
    /// Of `attempts`, those refused with a 403. Attempt limits should count only the others
    /// (attempts - refused): the scheduler bounds 403 retries by time
    /// (scheduler_options::max_rate_limited_wait).
    unsigned refused = 0;
    /// For rate_limited with a known X-Ratelimit-Reset: how long until the window resets,
    /// in local time with the clock offset and safety margin applied (>= 0).
    std::optional<std::chrono::nanoseconds> until_reset;
    /// The failed attempt.
    const attempt_outcome* outcome = nullptr;
};

/// Decides whether, and after how long, a failed attempt is repeated. Replaceable:
/// derive and pass it in scheduler_options::retry. Called on the scheduler's executor
/// only, so an implementation needs no locking.
class retry_policy {
public:
    virtual ~retry_policy() = default;
    /// The delay before the next attempt, or nullopt to give up (the request then fails
    /// with the attempt's error). The scheduler still holds the retry while the rate
    /// limit, caps or queue order require, so the real wait can be longer.
    virtual std::optional<std::chrono::nanoseconds> next_delay(const retry_context& ctx) = 0;
};

/// Settings of exponential_backoff.
struct backoff_options {
    /// Attempts of one request that were not refused with a 403, the first one included
    /// (so 3 = up to 2 retries after connection failures). 403s are retried for as long as
    /// scheduler_options::max_rate_limited_wait allows, whatever this says.
    unsigned max_attempts = 3;
    /// Upper bound of the first retry's delay; doubles with every further attempt.
    std::chrono::milliseconds base{100};
    /// The doubling stops here.
    std::chrono::milliseconds cap{10'000};
    /// Seed of the jitter generator; from std::random_device when empty (tests pin it).
    std::optional<std::uint64_t> seed;
};

/// The default policy: bounded attempts after connection failures; a 403 is always retried
/// (the scheduler bounds that by time), with a known reset exactly at the reset (however
/// long, the scheduler caps it with scheduler_options::max_reset_wait); everything else
/// waits a "full jitter" delay, uniform in [0, min(cap, base * 2^(n-1))] after the n-th
/// failed attempt of its kind, so that many clients do not retry in lock-step.
class exponential_backoff final : public retry_policy {
public:
    CARCHECK_DECL explicit exponential_backoff(backoff_options opts = {});

    CARCHECK_DECL std::optional<std::chrono::nanoseconds> next_delay(const retry_context& ctx) override;

    /// The upper bound of the jittered delay after `attempts` failed attempts.
    CARCHECK_DECL std::chrono::nanoseconds ceiling(unsigned attempts) const noexcept;

    const backoff_options& options() const noexcept { return opts_; }

private:
    backoff_options opts_;
    std::mt19937_64 rng_;
};

/// What the client does after an attempt: finish with `ec` (success when empty), or send
/// the request again once the scheduler admits it (after at least `delay`; `ec` is then
/// the failed attempt's error, for diagnostics).
struct retry_decision {
    bool retry = false;
    std::chrono::nanoseconds delay{};
    error_code ec;
};

} // namespace carcheck

#ifdef CARCHECK_HEADER_ONLY
#include <carcheck/impl/retry_policy.ipp>
#endif

#endif
