#ifndef CARCHECK_DETAIL_COMPLETION_HANDLER_HPP
#define CARCHECK_DETAIL_COMPLETION_HANDLER_HPP

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_executor.hpp>

#include <type_traits>
#include <utility>

namespace carcheck::detail {

/// An operation's type-erased completion handler and the executor it completes on, taken
/// while the handler's type was still known. For the usual handlers (a coroutine's, one
/// bound to a strand or an io_context, one without an executor) that executor is held as an
/// any_io_executor; asking any_completion_handler for it at the end would wrap it in an
/// any_completion_executor, two heap allocations per operation. Other executors (one that
/// is not an I/O executor) are left to any_completion_handler: `executor` is then empty.
template <class Signature>
struct completion_handler {
    boost::asio::any_io_executor executor;
    boost::asio::any_completion_handler<Signature> handler;

    /// `fallback`: where a handler without an associated executor completes.
    template <class Handler>
    completion_handler(Handler&& h, const boost::asio::any_io_executor& fallback)
        : executor(executor_of(h, fallback)), handler(std::forward<Handler>(h))
    {
    }

private:
    template <class Handler>
    static boost::asio::any_io_executor executor_of(const Handler& h, const boost::asio::any_io_executor& fallback)
    {
        using executor_type = boost::asio::associated_executor_t<Handler, boost::asio::any_io_executor>;
        if constexpr (std::is_constructible_v<boost::asio::any_io_executor, executor_type>)
            return boost::asio::get_associated_executor(h, fallback);
        else
            return {};
    }
};

} // namespace carcheck::detail

#endif
