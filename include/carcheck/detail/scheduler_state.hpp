#ifndef CARCHECK_DETAIL_SCHEDULER_STATE_HPP
#define CARCHECK_DETAIL_SCHEDULER_STATE_HPP

#include <carcheck/detail/scheduler_core.hpp>
#include <carcheck/scheduler.hpp>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <unordered_map>

namespace carcheck::detail {

/// The scheduler's state, shared with its tickets and pending timer waits.
class scheduler_state : public std::enable_shared_from_this<scheduler_state> {
public:
    using handler_type = asio::any_completion_handler<void(error_code)>;

    CARCHECK_DECL scheduler_state(asio::any_io_executor ex, scheduler_options opts,
                                  std::shared_ptr<scheduler_clock> clock);

    CARCHECK_DECL request_id open(priority p);
    CARCHECK_DECL void admit(request_id id, handler_type handler);
    /// admit() without waiting: empty when the request would wait (and nothing changed).
    CARCHECK_DECL std::optional<error_code> try_admit(request_id id);
    CARCHECK_DECL retry_decision on_outcome(request_id id, const attempt_outcome& o);
    CARCHECK_DECL void release(request_id id) noexcept;
    CARCHECK_DECL void reset_credits_exhausted();
    CARCHECK_DECL scheduler_counters counters() const;
    CARCHECK_DECL void close();
    CARCHECK_DECL void refresh();

    const asio::any_io_executor& get_executor() const noexcept { return ex_; }

private:
    struct waiter {
        handler_type handler;
        asio::any_io_executor work; // keeps run() from returning while the request waits
    };

    CARCHECK_DECL void cancel(request_id id);
    CARCHECK_DECL void complete(handler_type handler, error_code ec, bool clear_slot);
    CARCHECK_DECL void arm(sched_time now);

    asio::any_io_executor ex_;
    std::shared_ptr<scheduler_clock> clock_;
    scheduler_core core_;
    asio::steady_timer timer_;
    std::optional<sched_time> armed_for_;
    std::uint64_t timer_generation_ = 0;
    std::unordered_map<request_id, waiter> waiting_;
};

} // namespace carcheck::detail

#ifdef CARCHECK_HEADER_ONLY
#include <carcheck/impl/scheduler.ipp>
#endif

#endif
