#ifndef CARCHECK_DETAIL_CLIENT_IMPL_HPP
#define CARCHECK_DETAIL_CLIENT_IMPL_HPP

#include <carcheck/client.hpp>
#include <carcheck/detail/op_state.hpp>
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

/// Turns the body of a 200 reply into an operation's typed result, in one parse; tells the
/// scheduler the credit counters it carried. One specialisation per result type.
template <class Result>
struct reply_parser;

/// State of a client shared by its in-flight operations.
class client_impl {
public:
    CARCHECK_DECL client_impl(boost::asio::any_io_executor ex, client_options opts);

    /// The target for `path` ("/recognize") with the secret key and the options as query,
    /// valid until the next call on this thread (give it to the request at once).
    CARCHECK_DECL std::string_view target(std::string_view path, const recognize_options* opts,
                                          bool with_cropped, std::string_view image_url = {}) const;

    /// Checks options before anything is sent; fills diag.client_message on failure.
    CARCHECK_DECL error_code validate(const recognize_options& opts, bool cropped_allowed,
                                      diagnostics& diag) const;

    /// Status and body of a reply to a typed error; fills diag (its rate_limit with
    /// `rate_limit`, the reply's fields as parse_rate_limit read them).
    CARCHECK_DECL error_code check_status(const client_response& res, const rate_limit_info& rate_limit,
                                          diagnostics& diag) const;

    /// Replaces the secret key wherever it appears (server text may echo the query).
    CARCHECK_DECL std::string redact(std::string text) const;

    template <class Body>
    void set_common_fields(client_request<Body>& req) const;

    // The steps of perform() that do not wait, as functions: the coroutine stays short.

    /// After an admission (`ec` its outcome): true when the request is not to be sent;
    /// `ec` and diag.client_message then say why.
    CARCHECK_DECL bool refused(const op_state& st, error_code& ec, diagnostics& diag) const;

    /// After an exchange on `conn` (`reused`: not its first one): gives the connection back
    /// and says whether to send again at once on another one -- a kept-alive connection the
    /// server closed just as it was used, when the server cannot have processed the request
    /// (it never got all of it) or the request is free to repeat.
    CARCHECK_DECL bool resend_at_once(const op_state& st, http_connection* conn, exchange_result& r,
                                      bool reused, int round, bool idempotent, std::string& failure);

    /// Tells the scheduler how an attempt ended (the body of a 200 goes to `on_success(body,
    /// outcome)` first: a 200 is final, never retried); true when it asks for a retry.
    /// `rate_limit` gets the reply's rate-limit fields (empty without a reply), read once.
    template <class OnSuccess>
    bool retry_after(const op_state& st, carcheck::scheduler::ticket& ticket, exchange_result& r,
                     bool idempotent, OnSuccess& on_success, rate_limit_info& rate_limit);

    /// The last attempt's outcome, as the operation's: cancellation wins, the failure text
    /// goes to diag.client_message (redacted).
    CARCHECK_DECL void conclude(const op_state& st, exchange_result& r, std::string& failure,
                                diagnostics& diag) const;

    /// The outcome: the transport error, the status's error (diag filled from the error
    /// body) or the parse error naming the JSON path; without one, the parsed Result is
    /// moved to `out` (which is left as it was otherwise).
    template <class Result>
    error_code finish(exchange_result& r, const rate_limit_info& rate_limit, reply_parser<Result>& parse,
                      diagnostics& diag, Result& out) const;

