#ifndef CARCHECK_DETAIL_CLIENT_IMPL_HPP
#define CARCHECK_DETAIL_CLIENT_IMPL_HPP

#include <carcheck/client.hpp>
#include <carcheck/detail/pool_impl.hpp>
#include <carcheck/detail/recognition_reply.hpp>
#include <carcheck/scheduler.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/empty_body.hpp>

#include <chrono>
#include <optional>

#include <string>
#include <string_view>

namespace carcheck::detail {

/// A reply as the client layer sees it, before it is turned into a typed result.
struct raw_reply {
    error_code ec;
    client_response response;
};

/// Turns the body of a 200 reply into an operation's typed result, in one parse; tells the
/// scheduler the credit counters it carried. One specialisation per result type.
template <class Result>
struct reply_parser;

/// State of a client shared by its in-flight operations.
class client_impl {
public:
    CARCHECK_DECL client_impl(boost::asio::any_io_executor ex, client_options opts);

    /// Sends `req`: waits for the scheduler's admission, exchanges it on a pooled
    /// connection, reports the outcome and repeats while the scheduler asks for a retry.
    /// The reply of the last attempt (any status) or its transport error is returned;
    /// `diag` is filled; a half-used connection never goes back into the pool. The body of a
    /// 200 reply goes to `on_success(body, outcome)` before the scheduler learns the outcome.
    template <class Body, class OnSuccess>
    boost::asio::awaitable<raw_reply> send(op_state& st, diagnostics& diag, client_request<Body>& req,
                                           bool idempotent, OnSuccess& on_success);

    /// What send() returned, as a Result: the transport error, the status's error (diag
    /// filled from the error body) or the parse error naming the JSON path. A function, not
    /// a coroutine around send(): one coroutine frame less per request.
    template <class Result>
    std::pair<error_code, Result> finish(raw_reply& r, reply_parser<Result>& parse, diagnostics& diag) const;

    /// The target for `path` ("/recognize") with the secret key and the options as query.
    CARCHECK_DECL std::string target(std::string_view path, const recognize_options* opts,
                                     bool with_cropped, std::string_view image_url = {}) const;

    /// Checks options before anything is sent; fills diag.client_message on failure.
    CARCHECK_DECL error_code validate(const recognize_options& opts, bool cropped_allowed,
                                      diagnostics& diag) const;

    /// Status and body of a reply to a typed error; fills diag.
    CARCHECK_DECL error_code check_status(const client_response& res,
                                          diagnostics& diag) const;

    /// Replaces the secret key wherever it appears (server text may echo the query).
    CARCHECK_DECL std::string redact(std::string text) const;

    template <class Body>
    void set_common_fields(client_request<Body>& req) const;

    const serial_executor& serial() const noexcept { return pool_->serial(); }
    pool_impl& pool() noexcept { return *pool_; }
    carcheck::scheduler& scheduler() noexcept { return scheduler_; }
    const client_options& options() const noexcept { return opts_; }

private:
    /// One attempt: a pooled connection and one exchange on it. A reused keep-alive
    /// connection that the server had closed is replaced once, within the same attempt,
    /// when the server cannot have processed the request.
    template <class Body>
    boost::asio::awaitable<exchange_result> attempt(op_state& st, client_request<Body>& req, bool idempotent,
                                                    std::string& failure);

    client_options opts_;
    endpoint ep_;
    std::string encoded_key_; // the secret key percent-encoded once, not per request
    std::shared_ptr<pool_impl> pool_; // shared with its own background connects
    carcheck::scheduler scheduler_;
};

template <>
struct reply_parser<recognition> {
    recognition value;
    error_code ec;
    std::string detail;

    void operator()(std::string body, attempt_outcome& o)
    {
        reply_credits credits;
        ec = parse_recognition_reply(std::move(body), value, detail, credits);
        o.credits_used = credits.used;
        o.credits_total = credits.total;
    }
};

template <>
struct reply_parser<config> {
    config value;
    error_code ec;
    std::string detail;

