#ifndef CARCHECK_IMPL_CONNECTION_POOL_IPP
#define CARCHECK_IMPL_CONNECTION_POOL_IPP

#include <carcheck/detail/pool_impl.hpp>

#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <algorithm>

namespace carcheck {
namespace detail {

namespace net = boost::asio;
using net::as_tuple;
using net::use_awaitable;

CARCHECK_DECL pool_impl::pool_impl(net::any_io_executor ex, endpoint ep, pool_options opts,
                                   std::shared_ptr<net::ssl::context> ctx)
    : user_(std::move(ex)), serial_(make_serial_executor(user_, opts.thread_safe)), ep_(std::move(ep)), opts_(opts),
      ctx_(std::move(ctx)), port_text_(std::to_string(ep_.port))
{
    if (opts_.max_connections == 0)
        opts_.max_connections = 1;
}

CARCHECK_DECL bool pool_impl::expired(const http_connection& c, steady_clock::time_point now) const noexcept
{
    return opts_.timeouts.idle.count() > 0 && now - c.last_used >= opts_.timeouts.idle;
}

CARCHECK_DECL http_connection* pool_impl::take_idle() noexcept
{
    if (closed_)
        return nullptr;
    close_expired(); // lazily, as no timer runs unless run() is active
    // An idle connection, most recently used first: it is the least likely to have been
    // closed by the server's idle timeout.
    while (!idle_.empty()) {
        http_connection* c = idle_.back();
        idle_.pop_back();
        if (!c->looks_alive()) {
            ++counters_.stale_discarded;
            destroy(c);
            continue;
        }
        ++counters_.reuses;
        return c;
    }
    return nullptr;
}

CARCHECK_DECL net::awaitable<acquire_result> pool_impl::acquire(net::cancellation_slot cancel)
{
    if (closed_)
        co_return acquire_result{error::client_closed, "the connection pool is closed", nullptr};
    if (http_connection* c = take_idle())
        co_return acquire_result{{}, {}, c};

    // Wait for one: returned by another request or made for us in the background.
    pool_waiter w{serial_};
    w.timer.expires_after(opts_.timeouts.pool_wait);
    waiters_.push_back(&w);
    ++counters_.waits;
    const auto started = steady_clock::now();
    spawn_connects();
    // The caller's cancellation reaches the wait through its slot (emitted on serial_).
    bool cancelled = false;
    if (cancel.is_connected())
        cancel.assign([&w, &cancelled](net::cancellation_type) {
            cancelled = true;
            w.timer.cancel();
        });
    auto wait = w.timer.async_wait(as_tuple(net::deferred)); // named: no frame, no temporary
    auto [ec] = co_await std::move(wait);
    if (cancel.is_connected())
        cancel.clear();
    counters_.wait_time += steady_clock::now() - started;
    if (auto it = std::find(waiters_.begin(), waiters_.end(), &w); it != waiters_.end())
        waiters_.erase(it);

    if (w.conn) {
        if (cancelled) {
            release(w.conn, true);
            co_return acquire_result{net::error::operation_aborted, "cancelled", nullptr};
        }
        co_return acquire_result{{}, {}, w.conn};
    }
    if (w.ec)
        co_return acquire_result{w.ec, std::move(w.failure), nullptr};
    if (closed_)
        co_return acquire_result{error::client_closed, "the connection pool was closed", nullptr};
    if (cancelled || ec)
        co_return acquire_result{net::error::operation_aborted, "cancelled", nullptr};
    ++counters_.wait_timeouts;
    co_return acquire_result{error::timeout, "no connection became free within the pool wait timeout",
                             nullptr};
}

CARCHECK_DECL void pool_impl::spawn_connects()
{
    // Never more connections than waiting requests need, never more than the bound.
    while (!closed_ && connecting_.size() < waiters_.size() &&
           all_.size() + connecting_.size() < opts_.max_connections) {
        auto self = shared_from_this();
        // Reserve the slot now so the loop condition sees it; connect_one replaces it.
        connecting_.push_back(nullptr);
        net::co_spawn(serial_, [self]() { return self->connect_one(); }, net::detached);
    }
}

CARCHECK_DECL void pool_impl::hand_over(http_connection* c)
{
    if (!waiters_.empty()) {
        pool_waiter* w = waiters_.front();
        waiters_.pop_front();
        w->conn = c;
        w->timer.cancel();
        return;
    }
    c->last_used = steady_clock::now();
    idle_.push_back(c);
    // No timer is armed here: an idle connection must not keep io_context::run() busy.
    // It expires lazily at the next acquire(), or on time while run() is active.
}

CARCHECK_DECL net::awaitable<void> pool_impl::connect_one()
{
    auto self = shared_from_this(); // keeps the pool alive until this attempt ends
    ssl_session_ptr session;
    if (ep_.tls && !sessions_.empty()) {
        // A copy: the connection's SSL may mark the object it was given not resumable
        // (an unexpected EOF later does), and the last one is shared with the next.
        session.reset(SSL_SESSION_dup(sessions_.back().get()));
        if (sessions_.size() > 1)
            sessions_.pop_back();
    }
    auto c = std::make_shared<connector>(serial_, ep_, opts_, ctx_.get(), std::move(session), counters_);
    // Take the slot reserved by spawn_connects.
    *std::find(connecting_.begin(), connecting_.end(), nullptr) = c;
    connect_result r = co_await c->run();
    connecting_.erase(std::find(connecting_.begin(), connecting_.end(), c));

    if (closed_) {
        if (r.conn)
            r.conn->close();
        co_return;
    }
    if (r.ec) {
        // The first waiter learns why instead of waiting for its deadline.
        if (!waiters_.empty()) {
            pool_waiter* w = waiters_.front();
            waiters_.pop_front();
            w->ec = r.ec;
            w->failure = std::move(r.failure);
            w->timer.cancel();
        }
        spawn_connects();
        co_return;
    }
    http_connection* conn = r.conn.get();
    all_.push_back(std::move(r.conn));
    hand_over(conn);
}

CARCHECK_DECL void pool_impl::close_expired() noexcept
{
    const auto now = steady_clock::now(); // once: a clock read per idle connection added up
    for (std::size_t i = 0; i < idle_.size();) {
        if (expired(*idle_[i], now)) {
            http_connection* c = idle_[i];
            idle_.erase(idle_.begin() + static_cast<std::ptrdiff_t>(i));
            ++counters_.expired_discarded;
            destroy(c);
        } else {
            ++i;
        }
    }
}

CARCHECK_DECL void pool_impl::run(net::any_completion_handler<void(error_code)> handler)
{
    auto self = shared_from_this();
    net::dispatch(serial_, [self, h = std::move(handler)]() mutable { self->start_run(std::move(h)); });
}

CARCHECK_DECL void pool_impl::start_run(net::any_completion_handler<void(error_code)> handler)
{
    auto complete = [this](net::any_completion_handler<void(error_code)> h, error_code ec) {
        auto ex = net::get_associated_executor(h, user_);
        net::dispatch(ex, [h = std::move(h), ec]() mutable { std::move(h)(ec); });
    };
    if (running_ || closed_) {
        // Through the executor's queue, so that it never completes inside async_run().
        const error_code ec = running_ ? error_code(net::error::already_started) : error_code{};
        net::post(serial_, [self = shared_from_this(), complete, h = std::move(handler), ec]() mutable {
            complete(std::move(h), ec);
        });
        return;
    }
    running_ = true;
    run_cancelled_ = false;
    auto slot = net::get_associated_cancellation_slot(handler);
    if (slot.is_connected()) {
        std::weak_ptr<pool_impl> weak = shared_from_this();
        slot.assign([weak, serial = serial_](net::cancellation_type) {
            net::post(serial, [weak] {
                if (auto self = weak.lock()) {
                    self->run_cancelled_ = true;
                    if (self->run_timer_)
                        self->run_timer_->cancel();
                }
            });
        });
    }
    auto self = shared_from_this();
    net::co_spawn(serial_, run_loop(),
                  [self, complete, h = std::move(handler)](std::exception_ptr, error_code ec) mutable {
                      auto slot = net::get_associated_cancellation_slot(h);
                      if (slot.is_connected())
                          slot.clear();
                      self->running_ = false;
                      complete(std::move(h), ec);
                  });
}

CARCHECK_DECL net::awaitable<error_code> pool_impl::run_loop()
{
    auto self = shared_from_this();
    net::steady_timer timer(serial_);
    // Checked a few times per idle period: a connection closes within 1.25 x timeouts.idle.
    const auto period = std::max<std::chrono::milliseconds>(opts_.timeouts.idle / 4,
                                                             std::chrono::milliseconds(50));
    while (!closed_ && !run_cancelled_) {
        timer.expires_after(period);
        run_timer_ = &timer;
        co_await timer.async_wait(as_tuple(use_awaitable));
        run_timer_ = nullptr;
        close_expired();
    }
    co_return closed_ ? error_code{} : error_code(net::error::operation_aborted);
}

CARCHECK_DECL void pool_impl::remember_session(http_connection& c) noexcept
{
    tls_socket* t = c.tls();
    if (!t)
        return;
    // After a complete exchange the TLS 1.3 tickets have arrived; keep the resumable
    // session so a later connection skips the full handshake. Keep a copy:
    // OpenSSL marks a connection's own session object not resumable when that connection
    // later ends with an error or an unexpected EOF, which would spoil it for the others.
    SSL_SESSION* s = SSL_get1_session(t->native_handle());
    if (!s)
        return;
    if (SSL_SESSION_is_resumable(s)) {
        if (SSL_SESSION* copy = SSL_SESSION_dup(s)) {
            if (sessions_.size() >= std::max<std::size_t>(opts_.max_connections, 1))
                sessions_.erase(sessions_.begin()); // the oldest
            sessions_.emplace_back(copy);
        }
    }
    SSL_SESSION_free(s);
}

CARCHECK_DECL void pool_impl::release(http_connection* c, bool reusable) noexcept
{
    // The first exchange of a connection has brought its session tickets (TLS 1.3 sends
    // them after the handshake): keep one for a later connection, also when this one
    // closes now (a server that answers "Connection: close" still resumes).
    if (c->exchanges == 1 || sessions_.empty())
        remember_session(*c);
    if (reusable && !closed_) {
        hand_over(c);
        return;
    }
    ++counters_.discarded;
    destroy(c);
    spawn_connects(); // a slot is free: a waiter may need a new connection
}

CARCHECK_DECL void pool_impl::destroy(http_connection* c) noexcept
{
    c->close();
    auto it = std::find_if(all_.begin(), all_.end(), [c](const auto& p) { return p.get() == c; });
    if (it != all_.end())
        all_.erase(it);
}

CARCHECK_DECL void pool_impl::close()
{
    if (closed_)
        return;
    closed_ = true;
    for (auto& c : connecting_)
        if (c)
            c->cancel();
    for (http_connection* c : idle_)
        destroy(c);
    idle_.clear();
    // Connections lent out are closed: an exchange in progress fails at once, and one that
    // has not started yet cannot wait on a live socket. release() then discards them.
    for (auto& c : all_)
        c->close();
    auto waiters = std::move(waiters_);
    waiters_.clear();
    for (pool_waiter* w : waiters) {
        w->ec = error::client_closed;
        w->failure = "the connection pool was closed";
        w->timer.cancel();
    }
    if (run_timer_)
        run_timer_->cancel();
}

} // namespace detail
} // namespace carcheck

#endif
