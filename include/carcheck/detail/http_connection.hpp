#ifndef CARCHECK_DETAIL_HTTP_CONNECTION_HPP
#define CARCHECK_DETAIL_HTTP_CONNECTION_HPP

#include <carcheck/detail/recycled_fields.hpp>
#include <carcheck/detail/tls_socket.hpp>
#include <carcheck/detail/transfer_watchdog.hpp>
#include <carcheck/error.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/read_size.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <poll.h>

#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <tuple>
#include <variant>

namespace carcheck::detail {

namespace beast = boost::beast;
namespace http = boost::beast::http;

using steady_clock = std::chrono::steady_clock;

/// How one request/response exchange on a connection ended. The two flags tell a retry
/// policy whether the server can have processed the request (credits are money).
struct exchange_result {
    error_code ec;
    std::string failure; ///< what went wrong, for diagnostics::client_message (never the target)
    bool request_fully_written = false;
    bool response_started = false; ///< at least one byte of the response arrived
    bool reusable = false;         ///< clean exchange and the server allows keep-alive
    client_response response;
};

/// One keep-alive HTTP/1.1 connection, plain or TLS. Not thread-safe: used by one exchange
/// at a time, on the pool's serial executor.
class http_connection {
public:
    explicit http_connection(beast::tcp_stream plain) : stream_(std::move(plain)) {}
    /// TLS on a connected socket (the handshake is still to be made on tls()).
    http_connection(boost::asio::ip::tcp::socket&& socket, SSL_CTX* ctx)
        : stream_(std::in_place_type<tls_socket>, std::move(socket), ctx)
    {
    }

    boost::asio::ip::tcp::socket& socket() noexcept
    {
        if (auto* t = std::get_if<tls_socket>(&stream_))
            return t->socket();
        return std::get<beast::tcp_stream>(stream_).socket();
    }

    tls_socket* tls() noexcept { return std::get_if<tls_socket>(&stream_); }
    beast::tcp_stream* plain() noexcept { return std::get_if<beast::tcp_stream>(&stream_); }

    /// Cancels pending I/O; the exchange in progress completes with operation_aborted.
    void cancel() noexcept
    {
        beast::error_code ignored;
        socket().cancel(ignored);
    }

    /// Closes the socket without a TLS close_notify: the connection is never reused.
    void close() noexcept
    {
        beast::error_code ignored;
        socket().shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
        socket().close(ignored);
    }

    /// An idle keep-alive connection must have nothing to read: readable means the peer
    /// closed it (FIN or TLS close_notify) or sent something unsolicited. Either way it is
    /// not safe to send a request on it.
    bool looks_alive() noexcept
    {
        auto& sock = socket();
        if (!sock.is_open() || buffer_.size() != 0)
            return false;
        if (auto* t = tls(); t && !t->nothing_buffered())
            return false;
        pollfd p{};
        p.fd = sock.native_handle();
        p.events = POLLIN | POLLRDHUP;
        return ::poll(&p, 1, 0) == 0;
    }

    /// Writes `req` and reads the response. It fails with error::timeout when no byte moved
    /// in either direction for `limits.stall`, or when it took longer than `limits.total`.
    template <class Body>
    boost::asio::awaitable<exchange_result> exchange(client_request<Body>& req,
                                                     std::size_t body_limit,
                                                     exchange_limits limits);

    steady_clock::time_point last_used{};
    std::uint64_t exchanges = 0;

private:
    /// Serialises the whole request into out_ (see exchange()); false when the body failed.
    template <class Body>
    bool flatten(client_request<Body>& req, std::size_t body_size, error_code& ec);

    /// After each step of an exchange: when the watchdog cut it, the outcome is a timeout
    /// (whatever the cancelled operation reported, even a success that raced the cancel).
    bool timed_out(exchange_result& r, const char* phase);

