#ifndef CARCHECK_ERROR_HPP
#define CARCHECK_ERROR_HPP

#include <carcheck/config.hpp>

#include <boost/system/error_category.hpp>
#include <boost/system/error_code.hpp>

#include <ostream>

#include <type_traits>

namespace carcheck {

/// Errors raised by carcheck itself. Transport failures (connect, TLS, socket) keep their
/// Asio / SSL / system error codes; carcheck::error::timeout replaces Beast's timeout.
enum class error {
    invalid_parameter = 1, ///< HTTP 400: the server rejected a parameter
    invalid_secret_key,    ///< HTTP 401: unknown or unauthorised secret key
    monthly_limit,         ///< HTTP 402: the key's monthly credits are spent
    rate_limited,          ///< HTTP 403: the key's temporary rate limit is exceeded
    unexpected_status,     ///< any other HTTP status than 200/400/401/402/403
    bad_response,          ///< the reply is not valid HTTP/JSON or does not match the schema
    timeout,               ///< a connect (resolution, TCP, proxy, TLS), request or pool-wait deadline expired
    invalid_argument,      ///< the caller's input was rejected before anything was sent
    insecure_endpoint,     ///< plain HTTP to a non-loopback host without opting in
    response_too_large,    ///< the reply exceeded client_options::max_response_bytes
    file_changed,          ///< an uploaded file changed size or vanished while being sent
    file_read_failed,      ///< an uploaded file could not be read mid-upload
    queue_full,            ///< the scheduler queue is full and the client is set to fail fast
    client_closed,         ///< the client or pool was closed before the operation finished
    connection_closed,     ///< the server closed or reset the connection before any reply byte
    proxy_refused,         ///< the proxy answered CONNECT with a status other than 2xx (not 407)
    proxy_auth_required,   ///< the proxy answered CONNECT with 407: credentials missing or wrong
};

/// True for failures of the connection itself (the other side closed or reset it, connect
/// or TLS errors, ...), as opposed to carcheck's own verdicts (timeout, bad_response, a
/// changed upload file, ...). Only these may be repeated when the server cannot have
/// processed the request.
inline bool is_connection_failure(const boost::system::error_code& ec) noexcept;

/// True when a TLS handshake failed because the server's certificate chain or name did not
/// verify. Deterministic (another attempt fails the same way), so never retried.
CARCHECK_DECL bool is_certificate_verification_failure(const boost::system::error_code& ec) noexcept;

/// The category of carcheck::error; its name is "carcheck".
CARCHECK_DECL const boost::system::error_category& error_category() noexcept;

inline boost::system::error_code make_error_code(error e) noexcept
{
    return {static_cast<int>(e), error_category()};
}

inline bool is_connection_failure(const boost::system::error_code& ec) noexcept
{
    if (!ec || ec == boost::system::errc::operation_canceled)
        return false;
    if (ec.category() == error_category())
        return ec == make_error_code(error::connection_closed);
    return !is_certificate_verification_failure(ec);
}

/// Writes the error's message (for logs and test frameworks).
inline std::ostream& operator<<(std::ostream& os, error e)
{
    return os << make_error_code(e).message();
}

/// Maps an HTTP status of the API to an error; 200 maps to success.
CARCHECK_DECL boost::system::error_code error_from_status(unsigned status) noexcept;

} // namespace carcheck

template <>
struct boost::system::is_error_code_enum<carcheck::error> : std::true_type {};

#ifdef CARCHECK_HEADER_ONLY
#include <carcheck/impl/error.ipp>
#endif

#endif
