#ifndef CARCHECK_DETAIL_CLIENT_IMPL_HPP
#define CARCHECK_DETAIL_CLIENT_IMPL_HPP

#include <carcheck/client.hpp>
#include <carcheck/detail/pool_impl.hpp>

#include <boost/beast/http/empty_body.hpp>

#include <string>
#include <string_view>

namespace carcheck::detail {

/// A reply as the client layer sees it, before it is turned into a typed result.
struct raw_reply {
    error_code ec;
    http::response<http::string_body> response;
};

/// State of a client shared by its in-flight operations.
class client_impl {
public:
    CARCHECK_DECL client_impl(boost::asio::any_io_executor ex, client_options opts);

    /// Sends `req` through the pool, retrying once on a reused connection that the server
    /// had closed when that is provably safe; fills `diag`; never lets a half-used
    /// connection back into the pool.
    template <class Body>
    boost::asio::awaitable<raw_reply> send(op_state& st, diagnostics& diag, http::request<Body>& req,
                                           bool idempotent);

    /// The target for `path` ("/recognize") with the secret key and the options as query.
    CARCHECK_DECL std::string target(std::string_view path, const recognize_options* opts,
                                     bool with_cropped, std::string_view image_url = {}) const;

    /// Checks options before anything is sent; fills diag.client_message on failure.
    CARCHECK_DECL error_code validate(const recognize_options& opts, bool cropped_allowed,
                                      diagnostics& diag) const;

    /// Status and body of a reply to a typed error; fills diag.
    CARCHECK_DECL error_code check_status(const http::response<http::string_body>& res,
                                          diagnostics& diag) const;

    /// Replaces the secret key wherever it appears (server text may echo the query).
    CARCHECK_DECL std::string redact(std::string text) const;

    template <class Body>
    void set_common_fields(http::request<Body>& req) const;

    const strand_type& strand() const noexcept { return pool_.impl()->strand(); }
    pool_impl& pool() noexcept { return *pool_.impl(); }
    connection_pool& public_pool() noexcept { return pool_; }
    const client_options& options() const noexcept { return opts_; }

private:
    client_options opts_;
    endpoint ep_;
    connection_pool pool_;
};

template <class Body>
void client_impl::set_common_fields(http::request<Body>& req) const
{
    req.version(11);
    req.set(http::field::host, ep_.host_header);
    req.set(http::field::user_agent, "carcheck/0.1");
    req.set(http::field::accept, "application/json");
}

template <class Body>
boost::asio::awaitable<raw_reply> client_impl::send(op_state& st, diagnostics& diag,
                                                    http::request<Body>& req, bool idempotent)
{
    raw_reply out;
    for (int attempt = 0;; ++attempt) {
        if (st.cancelled) {
            out.ec = boost::asio::error::operation_aborted;
            co_return out;
        }
        auto acquired = co_await pool().acquire(&st);
        if (acquired.ec) {
            out.ec = acquired.ec;
            diag.client_message = redact(std::move(acquired.failure));
            co_return out;
        }
        http_connection* conn = acquired.conn;
        const bool reused = conn->exchanges > 0;
        ++diag.attempts;
        st.active = conn;
        exchange_result r = co_await conn->exchange(req, opts_.max_response_bytes, opts_.timeouts.request);
        st.active = nullptr;
        pool().release(conn, r.reusable && !st.cancelled);
        if (st.cancelled) {
            out.ec = boost::asio::error::operation_aborted;
            co_return out;
        }
        if (!r.ec) {
            out.response = std::move(r.response);
            co_return out;
        }
        // A kept-alive connection the server closed just as we used it: resend only when
        // the server cannot have processed the request (it never got all of it), or the
        // request is free to repeat (GET /config).
        const bool safe = !r.response_started && (!r.request_fully_written || idempotent);
        if (reused && safe && attempt == 0 && r.ec.category() != error_category())
            continue;
        out.ec = r.ec;
        diag.client_message = redact(std::move(r.failure));
        co_return out;
    }
}

} // namespace carcheck::detail

#endif
