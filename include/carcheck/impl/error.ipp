#ifndef CARCHECK_IMPL_ERROR_IPP
#define CARCHECK_IMPL_ERROR_IPP

#include <carcheck/error.hpp>

#include <boost/asio/ssl/error.hpp>

#include <openssl/ssl.h>

#include <string>

namespace carcheck {
namespace detail {

class error_category_impl final : public boost::system::error_category {
public:
    // A fixed id keeps codes comparable across shared objects.
    constexpr error_category_impl() noexcept : boost::system::error_category(0x6361726368656b31ULL) {}

    const char* name() const noexcept override { return "carcheck"; }

    std::string message(int ev) const override { return message(ev, nullptr, 0); }

    const char* message(int ev, char*, std::size_t) const noexcept override
    {
        switch (static_cast<error>(ev)) {
        case error::invalid_parameter: return "invalid parameter (HTTP 400)";
        case error::invalid_secret_key: return "invalid or unauthorised secret key (HTTP 401)";
        case error::monthly_limit: return "monthly credit limit exceeded (HTTP 402)";
        case error::rate_limited: return "temporary rate limit exceeded (HTTP 403)";
        case error::unexpected_status: return "unexpected HTTP status";
        case error::bad_response: return "malformed or unexpected response";
        case error::timeout: return "operation timed out";
        case error::invalid_argument: return "invalid argument";
        case error::insecure_endpoint: return "plain HTTP is only allowed to loopback hosts";
        case error::response_too_large: return "response exceeds the size limit";
        case error::file_changed: return "file changed while it was being uploaded";
        case error::file_read_failed: return "file could not be read while it was being uploaded";
        case error::queue_full: return "request queue is full";
        case error::client_closed: return "client closed";
        case error::connection_closed: return "the server closed the connection before replying";
        case error::proxy_refused: return "the proxy refused the tunnel (CONNECT)";
        case error::proxy_auth_required: return "the proxy requires authentication (HTTP 407)";
        }
        return "unknown carcheck error";
    }
};

} // namespace detail

CARCHECK_DECL const boost::system::error_category& error_category() noexcept
{
    static const detail::error_category_impl instance;
    return instance;
}

CARCHECK_DECL bool is_certificate_verification_failure(const boost::system::error_code& ec) noexcept
{
    return ec.category() == boost::asio::error::get_ssl_category() &&
           ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == SSL_R_CERTIFICATE_VERIFY_FAILED;
}

CARCHECK_DECL boost::system::error_code error_from_status(unsigned status) noexcept
{
    switch (status) {
    case 200: return {};
    case 400: return error::invalid_parameter;
    case 401: return error::invalid_secret_key;
    case 402: return error::monthly_limit;
    case 403: return error::rate_limited;
    default: return error::unexpected_status;
    }
}

} // namespace carcheck

#endif
