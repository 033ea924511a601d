#ifndef CARCHECK_IMPL_CONNECTOR_IPP
#define CARCHECK_IMPL_CONNECTOR_IPP

#include <carcheck/detail/connector.hpp>

#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>

#include <openssl/x509v3.h>

#include <algorithm>

namespace carcheck::detail {

namespace net = boost::asio;
using net::as_tuple;
using net::use_awaitable;
using tcp = net::ip::tcp;

CARCHECK_DECL std::vector<tcp::endpoint> interleave_families(const std::vector<tcp::endpoint>& addresses)
{
    std::vector<tcp::endpoint> v6, v4, out;
    for (const auto& a : addresses)
        (a.address().is_v6() ? v6 : v4).push_back(a);
    out.reserve(addresses.size());
    for (std::size_t i = 0; i < std::max(v6.size(), v4.size()); ++i) {
        if (i < v6.size())
            out.push_back(v6[i]);
        if (i < v4.size())
            out.push_back(v4[i]);
    }
    return out;
}

CARCHECK_DECL connector::connector(serial_executor serial, const endpoint& ep, const pool_options& opts,
                                   net::ssl::context* ctx, ssl_session_ptr session, pool_counters& counters)
    : serial_(std::move(serial)), ep_(ep), opts_(opts), ctx_(ctx), session_(std::move(session)),
      counters_(counters), wake_(serial_), resolver_(serial_), handshake_timer_(serial_)
{
}

CARCHECK_DECL void connector::cancel() noexcept
{
    cancelled_ = true;
    resolver_.cancel();
    for (auto& a : attempts_) {
        error_code ignored;
        a->socket.close(ignored);
    }
    if (stream_) {
        error_code ignored;
        stream_->close(ignored);
    }
    wake_.cancel();
    handshake_timer_.cancel();
}

CARCHECK_DECL std::string connector::first_hop() const
{
    if (opts_.proxy)
        return opts_.proxy->name();
    const bool v6 = ep_.host.find(':') != std::string::npos;
    return (v6 ? "[" + ep_.host + "]" : ep_.host) + ":" + std::to_string(ep_.port);
}

CARCHECK_DECL std::string connector::timeout_text(const char* stage) const
{
    return std::string("no answer within the connect timeout (") +
           std::to_string(opts_.timeouts.connect.count()) + " ms) during " + stage;
}

CARCHECK_DECL std::string connector::describe_proxy_error(const error_code& ec) const
{
    return ec == beast::error::timeout ? timeout_text("the proxy's CONNECT") : ec.message();
}

CARCHECK_DECL net::awaitable<void> connector::wait_until(steady_clock::time_point t)
{
    wake_.expires_at(t);
    co_await wake_.async_wait(as_tuple(use_awaitable)); // cancelled to wake up early
}

CARCHECK_DECL void connector::on_resolved(const std::weak_ptr<connector>& weak, error_code ec,
                                          std::vector<tcp::endpoint> addresses)
{
    auto self = weak.lock();
    if (!self || self->resolved_ || self->cancelled_)
        return;
    self->resolved_ = true;
    self->resolve_ec_ = ec;
    self->resolved_addresses_ = std::move(addresses);
    self->wake_.cancel();
}

CARCHECK_DECL net::awaitable<error_code> connector::resolve(std::vector<tcp::endpoint>& out,
                                                            std::string& failure)
{
    const std::string& host = opts_.proxy ? opts_.proxy->host : ep_.host;
    const std::uint16_t port = opts_.proxy ? opts_.proxy->port : ep_.port;
    const std::string what = opts_.proxy ? "the proxy's name " + host : host;
    std::weak_ptr<connector> weak = shared_from_this();
    if (opts_.resolve) {
        // The hook may complete on any thread: bring the result to serial_.
        opts_.resolve(host, port, [weak, serial = serial_](error_code ec, std::vector<tcp::endpoint> a) {
            net::post(serial, [weak, ec, a = std::move(a)]() mutable { on_resolved(weak, ec, std::move(a)); });
        });
    } else {
        // getaddrinfo runs on Asio's resolver thread; it cannot be interrupted, so on expiry
        // the operation is cancelled and its late completion (holding only `weak`) ignored.
        resolver_.async_resolve(host, std::to_string(port),
                                [weak](error_code ec, const tcp::resolver::results_type& results) {
                                    std::vector<tcp::endpoint> a;
                                    for (const auto& r : results)
                                        a.push_back(r.endpoint());
                                    on_resolved(weak, ec, std::move(a));
                                });
    }
    while (!resolved_ && !cancelled_ && steady_clock::now() < deadline_)
        co_await wait_until(deadline_);
    if (cancelled_)
        co_return net::error::operation_aborted;
    if (!resolved_) {
        resolver_.cancel();
        failure = "cannot resolve " + what + ": " + timeout_text("name resolution");
        co_return error::timeout;
    }
    if (resolve_ec_) {
        failure = "cannot resolve " + what + ": " + resolve_ec_.message();
        co_return resolve_ec_;
    }
    if (resolved_addresses_.empty()) {
        failure = "cannot resolve " + what + ": no address";
        co_return net::error::host_not_found;
    }
    out = std::move(resolved_addresses_);
    co_return error_code{};
}

CARCHECK_DECL void connector::start_attempt(const tcp::endpoint& address)
{
    auto a = std::make_shared<tcp_attempt>(serial_);
    a->address = address;
    attempts_.push_back(a);
    ++counters_.connect_attempts;
    error_code ec;
    a->socket.open(address.protocol(), ec);
    if (ec) {
        a->done = true;
        a->ec = ec;
        return;
    }
    std::weak_ptr<connector> weak = shared_from_this();
    a->socket.async_connect(address, [weak, a](error_code ec) {
        a->done = true;
        a->ec = ec;
        if (auto self = weak.lock())
            self->wake_.cancel();
    });
}

CARCHECK_DECL net::awaitable<error_code> connector::connect_any(const std::vector<tcp::endpoint>& order,
                                                                tcp::socket& out, std::string& failure)
{
    std::size_t next = 0;
    auto next_start = steady_clock::now();
    error_code last_ec;
    tcp::endpoint last_address;
    for (;;) {
        if (cancelled_)
            co_return net::error::operation_aborted;
        std::shared_ptr<tcp_attempt> winner;
        std::size_t pending = 0;
        for (auto& a : attempts_) {
            if (!a->done)
                ++pending;
            else if (!a->ec && !winner)
                winner = a;
            else if (a->ec && a->ec != net::error::operation_aborted) {
                last_ec = a->ec;
                last_address = a->address;
            }
        }
        if (winner) {
            // First to succeed wins; the others are closed (their handlers see aborted).
            for (auto& a : attempts_)
                if (a != winner) {
                    error_code ignored;
                    a->socket.close(ignored);
                }
            out = std::move(winner->socket);
            attempts_.clear();
            co_return error_code{};
        }
        attempts_.erase(std::remove_if(attempts_.begin(), attempts_.end(), [](const auto& a) { return a->done; }),
                        attempts_.end());
        const auto now = steady_clock::now();
        if (next < order.size() && (pending == 0 || now >= next_start)) {
            start_attempt(order[next++]);
            next_start = now + connection_attempt_delay;
            continue;
        }
        const std::string tried = order.size() > 1 ? " (" + std::to_string(order.size()) + " addresses tried)" : "";
        if (pending == 0) {
            std::string where = opts_.proxy ? opts_.proxy->name() : first_hop();
            failure = "cannot connect to " + where + tried + ": " + last_ec.message();
            if (order.size() > 1)
                failure += " (last: " + last_address.address().to_string() + ")";
            co_return last_ec ? last_ec : error_code(net::error::host_unreachable);
        }
        if (now >= deadline_) {
            for (auto& a : attempts_) {
                error_code ignored;
                a->socket.close(ignored);
            }
            attempts_.clear();
            failure = "cannot connect to " + first_hop() + tried + ": " + timeout_text("TCP connect");
            co_return error::timeout;
        }
        co_await wait_until(next < order.size() ? std::min(deadline_, next_start) : deadline_);
    }
}

CARCHECK_DECL net::awaitable<error_code> connector::open_tunnel(beast::tcp_stream& s, std::string& failure)
{
    const proxy_target& proxy = *opts_.proxy;
    const bool v6 = ep_.host.find(':') != std::string::npos;
    const std::string authority = (v6 ? "[" + ep_.host + "]" : ep_.host) + ":" + std::to_string(ep_.port);
    std::string head = "CONNECT " + authority + " HTTP/1.1\r\nHost: " + authority + "\r\n";
    if (!proxy.authorization.empty())
        head += "Proxy-Authorization: " + proxy.authorization + "\r\n";
    head += "\r\n";
    s.expires_at(deadline_);
    auto [wec, written] = co_await net::async_write(s, net::buffer(head), as_tuple(use_awaitable));
    (void)written;
    std::fill(head.begin(), head.end(), '\0'); // it may hold the credentials
    if (wec) {
        failure = "cannot send CONNECT to " + proxy.name() + ": " + describe_proxy_error(wec);
        co_return wec == beast::error::timeout ? error_code(error::timeout) : wec;
    }
    beast::flat_buffer buffer;
    http::response_parser<http::empty_body> parser;
    parser.skip(true); // a reply to CONNECT has no body (RFC 9110 section 9.3.6)
    auto [rec, read] = co_await http::async_read_header(s, buffer, parser, as_tuple(use_awaitable));
    (void)read;
    if (rec) {
        if (cancelled_)
            co_return net::error::operation_aborted;
        failure = proxy.name() + " did not answer CONNECT " + authority + ": " + describe_proxy_error(rec);
        if (rec == beast::error::timeout)
            co_return error::timeout;
        // Parse errors are the proxy's fault; a closed connection is a connection failure.
        if (rec == http::error::end_of_stream || rec == http::error::partial_message)
            co_return net::error::eof;
        if (rec.category() == error_code(http::error::end_of_stream).category())
            co_return error::bad_response;
        co_return rec;
    }
    const auto& res = parser.get();
    const unsigned status = res.result_int();
    if (status == 407) {
        failure = proxy.name() + " answered CONNECT with HTTP 407 (Proxy Authentication Required): " +
                  (proxy.authorization.empty() ? "give user:password in the proxy URL"
                                               : "it refused the credentials of the proxy URL");
        co_return error::proxy_auth_required;
    }
    if (status < 200 || status > 299) {
        std::string reason(res.reason().substr(0, 80));
        failure = proxy.name() + " refused the tunnel to " + authority + ": HTTP " + std::to_string(status) +
                  (reason.empty() ? "" : " " + reason);
        co_return error::proxy_refused;
    }
    if (buffer.size() != 0) {
        // The service speaks only after our first bytes: anything here came from the proxy.
        failure = proxy.name() + " sent data after its reply to CONNECT";
        co_return error::bad_response;
    }
    ++counters_.proxy_tunnels;
    co_return error_code{};
}

CARCHECK_DECL net::awaitable<error_code> connector::handshake(tls_socket& s, std::string& failure)
{
    SSL* ssl = s.native_handle();
    // SNI and verification name the service, never the proxy.
    if (!ep_.is_ip_literal())
        SSL_set_tlsext_host_name(ssl, ep_.host.c_str());
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (ep_.is_ip_literal())
        X509_VERIFY_PARAM_set1_ip_asc(param, ep_.host.c_str());
    else
        X509_VERIFY_PARAM_set1_host(param, ep_.host.c_str(), ep_.host.size());
    if (session_)
        SSL_set_session(ssl, session_.get()); // the SSL takes its own reference
    // The connect deadline covers the handshake: on expiry the socket's operations are
    // cancelled. A late expiry (queued as the handshake completed) finds stream_ null.
    handshake_expired_ = false;
    handshake_timer_.expires_at(deadline_);
    handshake_timer_.async_wait([weak = weak_from_this()](error_code ec) {
        auto self = weak.lock();
        if (ec || !self || !self->stream_)
            return;
        self->handshake_expired_ = true;
        error_code ignored;
        self->stream_->cancel(ignored);
    });
    auto [ec] = co_await s.async_handshake(as_tuple(use_awaitable));
    handshake_timer_.cancel();
    error_code hec = ec;
    if (hec && handshake_expired_ && !cancelled_)
        hec = beast::error::timeout;
    if (hec) {
        if (cancelled_)
            co_return net::error::operation_aborted;
        ++counters_.handshake_errors;
        const std::string where = ep_.host + ":" + std::to_string(ep_.port);
        failure = "TLS handshake with " + where + (opts_.proxy ? " (through " + opts_.proxy->name() + ")" : "") +
                  " failed: " + (hec == beast::error::timeout ? timeout_text("the TLS handshake") : hec.message());
        const long verify = SSL_get_verify_result(ssl);
        if (verify != X509_V_OK)
            failure += std::string(": ") + X509_verify_cert_error_string(verify);
        co_return hec == beast::error::timeout ? error_code(error::timeout) : hec;
    }
    if (SSL_session_reused(ssl))
        ++counters_.handshakes_resumed;
    else
        ++counters_.handshakes_full;
    co_return error_code{};
}

CARCHECK_DECL net::awaitable<connect_result> connector::run()
{
    auto self = shared_from_this();
    connect_result r;
    deadline_ = steady_clock::now() + opts_.timeouts.connect;

    std::vector<tcp::endpoint> addresses;
    if ((r.ec = co_await resolve(addresses, r.failure))) {
        if (r.ec != net::error::operation_aborted)
            ++counters_.connect_errors;
        co_return r;
    }
    tcp::socket socket(serial_);
    if ((r.ec = co_await connect_any(interleave_families(addresses), socket, r.failure))) {
        if (r.ec != net::error::operation_aborted)
            ++counters_.connect_errors;
        co_return r;
    }
    ++counters_.connects;
    error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);

