#ifndef CARCHECK_DETAIL_OP_STATE_HPP
#define CARCHECK_DETAIL_OP_STATE_HPP

#include <carcheck/detail/http_connection.hpp>
#include <carcheck/detail/serial_executor.hpp>

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
#include <new>
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

    void cancel()
    {
        cancelled = true;
        admission.emit(boost::asio::cancellation_type::terminal);
        pool_wait.emit(boost::asio::cancellation_type::terminal);
        if (active)
            active->cancel();
    }
};

/// Runs an operation body on the client's executor `serial`: wires the handler's
/// cancellation slot to the op_state (cancellation is posted to `serial`, so emitting it
/// from any thread is safe when that is a strand) and completes the handler through its
/// associated executor (default: `user`, the executor the client was given), never inline.
template <class T, class MakeBody>
void launch(const serial_executor& serial, const boost::asio::any_io_executor& user,
            boost::asio::any_completion_handler<void(error_code, T)> handler, MakeBody make_body)
{
    namespace net = boost::asio;
    auto st = std::make_shared<op_state>();
    auto slot = net::get_associated_cancellation_slot(handler);
    if (slot.is_connected()) {
        slot.assign([st, serial](net::cancellation_type) {
            net::post(serial, [st] { st->cancel(); });
        });
    }
    net::co_spawn(
        serial, make_body(st),
        [h = std::move(handler), st, user](std::exception_ptr ep, std::pair<error_code, T> r) mutable {
            auto slot = net::get_associated_cancellation_slot(h);
            if (slot.is_connected())
                slot.clear();
            if (ep) {
                try {
                    std::rethrow_exception(ep);
                } catch (const std::bad_alloc&) {
                    r.first = make_error_code(boost::system::errc::not_enough_memory);
                } catch (...) {
                    r.first = make_error_code(boost::system::errc::state_not_recoverable);
                }
            }
            // Handlers without an executor of their own complete on the executor the client
            // was given, as Asio's I/O objects do.
            auto ex = net::get_associated_executor(h, user);
            net::dispatch(ex, [h = std::move(h), r = std::move(r)]() mutable {
                std::move(h)(r.first, std::move(r.second));
            });
        });
}

} // namespace carcheck::detail

#endif
