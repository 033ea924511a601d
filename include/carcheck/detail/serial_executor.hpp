#ifndef CARCHECK_DETAIL_SERIAL_EXECUTOR_HPP
#define CARCHECK_DETAIL_SERIAL_EXECUTOR_HPP

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/strand.hpp>

namespace carcheck::detail {

/// The executor all of a client's state lives on: a strand of the user's executor, or,
/// with client_options::thread_safe off, the user's executor itself (one thread runs it:
/// no strand hand-offs, and Asio's I/O objects then keep it in their small-object storage
/// instead of allocating a copy of the strand for every operation).
using serial_executor = boost::asio::any_io_executor;

inline serial_executor make_serial_executor(const boost::asio::any_io_executor& ex, bool thread_safe)
{
    if (thread_safe)
        return boost::asio::make_strand(ex);
    return ex;
}

} // namespace carcheck::detail

#endif