    if (opts_.proxy) {
        // The tunnel is opened on a plain stream; TLS (if any) then runs inside it.
        beast::tcp_stream plain(std::move(socket));
        stream_ = &plain.socket();
        r.ec = co_await open_tunnel(plain, r.failure);
        stream_ = nullptr;
        if (!r.ec && cancelled_)
            r.ec = net::error::operation_aborted;
        if (r.ec) {
            if (r.ec != net::error::operation_aborted)
                ++counters_.connect_errors;
            plain.socket().close(ignored);
            co_return r;
        }
        socket = plain.release_socket();
    }
    if (ep_.tls)
        r.conn = std::make_unique<http_connection>(std::move(socket), ctx_->native_handle());
    else
        r.conn = std::make_unique<http_connection>(beast::tcp_stream(std::move(socket)));
    if (cancelled_) {
        r.conn->close();
        r.conn.reset();
        r.ec = net::error::operation_aborted;
        co_return r;
    }
    if (ep_.tls) {
        stream_ = &r.conn->socket();
        r.ec = co_await handshake(*r.conn->tls(), r.failure);
        stream_ = nullptr;
        if (r.ec) {
            r.conn->close();
            r.conn.reset();
            co_return r;
        }
    }
    co_return r;
}

} // namespace carcheck::detail

#endif
