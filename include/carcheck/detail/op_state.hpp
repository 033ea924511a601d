#ifndef CARCHECK_DETAIL_OP_STATE_HPP
#define CARCHECK_DETAIL_OP_STATE_HPP

#include <carcheck/detail/completion_handler.hpp>
#include <carcheck/detail/http_connection.hpp>
#include <carcheck/detail/recycled_allocator.hpp>
#include <carcheck/detail/serial_executor.hpp>
#include <carcheck/diagnostics.hpp>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <exception>
#include <memory>
#include <utility>

namespace carcheck::detail {

/// Per-operation state of a client operation, shared by its coroutine and its cancellation
/// handler; owned and touched only by the client layer, on the strand. Cancellation goes
/// down as each layer takes it: a per-operation signal for the scheduler's admission and
/// one for the pool's wait, and closing the connection of an exchange in progress.
struct op_state {
    bool cancelled = false;
    http_connection* active = nullptr;          // exchanging on this connection
    boost::asio::cancellation_signal admission; // bound to the scheduler's async_admit
    boost::asio::cancellation_signal pool_wait; // given to the pool's acquire
    diagnostics* diag = nullptr; // the caller's, or `scratch` when the caller passed none
    diagnostics scratch;

    void cancel()
    {
        cancelled = true;
        admission.emit(boost::asio::cancellation_type::terminal);
        pool_wait.emit(boost::asio::cancellation_type::terminal);
        if (active)
            active->cancel();
    }
};

/// An op_state with the operation's result: the body writes it in place and the handler
/// gets it from here, so only an error code travels through co_spawn and the dispatch to
/// the handler's executor (a recognition is some hundred bytes, moved at every hop).
template <class T>
struct op_state_with_result : op_state {
    T result{};
};

/// Runs an operation body on the client's executor `serial`: wires the handler's
/// cancellation slot to the op_state (cancellation is posted to `serial`, so emitting it
/// from any thread is safe when that is a strand) and completes the handler through its
/// associated executor (default: `user`, the executor the client was given), never inline.
/// `make_body(st, result)` gives the body's coroutine, which writes the result in place and
/// returns the error code. An exception escaping the body becomes the error code
/// `on_exception(st, ep)` returns (on `serial`), with an empty result; the body runs as one
/// coroutine, with no wrapper frame of its own to catch it.
template <class T, class MakeBody, class OnException>
void launch(const serial_executor& serial, const boost::asio::any_io_executor& user,
            completion_handler<void(error_code, T)> handler, MakeBody make_body,
            OnException on_exception)
{
    namespace net = boost::asio;
    using state = op_state_with_result<T>;
    auto st = std::allocate_shared<state>(recycled_allocator<state>{});
    auto slot = net::get_associated_cancellation_slot(handler.handler);
    if (slot.is_connected()) {
        slot.assign([st, serial](net::cancellation_type) {
            net::post(serial, [st] { st->cancel(); });
        });
    }
    auto body = make_body(st, st->result);
    net::co_spawn(
        serial, std::move(body),
        [h = std::move(handler), st, user, on_exception = std::move(on_exception)](
            std::exception_ptr ep, error_code ec) mutable {
            auto slot = net::get_associated_cancellation_slot(h.handler);
            if (slot.is_connected())
                slot.clear();
            if (ep) {
                ec = on_exception(st, ep);
                st->result = T{};
            }
            // On the handler's executor; handlers without one complete on the executor the
            // client was given, as Asio's I/O objects do (completion_handler took it already).
            if (h.executor) {
                auto ex = std::move(h.executor);
                net::dispatch(ex, [h = std::move(h.handler), st = std::move(st), ec]() mutable {
                    std::move(h)(ec, std::move(st->result));
                });
            } else {
                auto ex = net::get_associated_executor(h.handler, user);
                net::dispatch(ex, [h = std::move(h.handler), st = std::move(st), ec]() mutable {
                    std::move(h)(ec, std::move(st->result));
                });
            }
        });
}

} // namespace carcheck::detail

#endif