    std::variant<beast::tcp_stream, tls_socket> stream_;
    beast::flat_buffer buffer_;
    beast::flat_buffer out_; // small requests, serialised in one piece; its capacity is kept
    exchange_limits limits_{};
    transfer_watchdog watchdog_; // declared last: detached before the stream goes away
};

/// Requests whose body is at most this size are serialised into one contiguous buffer and
/// written with one async_write (see http_connection::exchange).
inline constexpr std::uint64_t flat_request_limit = 64 * 1024;

/// The peer closed or reset the connection (plain or TLS).
inline bool is_closed_by_peer(const error_code& ec) noexcept
{
    namespace net = boost::asio;
    return ec == http::error::end_of_stream || ec == http::error::partial_message || ec == net::error::eof ||
           ec == net::error::connection_reset || ec == net::error::broken_pipe ||
           ec == net::ssl::error::stream_truncated;
}

/// Translates a failure of the HTTP layer into the project's error model. Call it after
/// r.response_started is known.
inline exchange_result& fail_exchange(exchange_result& r, error_code ec, const char* phase)
{
    r.reusable = false;
    if (ec == beast::error::timeout) {
        r.ec = error::timeout;
        r.failure = std::string("request deadline expired while ") + phase;
    } else if (ec == http::error::body_limit || ec == http::error::header_limit ||
               ec == http::error::buffer_overflow) {
        r.ec = error::response_too_large;
        r.failure = "response exceeds the size limit (" + ec.message() + ")";
    } else if (is_closed_by_peer(ec)) {
        if (r.response_started) {
            r.ec = error::bad_response;
            r.failure = "truncated HTTP response: the server closed the connection mid-message";
        } else {
            r.ec = error::connection_closed;
            r.failure = std::string("the server closed the connection while ") + phase + " (" + ec.message() + ")";
        }
    } else if (ec.category() == error_code(http::error::end_of_stream).category()) {
        // Malformed status line, headers, chunk framing, ...
        r.ec = error::bad_response;
        r.failure = "malformed HTTP response: " + ec.message();
    } else {
        r.ec = ec;
        r.failure = std::string("connection failed while ") + phase + ": " + ec.message();
    }
    return r;
}

/// "2 s", "0.7 s": a duration for a diagnostics message.
inline std::string format_seconds(std::chrono::milliseconds d)
{
    char text[32];
    if (d.count() % 1000 == 0)
        std::snprintf(text, sizeof text, "%lld s", static_cast<long long>(d.count() / 1000));
    else
        std::snprintf(text, sizeof text, "%g s", static_cast<double>(d.count()) / 1000.0);
    return text;
}

inline bool http_connection::timed_out(exchange_result& r, const char* phase)
{
    const auto v = watchdog_.expired();
    if (v == transfer_watchdog::verdict::none)
        return false;
    r.reusable = false;
    r.ec = error::timeout;
    if (v == transfer_watchdog::verdict::stalled)
        r.failure = "no byte moved for " + format_seconds(limits_.stall) + " while " + phase;
    else
        r.failure = "request deadline of " + format_seconds(limits_.total) + " expired while " + phase;
    return true;
}

/// A Body whose writer can put the whole body into one buffer itself (multipart_file_body:
/// the file is read straight into place instead of through its block buffer).
template <class Body>
concept writes_into_one_buffer = requires(typename Body::writer& w, std::span<std::byte> dst, error_code& ec) {
    { w.write_into(dst, ec) } -> std::same_as<std::size_t>;
};

template <class Body>
bool http_connection::flatten(client_request<Body>& req, std::size_t body_size, error_code& ec)
{
    out_.consume(out_.size());
    if constexpr (writes_into_one_buffer<Body>) {
        if (!req.chunked()) {
            typename client_fields::writer head(req, req.version(), req.method());
            const auto h = head.get();
            out_.commit(boost::asio::buffer_copy(out_.prepare(boost::asio::buffer_size(h)), h));
            typename Body::writer body(req.base(), req.body());
            body.init(ec);
            if (ec)
                return false;
            const auto room = out_.prepare(body_size + 1);
            const std::size_t n = body.write_into({static_cast<std::byte*>(room.data()), room.size()}, ec);
            if (ec)
                return false;
            out_.commit(n);
            return true;
        }
    }
    // Gone before the write: a body's file buffer is free again for the next request.
    http::request_serializer<Body, client_fields> sr{req};
    do {
        sr.next(ec, [&](error_code&, const auto& buffers) {
            const std::size_t n = boost::asio::buffer_size(buffers);
            out_.commit(boost::asio::buffer_copy(out_.prepare(n), buffers));
            sr.consume(n);
        });
        if (ec)
            return false;
    } while (!sr.is_done());
    return true;
}

template <class Body>
boost::asio::awaitable<exchange_result>
http_connection::exchange(client_request<Body>& req, std::size_t body_limit, exchange_limits limits)
{
    using boost::asio::as_tuple;
    using boost::asio::deferred; // co_await of a deferred operation: no coroutine frame per I/O
    exchange_result r;
    ++exchanges;
    // The stream's own deadline stays off (connect_one leaves it so): with one it would arm
    // and cancel a timer for every read and write. The watchdog arms one per exchange.
    limits_ = limits;
    watchdog_.start(socket(), limits);
    struct stop_watchdog {
        transfer_watchdog& w;
        ~stop_watchdog() { w.stop(); }
    } stop_on_exit{watchdog_};

    error_code wec;
    const auto payload = req.payload_size();
    if (payload && *payload <= flat_request_limit) {
        // A small request (the usual image upload) goes out as one buffer: header, multipart
        // framing and image together. Written piecewise, the header, the part header, the
        // image and the closing delimiter each became a write_some of their own -- a TLS
        // record and a send() for each -- which cost more than copying some tens of KB once.
        if (flatten(req, static_cast<std::size_t>(*payload), wec)) {
            if (auto* t = tls()) {
                // tls_socket's write_some writes the whole buffer before it completes: no
                // async_write loop (and its work guard) around it.
                auto op = t->async_write_some(out_.data(), as_tuple(deferred));
                wec = std::get<0>(co_await std::move(op));
            } else {
                auto op = boost::asio::async_write(*plain(), out_.data(), as_tuple(deferred));
                wec = std::get<0>(co_await std::move(op));
            }
        }
        out_.consume(out_.size());
        if (out_.capacity() > 2 * flat_request_limit)
            out_ = beast::flat_buffer{}; // a large header: do not keep its memory
    } else {
        http::request_serializer<Body, client_fields> serializer{req};
        if (auto* t = tls()) {
            auto op = http::async_write(*t, serializer, as_tuple(deferred));
            wec = std::get<0>(co_await std::move(op));
        } else {
            auto op = http::async_write(*plain(), serializer, as_tuple(deferred));
            wec = std::get<0>(co_await std::move(op));
        }
    }
    if (timed_out(r, "sending the request"))
        co_return r;
    // A server may answer before it has read the whole request (an early 413, a 401 for a
    // wrong key) and close; its reply is then waiting in the receive buffer. That reply is
    // the outcome, as curl reports it, not the broken pipe or reset of the write. Nothing
    // there (or only the reset): the write's error stands.
    bool early = false;
    if (wec) {
        r.reusable = false;
        // A body that failed (file changed or unreadable) keeps its own error code.
        if (wec.category() == error_category()) {
            r.ec = wec;
            co_return r;
        }
        if (!is_closed_by_peer(wec)) {
            fail_exchange(r, wec, "sending the request");
            co_return r;
        }
        early = true;
    } else {
        r.request_fully_written = true;
    }
    const char* phase = early ? "reading a reply that came before the upload ended" : "reading the response";

    // The response is read here, with the stream's read_some and the parser, rather than
    // through http::async_read: that is two composed operations (each with a work guard on
    // the executor) around every read, and a coroutine of its own would be a frame more.
    // The steps are those of http::async_read.
    client_response_parser parser;
    parser.header_limit(64 * 1024);
    parser.body_limit(body_limit);
    parser.eager(true);
    error_code rec;
    for (;;) {
        if (buffer_.size() != 0) {
            const std::size_t used = parser.put(buffer_.data(), rec);
            buffer_.consume(used);
            if (rec == http::error::need_more)
                rec = {};
            else if (rec || parser.is_done())
                break;
            else if (used != 0)
                continue; // the header is done; the body follows in what is buffered
        }
        const std::size_t room = beast::read_size(buffer_, 64 * 1024);
        if (room == 0) {
            rec = http::error::buffer_overflow;
            break;
        }
        std::size_t n = 0;
        if (auto* t = tls()) {
            auto op = t->async_read_some(buffer_.prepare(room), as_tuple(deferred));
            std::tie(rec, n) = co_await std::move(op);
        } else {
            auto op = plain()->async_read_some(buffer_.prepare(room), as_tuple(deferred));
            std::tie(rec, n) = co_await std::move(op);
        }
        buffer_.commit(n);
        if (rec == boost::asio::error::eof) {
            // A reply without a length ends with the connection; anything else is cut short.
            if (parser.got_some()) {
                rec = {};
                parser.put_eof(rec);
            } else {
                rec = http::error::end_of_stream;
            }
            break;
        }
        if (rec)
            break;
    }
    r.response_started = parser.got_some();
    if (timed_out(r, phase))
        co_return r;
    if (rec) {
        if (early && !r.response_started)
            fail_exchange(r, wec, "sending the request");
        else
            fail_exchange(r, rec, phase);
        co_return r;
    }
    r.response = parser.release();
    // After a request cut short the connection is done, whatever the reply says.
    r.reusable = !early && r.response.keep_alive() && buffer_.size() == 0;
    last_used = steady_clock::now();
    co_return r;
}

} // namespace carcheck::detail

#endif
