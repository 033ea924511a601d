#ifndef CARCHECK_WITH_DIAGNOSTICS_HPP
#define CARCHECK_WITH_DIAGNOSTICS_HPP

#include <carcheck/detail/completion_handler.hpp>
#include <carcheck/diagnostics.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_allocator.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/associator.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <exception>
#include <memory>
#include <type_traits>
#include <utility>

namespace carcheck {

/// Completion-token adapter: an operation completed through with_diagnostics(token) has
/// the signature void(std::exception_ptr, Result) instead of void(error_code, Result); on
/// failure the exception is a carcheck::api_error carrying the HTTP status, the server's
/// error text and the rate-limit headers. With coroutines:
///
///     auto r = co_await client.recognize_file(path, opts, carcheck::with_diagnostics(asio::deferred));
///
/// throws api_error instead of a bare boost::system::system_error.
///
/// Inside a coroutine (inner token asio::deferred or asio::use_awaitable) the result is an
/// asio::awaitable<Result> to co_await.
template <class Token>
struct with_diagnostics_t {
    Token token;
};

template <class Token = asio::deferred_t>
with_diagnostics_t<std::decay_t<Token>> with_diagnostics(Token&& token = {})
{
    return {std::forward<Token>(token)};
}

namespace detail {

/// The initiation object of an operation (Boost.MySQL's initiation_base): calls `f` with the
/// handler and names the executor the operation's handlers complete on by default, which
/// tokens that create I/O objects of their own ask the initiation for.
template <class F>
struct operation_initiation {
    using executor_type = asio::any_io_executor;
    executor_type ex;
    F f;

    executor_type get_executor() const noexcept { return ex; }

    template <class Handler>
    void operator()(Handler&& handler)
    {
        f(std::forward<Handler>(handler));
    }
};
template <class F>
operation_initiation(asio::any_io_executor, F) -> operation_initiation<F>;

template <class T>
struct is_with_diagnostics : std::false_type {};
template <class T>
struct is_with_diagnostics<with_diagnostics_t<T>> : std::true_type {
    using inner = T;
};

/// Wraps a void(exception_ptr, R) handler as a void(error_code, R) one, turning an error
/// and the diagnostics the operation filled into an api_error. Its associated executor,
/// allocator and cancellation slot are the wrapped handler's (see the associator below: a
/// handler without an executor of its own keeps having none, and completes on the client's).
template <class Handler, class Result>
struct throwing_handler {
    Handler inner;
    std::shared_ptr<diagnostics> diag;

    void operator()(error_code ec, Result r)
    {
        std::exception_ptr ep;
        if (ec)
            ep = std::make_exception_ptr(api_error(ec, *diag));
        std::move(inner)(ep, std::move(r));
    }

};

template <class T>
struct is_coroutine_token : std::false_type {};
template <>
struct is_coroutine_token<asio::deferred_t> : std::true_type {};
template <class Executor>
struct is_coroutine_token<asio::use_awaitable_t<Executor>> : std::true_type {};

/// Inside a coroutine the operation is awaited directly and api_error is thrown from here.
/// (Asio 1.26 cannot co_await a void(exception_ptr, T) completion: its awaitable handler
/// for that signature does not compile.)
#if defined(__GNUC__) && !defined(__clang__)
// g++ 12 reports a false -Wmismatched-new-delete for Asio's coroutine frames (their
// operator new/delete pair is matched; the inliner loses track of it).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
template <class Result, class Start>
asio::awaitable<Result> await_or_throw(asio::any_io_executor ex, asio::any_io_executor user, Start start)
{
    diagnostics diag;
    auto token = asio::as_tuple(asio::use_awaitable);
    // Named, not a temporary inside the co_await expression: g++ 12 destroys such aggregate
    // temporaries twice (a use-after-free of the executor that AddressSanitizer reports).
    operation_initiation init{std::move(ex), [&diag, &start, &user](auto handler) {
                                  start(&diag, completion_handler<void(error_code, Result)>(std::move(handler), user));
                              }};
    auto [ec, result] =
        co_await asio::async_initiate<decltype(token), void(error_code, Result)>(std::move(init), token);
    if (ec)
        throw api_error(ec, std::move(diag));
    co_return std::move(result);
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

/// Shared by every client operation: `start(diagnostics*, completion_handler<void(error_code, Result)>)`
/// does the work; this picks the signature the token asked for. `ex` is the client's
/// executor, `user` the one it was given (where a handler without an executor completes).
template <class Result, class Token, class Start>
auto initiate_operation(asio::any_io_executor ex, asio::any_io_executor user, Start start, diagnostics* diag,
                        Token&& token)
{
    using token_type = std::decay_t<Token>;
    if constexpr (is_with_diagnostics<token_type>::value) {
        using inner_token = typename is_with_diagnostics<token_type>::inner;
        if constexpr (is_coroutine_token<inner_token>::value) {
            return await_or_throw<Result>(std::move(ex), std::move(user), std::move(start));
        } else {
            return asio::async_initiate<inner_token, void(std::exception_ptr, Result)>(
                operation_initiation{std::move(ex),
                                     [start = std::move(start), user = std::move(user)](auto handler) mutable {
                                         auto d = std::make_shared<diagnostics>();
                                         diagnostics* raw = d.get();
                                         using wrapped = throwing_handler<decltype(handler), Result>;
                                         start(raw, completion_handler<void(error_code, Result)>(
                                                        wrapped{std::move(handler), std::move(d)}, user));
                                     }},
                token.token);
        }
    } else {
        return asio::async_initiate<Token, void(error_code, Result)>(
            operation_initiation{std::move(ex), // start moved in: a copy would copy the file's path
                                 [start = std::move(start), diag, user = std::move(user)](auto handler) mutable {
                                     start(diag, completion_handler<void(error_code, Result)>(std::move(handler), user));
                                 }},
            token);
    }
}

} // namespace detail
} // namespace carcheck

namespace boost::asio {
template <template <class, class> class Associator, class Handler, class Result, class DefaultCandidate>
struct associator<Associator, carcheck::detail::throwing_handler<Handler, Result>, DefaultCandidate>
    : Associator<Handler, DefaultCandidate> {
    static typename Associator<Handler, DefaultCandidate>::type
    get(const carcheck::detail::throwing_handler<Handler, Result>& h) noexcept
    {
        return Associator<Handler, DefaultCandidate>::get(h.inner);
    }
    static auto get(const carcheck::detail::throwing_handler<Handler, Result>& h, const DefaultCandidate& c) noexcept
        -> decltype(Associator<Handler, DefaultCandidate>::get(h.inner, c))
    {
        return Associator<Handler, DefaultCandidate>::get(h.inner, c);
    }
};
} // namespace boost::asio

#endif