    void operator()(std::string body, attempt_outcome&) { ec = parse_config(std::move(body), value, detail); }
};

template <class Body>
void client_impl::set_common_fields(client_request<Body>& req) const
{
    req.version(11);
    req.set(http::field::host, ep_.host_header);
    req.set(http::field::user_agent, "carcheck/0.1");
    req.set(http::field::accept, "application/json");
}

template <class Body>
boost::asio::awaitable<exchange_result> client_impl::attempt(op_state& st, client_request<Body>& req,
                                                             bool idempotent, std::string& failure)
{
    for (int round = 0;; ++round) {
        exchange_result r;
        if (st.cancelled) {
            r.ec = boost::asio::error::operation_aborted;
            co_return r;
        }
        http_connection* conn = pool().take_idle();
        if (!conn) {
            auto acquired = co_await pool().acquire(st.pool_wait.slot());
            if (acquired.ec) {
                r.ec = st.cancelled ? error_code(boost::asio::error::operation_aborted) : acquired.ec;
                failure = std::move(acquired.failure);
                co_return r;
            }
            conn = acquired.conn;
        }
        if (st.cancelled) { // cancelled just as the connection was handed over
            pool().release(conn, true);
            r.ec = boost::asio::error::operation_aborted;
            co_return r;
        }
        const bool reused = conn->exchanges > 0;
        st.active = conn;
        const exchange_limits limits{opts_.timeouts.stall, opts_.timeouts.request}; // named: g++ 12 and co_await temporaries
        r = co_await conn->exchange(req, opts_.max_response_bytes, limits);
        st.active = nullptr;
        pool().release(conn, r.reusable && !st.cancelled);
        if (st.cancelled) {
            r.ec = boost::asio::error::operation_aborted;
            co_return r;
        }
        if (r.ec && pool().closed()) {
            r.ec = error::client_closed;
            failure = "the client was closed while the request was in progress";
            co_return r;
        }
        // A kept-alive connection the server closed just as we used it: resend at once only
        // when the server cannot have processed the request (it never got all of it), or the
        // request is free to repeat (GET /config). Body errors (file changed) are final.
        const bool safe = !r.response_started && (!r.request_fully_written || idempotent);
        if (reused && safe && round == 0 && is_connection_failure(r.ec))
            continue;
        if (r.ec)
            failure = std::move(r.failure);
        co_return r;
    }
}

template <class Body, class OnSuccess>
boost::asio::awaitable<raw_reply> client_impl::send(op_state& st, diagnostics& diag,
                                                    client_request<Body>& req, bool idempotent,
                                                    OnSuccess& on_success)
{
    namespace net = boost::asio;
    raw_reply out;
    auto ticket = scheduler_.make_ticket();
    for (;;) {
        // Admitted at once in the usual case: no suspension, no post, no type-erased handler.
        error_code admit_ec;
        if (auto now = scheduler_.try_admit(ticket)) {
            admit_ec = *now;
        } else {
            auto [ec] = co_await scheduler_.async_admit(
                ticket, net::as_tuple(net::bind_cancellation_slot(st.admission.slot(), net::use_awaitable)));
            admit_ec = ec;
        }
        if (st.cancelled)
            admit_ec = net::error::operation_aborted;
        if (admit_ec) {
            out.ec = admit_ec;
            if (admit_ec == error::monthly_limit)
                diag.client_message = "not sent: the monthly credits are spent (an earlier reply was 402)";
            else if (admit_ec == error::queue_full)
                diag.client_message = "not sent: the request queue is full";
            co_return out;
        }
        ++diag.attempts;
        std::string failure;
        exchange_result r = co_await attempt(st, req, idempotent, failure);

        attempt_outcome o;
        o.ec = r.ec;
        o.idempotent = idempotent;
        o.request_fully_written = r.request_fully_written;
        o.response_bytes_received = r.response_started;
        if (!r.ec) {
            o.http_status = r.response.result_int();
            o.rate_limit = detail::parse_rate_limit(r.response.base());
            o.received_at = std::chrono::system_clock::now();
            if (o.http_status == 200)
                on_success(std::move(r.response.body()), o); // a 200 is final: never retried
        }
        const retry_decision d = scheduler_.on_outcome(ticket, o);
        if (d.retry && !st.cancelled)
            continue;
        if (r.ec) {
            out.ec = st.cancelled ? error_code(net::error::operation_aborted) : r.ec;
            diag.client_message = redact(std::move(failure));
        } else {
            if (!r.request_fully_written)
                diag.client_message = "the server replied before the whole request was sent";
            out.response = std::move(r.response);
        }
        co_return out;
    }
}

template <class Result>
std::pair<error_code, Result> client_impl::finish(raw_reply& r, reply_parser<Result>& parse,
                                                  diagnostics& diag) const
{
    if (r.ec)
        return {r.ec, Result{}};
    if (auto ec = check_status(r.response, diag))
        return {ec, Result{}};
    if (parse.ec) {
        diag.client_message = redact(std::move(parse.detail));
        return {parse.ec, Result{}};
    }
    return {error_code{}, std::move(parse.value)};
}

} // namespace carcheck::detail

#ifdef CARCHECK_HEADER_ONLY
#include <carcheck/impl/client.ipp>
#endif

#endif
