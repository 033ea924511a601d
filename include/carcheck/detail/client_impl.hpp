#ifndef CARCHECK_DETAIL_CLIENT_IMPL_HPP
#define CARCHECK_DETAIL_CLIENT_IMPL_HPP

#include <carcheck/client.hpp>
#include <carcheck/detail/pool_impl.hpp>
#include <carcheck/scheduler.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/empty_body.hpp>

#include <charconv>
#include <chrono>
#include <optional>

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

    /// Sends `req`: waits for the scheduler's admission, exchanges it on a pooled
    /// connection, reports the outcome and repeats while the scheduler asks for a retry.
    /// The reply of the last attempt (any status) or its transport error is returned;
    /// `diag` is filled; a half-used connection never goes back into the pool.
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
    carcheck::scheduler& scheduler() noexcept { return scheduler_; }
    const client_options& options() const noexcept { return opts_; }

private:
    /// One attempt: a pooled connection and one exchange on it. A reused keep-alive
    /// connection that the server had closed is replaced once, within the same attempt,
    /// when the server cannot have processed the request.
    template <class Body>
    boost::asio::awaitable<exchange_result> attempt(op_state& st, http::request<Body>& req, bool idempotent,
                                                    std::string& failure);

    client_options opts_;
    endpoint ep_;
    connection_pool pool_;
    carcheck::scheduler scheduler_;
};

/// credits_monthly_used / credits_monthly_total of a 200 reply, read without a full parse
/// (the typed parse happens later, in the operation). Both are top-level integers in the
/// spec's reply and no nested object has members of these names.
inline std::optional<std::int64_t> find_json_integer(std::string_view body, std::string_view key)
{
    std::string pattern;
    pattern.reserve(key.size() + 2);
    pattern += '"';
    pattern += key;
    pattern += '"';
    auto pos = body.find(pattern);
    if (pos == std::string_view::npos)
        return std::nullopt;
    pos += pattern.size();
    while (pos < body.size() && (body[pos] == ' ' || body[pos] == ':' || body[pos] == '\t' || body[pos] == '\n' ||
                                 body[pos] == '\r'))
        ++pos;
    std::int64_t v = 0;
    auto [end, ec] = std::from_chars(body.data() + pos, body.data() + body.size(), v);
    if (ec != std::errc{} || (end != body.data() + body.size() && (*end == '.' || *end == 'e' || *end == 'E')))
        return std::nullopt;
    return v;
}

/// Both credit counters of a 200 reply in one pass over the body: the same results as
/// find_json_integer(body, "credits_monthly_used") and (body, "credits_monthly_total").
inline void find_credits(std::string_view body, std::optional<std::int64_t>& used,
                         std::optional<std::int64_t>& total)
{
    constexpr std::string_view prefix = "\"credits_monthly_";
    bool have_used = false, have_total = false;
    for (auto pos = body.find(prefix); pos != std::string_view::npos && !(have_used && have_total);
         pos = body.find(prefix, pos + 1)) {
        const std::string_view rest = body.substr(pos);
        // The first occurrence of each key counts, as with find_json_integer.
        if (!have_used && rest.starts_with("\"credits_monthly_used\"")) {
            used = find_json_integer(rest, "credits_monthly_used");
            have_used = true;
        } else if (!have_total && rest.starts_with("\"credits_monthly_total\"")) {
            total = find_json_integer(rest, "credits_monthly_total");
            have_total = true;
        }
    }
}

template <class Body>
void client_impl::set_common_fields(http::request<Body>& req) const
{
    req.version(11);
    req.set(http::field::host, ep_.host_header);
    req.set(http::field::user_agent, "carcheck/0.1");
    req.set(http::field::accept, "application/json");
}

template <class Body>
boost::asio::awaitable<exchange_result> client_impl::attempt(op_state& st, http::request<Body>& req,
                                                             bool idempotent, std::string& failure)
{
    for (int round = 0;; ++round) {
        exchange_result r;
        if (st.cancelled) {
            r.ec = boost::asio::error::operation_aborted;
            co_return r;
        }
        auto acquired = co_await pool().acquire(&st);
        if (acquired.ec) {
            r.ec = acquired.ec;
            failure = std::move(acquired.failure);
            co_return r;
        }
        http_connection* conn = acquired.conn;
        const bool reused = conn->exchanges > 0;
        st.active = conn;
        r = co_await conn->exchange(req, opts_.max_response_bytes,
                                    exchange_limits{opts_.timeouts.stall, opts_.timeouts.request});
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

template <class Body>
boost::asio::awaitable<raw_reply> client_impl::send(op_state& st, diagnostics& diag,
                                                    http::request<Body>& req, bool idempotent)
{
    namespace net = boost::asio;
    raw_reply out;
    auto ticket = scheduler_.make_ticket();
    for (;;) {
        auto [admit_ec] = co_await scheduler_.async_admit(
            ticket, net::as_tuple(net::bind_cancellation_slot(st.admission.slot(), net::use_awaitable)));
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
            o.rate_limit = parse_rate_limit(r.response.base());
            o.received_at = std::chrono::system_clock::now();
            if (o.http_status == 200) {
                find_credits(r.response.body(), o.credits_used, o.credits_total);
            }
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

} // namespace carcheck::detail

#ifdef CARCHECK_HEADER_ONLY
#include <carcheck/impl/client.ipp>
#endif

#endif
