#ifndef CARCHECK_IMPL_SCHEDULER_IPP
#define CARCHECK_IMPL_SCHEDULER_IPP

#include <carcheck/detail/scheduler_state.hpp>
#include <carcheck/scheduler.hpp>

#include <boost/asio/append.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>

#include <algorithm>

namespace carcheck {
namespace detail {

class system_scheduler_clock_impl final : public scheduler_clock {
public:
    std::chrono::system_clock::time_point now() const override { return std::chrono::system_clock::now(); }
};

CARCHECK_DECL scheduler_state::scheduler_state(asio::any_io_executor ex, scheduler_options opts,
                                               std::shared_ptr<scheduler_clock> clock)
    : ex_(std::move(ex)), clock_(clock ? std::move(clock) : system_scheduler_clock()),
      core_(std::move(opts)), timer_(ex_)
{
}

CARCHECK_DECL request_id scheduler_state::open(priority p) { return core_.open(p); }

CARCHECK_DECL void scheduler_state::admit(request_id id, handler_type handler)
{
    const admit_result r = core_.request(clock_->now(), id);
    if (r.what != admit_result::queued) {
        complete(std::move(handler), r.ec, false);
    } else {
        auto slot = asio::get_associated_cancellation_slot(handler);
        if (slot.is_connected()) {
            // Nothing has happened to a queued request yet, so every cancellation type can
            // be honoured by removing it.
            slot.assign([w = weak_from_this(), id](asio::cancellation_type) {
                if (auto st = w.lock())
                    st->cancel(id);
            });
        }
        waiting_.emplace(id, waiter{std::move(handler),
                                    asio::prefer(ex_, asio::execution::outstanding_work.tracked)});
    }
    refresh();
}

CARCHECK_DECL std::optional<error_code> scheduler_state::try_admit(request_id id)
{
    const admit_result r = core_.request(clock_->now(), id, false);
    refresh();
    if (r.what == admit_result::would_wait)
        return std::nullopt;
    return r.ec; // empty for send_now
}

CARCHECK_DECL void scheduler_state::cancel(request_id id)
{
    if (!core_.cancel(clock_->now(), id))
        return; // already admitted or finished: nothing to undo
    auto node = waiting_.extract(id);
    // Called from the slot's own handler: clearing the slot here would destroy it mid-call.
    if (!node.empty())
        complete(std::move(node.mapped().handler), asio::error::operation_aborted, false);
    refresh();
}

CARCHECK_DECL retry_decision scheduler_state::on_outcome(request_id id, const attempt_outcome& o)
{
    retry_decision d = core_.on_outcome(clock_->now(), id, o);
    refresh();
    return d;
}

CARCHECK_DECL void scheduler_state::release(request_id id) noexcept
{
    try {
        core_.release(clock_->now(), id);
        auto node = waiting_.extract(id);
        if (!node.empty())
            complete(std::move(node.mapped().handler), asio::error::operation_aborted, true);
        refresh();
    } catch (...) {
        // Only allocation can fail; the request is forgotten by the core either way.
    }
}

CARCHECK_DECL void scheduler_state::reset_credits_exhausted()
{
    core_.reset_credits_exhausted(clock_->now());
    refresh();
}

CARCHECK_DECL scheduler_counters scheduler_state::counters() const { return core_.counters(clock_->now()); }

CARCHECK_DECL void scheduler_state::close()
{
    core_.close(clock_->now());
    refresh();
}

CARCHECK_DECL void scheduler_state::refresh()
{
    const sched_time now = clock_->now();
    while (auto ev = core_.next_event(now)) {
        auto node = waiting_.extract(ev->id);
        if (!node.empty())
            complete(std::move(node.mapped().handler), ev->ec, true);
    }
    arm(now);
}

CARCHECK_DECL void scheduler_state::complete(handler_type handler, error_code ec, bool clear_slot)
{
    if (clear_slot) {
        auto slot = asio::get_associated_cancellation_slot(handler);
        if (slot.is_connected())
            slot.clear();
    }
    // Posted, never invoked inline: the initiating function must return first, and a
    // handler must not run inside whatever scheduler call released it. post() runs it
    // through the handler's associated executor (this scheduler's when it has none).
    asio::post(ex_, asio::append(std::move(handler), ec));
}

CARCHECK_DECL void scheduler_state::arm(sched_time now)
{
    const std::optional<sched_time> wake = core_.next_wakeup(now);
    if (wake == armed_for_)
        return;
    ++timer_generation_; // a wait already in the queue must not act on stale state
    armed_for_ = wake;
    if (!wake) {
        timer_.cancel();
        return;
    }
    const auto delay = std::max(*wake - now, sched_time::duration::zero());
    timer_.expires_after(std::chrono::duration_cast<std::chrono::steady_clock::duration>(delay));
    timer_.async_wait([self = shared_from_this(), gen = timer_generation_](error_code) {
        if (gen != self->timer_generation_)
            return;
        self->armed_for_.reset();
        self->refresh();
    });
}

CARCHECK_DECL void start_admit(const std::shared_ptr<scheduler_state>& st, request_id id,
                               asio::any_completion_handler<void(error_code)> handler)
{
    st->admit(id, std::move(handler));
}

} // namespace detail

CARCHECK_DECL void scheduler::ticket::reset() noexcept
{
    if (auto st = std::move(state_))
        st->release(std::exchange(id_, 0));
}

CARCHECK_DECL scheduler::executor_type scheduler::get_executor() const noexcept
{
    return state_->get_executor();
}

CARCHECK_DECL std::shared_ptr<scheduler_clock> system_scheduler_clock()
{
    static const std::shared_ptr<scheduler_clock> instance =
        std::make_shared<detail::system_scheduler_clock_impl>();
    return instance;
}

CARCHECK_DECL scheduler::scheduler(executor_type ex, scheduler_options opts,
                                   std::shared_ptr<scheduler_clock> clock)
    : state_(std::make_shared<detail::scheduler_state>(std::move(ex), std::move(opts), std::move(clock)))
{
}

CARCHECK_DECL scheduler::~scheduler()
{
    if (state_)
        state_->close();
}

CARCHECK_DECL scheduler::ticket scheduler::make_ticket(priority p)
{
    return ticket{state_, state_->open(p)};
}

CARCHECK_DECL std::optional<error_code> scheduler::try_admit(ticket& t)
{
    if (t.state_ != state_ || t.id_ == 0)
        return error_code(error::invalid_argument);
    return state_->try_admit(t.id_);
}

CARCHECK_DECL retry_decision scheduler::on_outcome(ticket& t, const attempt_outcome& o)
{
    if (t.state_ != state_) {
        retry_decision d;
        d.ec = error::invalid_argument;
        return d;
    }
    return state_->on_outcome(t.id_, o);
}

CARCHECK_DECL void scheduler::reset_credits_exhausted() { state_->reset_credits_exhausted(); }

CARCHECK_DECL scheduler_counters scheduler::counters() const { return state_->counters(); }

CARCHECK_DECL void scheduler::close() { state_->close(); }

CARCHECK_DECL void scheduler::refresh() { state_->refresh(); }

} // namespace carcheck

#endif
