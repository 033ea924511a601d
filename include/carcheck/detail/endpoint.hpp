#ifndef CARCHECK_DETAIL_ENDPOINT_HPP
#define CARCHECK_DETAIL_ENDPOINT_HPP

#include <carcheck/error.hpp>

#include <boost/asio/ip/address.hpp>
#include <boost/url/parse.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace carcheck::detail {

/// The parsed client_options::endpoint: where every request goes.
struct endpoint {
    bool tls = true;
    std::string host;      // without brackets for IPv6 literals
    std::uint16_t port = 443;
    std::string base_path; // "/v3", no trailing slash
    std::string host_header; // value of the Host header

    bool is_ip_literal() const
    {
        boost::system::error_code ec;
        boost::asio::ip::make_address(host, ec);
        return !ec;
    }

    bool is_loopback() const
    {
        if (host == "localhost")
            return true;
        boost::system::error_code ec;
        auto addr = boost::asio::ip::make_address(host, ec);
        return !ec && addr.is_loopback();
    }
};

/// Parses "https://host[:port]/base". Fails with invalid_argument naming what is wrong, or
/// insecure_endpoint for plain HTTP to a non-loopback host without allow_insecure.
inline error_code parse_endpoint(std::string_view text, bool allow_insecure, endpoint& out,
                                 std::string& message)
{
    auto parsed = boost::urls::parse_absolute_uri(text);
    if (!parsed) {
        message = "endpoint is not an absolute URL: " + std::string(text);
        return error::invalid_argument;
    }
    const auto& u = *parsed;
    endpoint ep;
    std::string scheme(u.scheme());
    for (char& ch : scheme) // RFC 3986: schemes are case-insensitive
        if (ch >= 'A' && ch <= 'Z')
            ch = static_cast<char>(ch - 'A' + 'a');
    if (scheme == "https")
        ep.tls = true;
    else if (scheme == "http")
        ep.tls = false;
    else {
        message = "endpoint scheme must be https or http, got " + std::string(u.scheme());
        return error::invalid_argument;
    }
    if (u.has_userinfo() || u.has_query() || u.has_fragment()) {
        message = "endpoint must not carry user info, a query or a fragment";
        return error::invalid_argument;
    }
    ep.host = u.host_address();
    if (ep.host.empty()) {
        message = "endpoint has no host";
        return error::invalid_argument;
    }
    const std::uint16_t default_port = ep.tls ? 443 : 80;
    ep.port = default_port;
    if (u.has_port()) {
        // Read the digits ourselves: port_number() wraps values above 65535.
        const std::string_view digits = u.port();
        unsigned long value = 0;
        bool valid = !digits.empty() && digits.size() <= 5;
        for (char ch : digits) {
            valid = valid && ch >= '0' && ch <= '9';
            value = value * 10 + static_cast<unsigned long>(ch - '0');
        }
        if (!valid || value == 0 || value > 65535) {
            message = "endpoint port '" + std::string(digits) + "' is not a number from 1 to 65535";
            return error::invalid_argument;
        }
        ep.port = static_cast<std::uint16_t>(value);
    }
    std::string path = u.path();
    while (!path.empty() && path.back() == '/')
        path.pop_back();
    ep.base_path = path;
    ep.host_header = std::string(u.encoded_host_and_port());
    if (!ep.tls && !allow_insecure && !ep.is_loopback()) {
        message = "plain http:// endpoint " + ep.host +
                  " is not a loopback host; use https or set allow_insecure_http";
        return error::insecure_endpoint;
    }
    out = std::move(ep);
    return {};
}

} // namespace carcheck::detail

#endif