    const serial_executor& serial() const noexcept { return pool_->serial(); }
    pool_impl& pool() noexcept { return *pool_; }
    carcheck::scheduler& scheduler() noexcept { return scheduler_; }
    const client_options& options() const noexcept { return opts_; }

private:
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

template <class OnSuccess>
bool client_impl::retry_after(const op_state& st, carcheck::scheduler::ticket& ticket, exchange_result& r,
                              bool idempotent, OnSuccess& on_success, rate_limit_info& rate_limit)
{
    rate_limit = {};
    attempt_outcome o;
    o.ec = r.ec;
    o.idempotent = idempotent;
    o.request_fully_written = r.request_fully_written;
    o.response_bytes_received = r.response_started;
    if (!r.ec) {
        o.http_status = r.response.result_int();
        o.rate_limit = detail::parse_rate_limit(r.response.base());
        rate_limit = o.rate_limit;
        o.received_at = std::chrono::system_clock::now();
        if (o.http_status == 200)
            on_success(std::move(r.response.body()), o);
    }
    return scheduler_.on_outcome(ticket, o).retry && !st.cancelled;
}

template <class Result>
error_code client_impl::finish(exchange_result& r, const rate_limit_info& rate_limit,
                               reply_parser<Result>& parse, diagnostics& diag, Result& out) const
{
    if (r.ec)
        return r.ec;
    if (auto ec = check_status(r.response, rate_limit, diag))
        return ec;
    if (parse.ec) {
        diag.client_message = redact(std::move(parse.detail));
        return parse.ec;
    }
    out = std::move(parse.value);
    return {};
}

/// One whole operation, as one coroutine (one frame: Asio allocates every frame larger
/// than 1 KB, so each layer of coroutines costs a heap allocation per request). The request
/// is made by `request.build(impl, req, diag)` (which may refuse it), waits for the
/// scheduler's admission, is exchanged on a pooled connection, and is sent again while the
/// scheduler asks for a retry; the last reply (any status) or transport error becomes the
/// outcome (a Result written to `out` on success), and `request.conclude(req, ec, diag)`
/// may add to a failure's diagnostics. A half-used connection never goes back into the pool.
template <class Result, class Body, class Request>
boost::asio::awaitable<error_code>
perform(std::shared_ptr<client_impl> impl, std::shared_ptr<op_state> st, diagnostics* d, Request request,
        Result& out)
{
    namespace net = boost::asio;
    client_request<Body> req;
    if (auto ec = request.build(*impl, req, *d))
        co_return ec;
    constexpr bool idempotent = Request::idempotent;
    reply_parser<Result> parse;
    exchange_result r;
    rate_limit_info rate_limit; // of the last reply
    std::string failure;
    auto ticket = impl->scheduler().make_ticket();
    for (;;) {
        // Admitted at once in the usual case: no suspension, no post, no type-erased handler.
        error_code admitted;
        if (auto now = impl->scheduler().try_admit(ticket)) {
            admitted = *now;
        } else {
            auto [ec] = co_await impl->scheduler().async_admit(
                ticket, net::as_tuple(net::bind_cancellation_slot(st->admission.slot(), net::use_awaitable)));
            admitted = ec;
        }
        if (impl->refused(*st, admitted, *d)) {
            r = exchange_result{};
            r.ec = admitted;
            break;
        }
        ++d->attempts;
        failure.clear();
        // One attempt: a pooled connection and one exchange on it (or two, see resend_at_once).
        for (int round = 0;; ++round) {
            r = exchange_result{};
            if (st->cancelled) {
                r.ec = net::error::operation_aborted;
                break;
            }
            http_connection* conn = impl->pool().take_idle();
            if (!conn) {
                auto acquired = co_await impl->pool().acquire(st->pool_wait.slot());
                if (acquired.ec) {
                    r.ec = st->cancelled ? error_code(net::error::operation_aborted) : acquired.ec;
                    failure = std::move(acquired.failure);
                    break;
                }
                conn = acquired.conn;
            }
            if (st->cancelled) { // cancelled just as the connection was handed over
                impl->pool().release(conn, true);
                r.ec = net::error::operation_aborted;
                break;
            }
            const bool reused = conn->exchanges > 0;
            st->active = conn;
            const exchange_limits limits{impl->options().timeouts.stall,
                                         impl->options().timeouts.request}; // named: g++ 12 and co_await temporaries
            r = co_await conn->exchange(req, impl->options().max_response_bytes, limits);
            st->active = nullptr;
            if (!impl->resend_at_once(*st, conn, r, reused, round, idempotent, failure))
                break;
        }
        if (impl->retry_after(*st, ticket, r, idempotent, parse, rate_limit))
            continue;
        impl->conclude(*st, r, failure, *d);
        break;
    }
    const error_code ec = impl->finish(r, rate_limit, parse, *d, out);
    request.conclude(req, ec, *d);
    co_return ec;
}

} // namespace carcheck::detail

#ifdef CARCHECK_HEADER_ONLY
#include <carcheck/impl/client.ipp>
#endif

#endif
