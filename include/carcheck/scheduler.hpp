#ifndef CARCHECK_SCHEDULER_HPP
#define CARCHECK_SCHEDULER_HPP

#include <carcheck/config.hpp>
#include <carcheck/detail/scheduler_core.hpp>
#include <carcheck/error.hpp>
#include <carcheck/retry_policy.hpp>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/deferred.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <utility>

namespace carcheck {

/// The wall clock the scheduler reads (system_clock by default). Replace it in tests. The
/// scheduler's waits run on an asio::steady_timer for (target - now()), so a manual clock
/// that is stepped needs scheduler::refresh() afterwards.
class scheduler_clock {
public:
    virtual ~scheduler_clock() = default;
    virtual std::chrono::system_clock::time_point now() const = 0;
};

/// std::chrono::system_clock as a scheduler_clock (one shared instance).
CARCHECK_DECL std::shared_ptr<scheduler_clock> system_scheduler_clock();

namespace detail {

class scheduler_state; // detail/scheduler_state.hpp

/// Queues the ticket's request for admission (scheduler::async_admit's work, compiled once).
CARCHECK_DECL void start_admit(const std::shared_ptr<scheduler_state>& st, request_id id,
                               asio::any_completion_handler<void(error_code)> handler);

struct initiate_admit {
    template <class Handler>
    void operator()(Handler&& handler, request_id id, const std::shared_ptr<scheduler_state>& st) const
    {
        start_admit(st, id, asio::any_completion_handler<void(error_code)>(std::forward<Handler>(handler)));
    }
};

} // namespace detail

/// Admission control between client operations and the connection pool: holds requests
/// while the API's rate-limit window is spent (until its reset, corrected for clock skew),
/// paces the rest of the window to this client's share of it (other replicas on the same
/// key show in X-Ratelimit-Remaining; scheduler_options::pace), applies optional
/// client-side caps, orders waiting requests by priority then FIFO, decides retries (403s
/// for max_rate_limited_wait, transport failures the server cannot have processed) and
/// stops everything on a 402 until reset_credits_exhausted().
///
/// Threading: runs on the one executor given at construction (make it a strand if the
/// io_context has several threads). Every member, every ticket operation (including its
/// destructor) and every emission of a cancellation signal bound to async_admit must
/// happen on that executor. There are no internal locks.
///
/// Per request:
///     auto t = sched.make_ticket(priority::normal);
///     for (;;) {
///         auto [ec] = co_await sched.async_admit(t, as_tuple(deferred));  // may wait
///         if (ec) return ec;                     // queue_full, monthly_limit, client_closed,
///                                                // operation_aborted
///         attempt_outcome o = send_once(...);    // pool + exchange, whatever happened
///         retry_decision d = sched.on_outcome(t, o);
///         if (!d.retry) return d.ec;             // success or the final error
///     }                                          // ~ticket forgets the request
/// Every admission must be followed by exactly one on_outcome() (also for failures before
/// anything was written, e.g. connect errors: those are retried) or by dropping the ticket.
class scheduler {
public:
    using executor_type = asio::any_io_executor;

    /// One logical request (all its attempts). Move-only; destroying it releases the
    /// request: removed from the queue, or, when admitted without an outcome, counted as
    /// cancelled and no longer in flight.
    class ticket {
    public:
        ticket() noexcept = default;
        ticket(ticket&& o) noexcept : state_(std::move(o.state_)), id_(std::exchange(o.id_, 0)) {}
        ticket& operator=(ticket&& o) noexcept
        {
            if (this != &o) {
                reset();
                state_ = std::move(o.state_);
                id_ = std::exchange(o.id_, 0);
            }
            return *this;
        }
        ticket(const ticket&) = delete;
        ticket& operator=(const ticket&) = delete;
        ~ticket() { reset(); }

        /// Releases the request now (as the destructor does).
        CARCHECK_DECL void reset() noexcept;

        explicit operator bool() const noexcept { return state_ != nullptr; }

    private:
        friend class scheduler;
        ticket(std::shared_ptr<detail::scheduler_state> st, detail::request_id id) noexcept
            : state_(std::move(st)), id_(id)
        {
        }
        std::shared_ptr<detail::scheduler_state> state_;
        detail::request_id id_ = 0;
    };

    /// Throws std::invalid_argument for invalid options (see scheduler_options).
    CARCHECK_DECL explicit scheduler(executor_type ex, scheduler_options opts = {},
                                     std::shared_ptr<scheduler_clock> clock = {});
    scheduler(scheduler&&) noexcept = default;
    scheduler& operator=(scheduler&&) = delete;
    scheduler(const scheduler&) = delete;
    scheduler& operator=(const scheduler&) = delete;
    /// Closes: waiting admissions complete with error::client_closed.
    CARCHECK_DECL ~scheduler();

    CARCHECK_DECL executor_type get_executor() const noexcept;

    /// Registers a request. Cheap; nothing is queued until async_admit.
    CARCHECK_DECL ticket make_ticket(priority p = priority::normal);

    /// Completes (void(error_code)) when the ticket's next attempt may be sent now; the
    /// attempt then counts as in flight until on_outcome(). Errors: error::queue_full (queue
    /// full in fail-fast mode), error::monthly_limit (after a 402), error::client_closed,
    /// error::invalid_argument (empty or foreign ticket, or one already waiting or in
    /// flight), asio::error::operation_aborted (cancelled while waiting: any cancellation
    /// type removes it from the queue at once). Never completes inline; the handler runs
    /// on its associated executor, by default this scheduler's.
    template <class Token = asio::deferred_t>
    auto async_admit(ticket& t, Token&& token = {})
    {
        return asio::async_initiate<Token, void(error_code)>(
            detail::initiate_admit{}, token, t.state_ == state_ ? t.id_ : detail::request_id{0}, state_);
    }

    /// async_admit's fast path, for callers that would rather not suspend: when nothing
    /// makes the ticket's next attempt wait (no request ahead of it; window, pacing,
    /// requests_per_second and the in-flight limit open), it is admitted here and now, as
    /// if async_admit had completed without error. Returns empty when the attempt would
    /// have to wait -- nothing changed then: call async_admit -- or the error async_admit
    /// would complete with (error::monthly_limit, error::client_closed,
    /// error::invalid_argument). Called where async_admit would be (same executor).
    CARCHECK_DECL std::optional<error_code> try_admit(ticket& t);

    /// Reports how the admitted attempt ended and says what to do next. After a retry
    /// decision call async_admit again: it waits out the delay and the rate limit.
    CARCHECK_DECL retry_decision on_outcome(ticket& t, const attempt_outcome& o);

    /// Accepts requests again after a 402 (e.g. after the plan was upgraded).
    CARCHECK_DECL void reset_credits_exhausted();

    CARCHECK_DECL scheduler_counters counters() const;

    /// Fails every waiting admission with error::client_closed, and every later one.
    CARCHECK_DECL void close();

    /// Re-evaluates the waiting requests against the clock now. The scheduler does this by
    /// itself when its timer fires; call it after stepping a manual clock.
    CARCHECK_DECL void refresh();

private:
    std::shared_ptr<detail::scheduler_state> state_;
};

} // namespace carcheck

#ifdef CARCHECK_HEADER_ONLY
// The definitions need scheduler_state complete; its header includes them at its end.
#include <carcheck/detail/scheduler_state.hpp>
#endif

#endif
