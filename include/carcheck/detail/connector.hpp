#ifndef CARCHECK_DETAIL_CONNECTOR_HPP
#define CARCHECK_DETAIL_CONNECTOR_HPP

#include <carcheck/detail/endpoint.hpp>
#include <carcheck/detail/http_connection.hpp>
#include <carcheck/detail/pool_options.hpp>
#include <carcheck/pool_counters.hpp>
#include <carcheck/detail/op_state.hpp>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <openssl/ssl.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace carcheck::detail {

struct ssl_session_deleter {
    void operator()(SSL_SESSION* s) const noexcept { SSL_SESSION_free(s); }
};
using ssl_session_ptr = std::unique_ptr<SSL_SESSION, ssl_session_deleter>;

/// RFC 8305 section 4: IPv6 first, then the families alternate; each family keeps the
/// resolver's order.
CARCHECK_DECL std::vector<boost::asio::ip::tcp::endpoint>
interleave_families(const std::vector<boost::asio::ip::tcp::endpoint>& addresses);

/// RFC 8305's Connection Attempt Delay: the next address is tried this long after the
/// previous attempt started unless that one failed sooner.
inline constexpr std::chrono::milliseconds connection_attempt_delay{250};

struct connect_result {
    error_code ec;
    std::string failure; ///< for diagnostics::client_message; never a key or a password
    std::unique_ptr<http_connection> conn;
};

/// Establishes one connection of a pool, all of it within timeouts.connect: resolution (of
/// the proxy's name when there is one), TCP connects staggered over the addresses (RFC 8305),
/// the proxy's CONNECT tunnel, the TLS handshake (SNI and verification against the service's
/// name, resuming `session` when given). Runs on the pool's serial executor; cancel() (on it)
/// makes run() finish at once with operation_aborted. Completions of operations that outlive
/// run() (a getaddrinfo still running on Asio's thread) hold only a weak reference.
class connector : public std::enable_shared_from_this<connector> {
public:
    CARCHECK_DECL connector(serial_executor serial, const endpoint& ep, const pool_options& opts,
                            boost::asio::ssl::context* ctx, ssl_session_ptr session,
                            pool_counters& counters);

    CARCHECK_DECL boost::asio::awaitable<connect_result> run();

    CARCHECK_DECL void cancel() noexcept;

private:
    struct tcp_attempt {
        explicit tcp_attempt(const serial_executor& s) : socket(s) {}
        boost::asio::ip::tcp::socket socket;
        boost::asio::ip::tcp::endpoint address;
        bool done = false;
        error_code ec;
    };

    boost::asio::awaitable<void> wait_until(steady_clock::time_point t);
    boost::asio::awaitable<error_code> resolve(std::vector<boost::asio::ip::tcp::endpoint>& out,
                                               std::string& failure);
    boost::asio::awaitable<error_code> connect_any(const std::vector<boost::asio::ip::tcp::endpoint>& order,
                                                   boost::asio::ip::tcp::socket& out, std::string& failure);
    void start_attempt(const boost::asio::ip::tcp::endpoint& address);
    boost::asio::awaitable<error_code> open_tunnel(beast::tcp_stream& s, std::string& failure);
    boost::asio::awaitable<error_code> handshake(tls_socket& s, std::string& failure);
    std::string first_hop() const; // "host:port" or "proxy host:port"
    std::string timeout_text(const char* stage) const;
    std::string describe_proxy_error(const error_code& ec) const;
    static void on_resolved(const std::weak_ptr<connector>& weak, error_code ec,
                            std::vector<boost::asio::ip::tcp::endpoint> addresses);

    serial_executor serial_;
    const endpoint& ep_;
    const pool_options& opts_;
    boost::asio::ssl::context* ctx_;
    ssl_session_ptr session_;
    pool_counters& counters_;
    steady_clock::time_point deadline_{};
    boost::asio::steady_timer wake_;
    boost::asio::ip::tcp::resolver resolver_;
    bool resolved_ = false;
    error_code resolve_ec_;
    std::vector<boost::asio::ip::tcp::endpoint> resolved_addresses_;
    std::vector<std::shared_ptr<tcp_attempt>> attempts_;
    boost::asio::steady_timer handshake_timer_; // the connect deadline, during the handshake
    boost::asio::ip::tcp::socket* stream_ = nullptr; // once TCP is up, for cancel()
    bool cancelled_ = false;
    bool handshake_expired_ = false;
};

} // namespace carcheck::detail

#ifdef CARCHECK_HEADER_ONLY
#include <carcheck/impl/connector.ipp>
#endif

#endif
