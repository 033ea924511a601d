#ifndef CARCHECK_IMPL_PROXY_IPP
#define CARCHECK_IMPL_PROXY_IPP

#include <carcheck/detail/base64.hpp>
#include <carcheck/detail/proxy_target.hpp>
#include <carcheck/proxy.hpp>

#include <boost/asio/ip/address.hpp>
#include <boost/url/parse.hpp>

#include <array>
#include <cstdlib>

namespace carcheck {
namespace detail {

inline std::string_view trim_entry_blanks(std::string_view s) noexcept
{
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
        s.remove_suffix(1);
    return s;
}

inline bool iequal(std::string_view a, std::string_view b) noexcept
{
    if (a.size() != b.size())
        return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        char x = a[i], y = b[i];
        if (x >= 'A' && x <= 'Z')
            x = static_cast<char>(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z')
            y = static_cast<char>(y - 'A' + 'a');
        if (x != y)
            return false;
    }
    return true;
}

inline std::string_view strip_brackets(std::string_view s) noexcept
{
    if (s.size() >= 2 && s.front() == '[' && s.back() == ']')
        return s.substr(1, s.size() - 2);
    return s;
}

/// `entry` is "address" or "address/bits"; true when `addr` is inside.
inline bool address_matches(const boost::asio::ip::address& addr, std::string_view entry) noexcept
{
    std::string_view network_text = entry, bits_text;
    if (auto slash = entry.find('/'); slash != std::string_view::npos) {
        network_text = entry.substr(0, slash);
        bits_text = entry.substr(slash + 1);
    }
    boost::system::error_code ec;
    const auto network = boost::asio::ip::make_address(std::string(strip_brackets(network_text)), ec);
    if (ec || network.is_v4() != addr.is_v4())
        return false;
    const unsigned width = addr.is_v4() ? 32 : 128;
    unsigned bits = width;
    if (auto slash = entry.find('/'); slash != std::string_view::npos) {
        if (bits_text.empty() || bits_text.size() > 3)
            return false;
        bits = 0;
        for (char ch : bits_text) {
            if (ch < '0' || ch > '9')
                return false;
            bits = bits * 10 + static_cast<unsigned>(ch - '0');
        }
        if (bits > width)
            return false;
    }
    auto compare = [bits](const auto& a, const auto& b) {
        for (unsigned i = 0; i < bits; ++i) {
            const unsigned mask = 0x80u >> (i % 8);
            if ((a[i / 8] & mask) != (b[i / 8] & mask))
                return false;
        }
        return true;
    };
    if (addr.is_v4())
        return compare(addr.to_v4().to_bytes(), network.to_v4().to_bytes());
    return compare(addr.to_v6().to_bytes(), network.to_v6().to_bytes());
}

inline bool is_http_scheme(std::string_view scheme, std::string_view want) noexcept
{
    return iequal(scheme, want);
}

inline std::string first_env(std::initializer_list<const char*> names)
{
    for (const char* n : names)
        if (const char* v = std::getenv(n); v && *v)
            return v;
    return {};
}

CARCHECK_DECL error_code parse_proxy(std::string_view text, proxy_target& out, std::string& message)
{
    // Like curl, a proxy without a scheme is an HTTP proxy.
    std::string url(text);
    if (url.find("://") == std::string::npos)
        url = "http://" + url;
    auto parsed = boost::urls::parse_uri(url);
    if (!parsed) {
        message = "proxy is not a URL of the form http://[user:password@]host[:port]";
        return error::invalid_argument;
    }
    const auto& u = *parsed;
    if (!is_http_scheme(u.scheme(), "http")) {
        if (is_http_scheme(u.scheme(), "https"))
            message = "proxy scheme https (TLS to the proxy) is not supported: use http://host:port "
                      "(the tunnel to the service is TLS end to end all the same)";
        else
            message = "proxy scheme must be http, got '" + std::string(u.scheme()) + "'";
        return error::invalid_argument;
    }
    if (u.has_query() || u.has_fragment() || !(u.path().empty() || u.path() == "/")) {
        message = "proxy URL must not carry a path, a query or a fragment";
        return error::invalid_argument;
    }
    proxy_target p;
    p.host = u.host_address();
    if (p.host.empty()) {
        message = "proxy URL has no host";
        return error::invalid_argument;
    }
    if (u.has_port()) {
        const std::string_view digits = u.port();
        unsigned long value = 0;
        bool valid = !digits.empty() && digits.size() <= 5;
        for (char ch : digits) {
            valid = valid && ch >= '0' && ch <= '9';
            value = value * 10 + static_cast<unsigned long>(ch - '0');
        }
        if (!valid || value == 0 || value > 65535) {
            message = "proxy port '" + std::string(digits) + "' is not a number from 1 to 65535";
            return error::invalid_argument;
        }
        p.port = static_cast<std::uint16_t>(value);
    }
    if (u.has_userinfo()) {
        // RFC 7617: base64 of the percent-decoded "user:password".
        std::string credentials = u.user();
        credentials += ':';
        credentials += u.password();
        std::string encoded(base64::encoded_size(credentials.size()), '\0');
        base64::encode(encoded.data(), reinterpret_cast<const std::uint8_t*>(credentials.data()),
                       credentials.size());
        p.authorization = "Basic " + encoded;
        // Do not leave the password lying around in freed memory longer than needed.
        std::fill(credentials.begin(), credentials.end(), '\0');
    }
    out = std::move(p);
    return {};
}

} // namespace detail

CARCHECK_DECL bool no_proxy_matches(std::string_view host, std::string_view no_proxy) noexcept
{
    using detail::trim_entry_blanks;
    const std::string_view list = trim_entry_blanks(no_proxy);
    if (list.empty())
        return false;
    if (list == "*")
        return true;
    std::string_view name = detail::strip_brackets(host);
    boost::system::error_code ec;
    const auto addr = boost::asio::ip::make_address(std::string(name), ec);
    const bool is_ip = !ec;
    if (!is_ip && !name.empty() && name.back() == '.')
        name.remove_suffix(1);
    if (name.empty())
        return false;
    std::string_view rest = list;
    while (!rest.empty()) {
        const auto comma = rest.find(',');
        std::string_view entry = trim_entry_blanks(rest.substr(0, comma));
        rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
        if (entry.empty())
            continue;
        if (is_ip) {
            if (detail::address_matches(addr, entry))
                return true;
            continue;
        }
        if (entry.back() == '.')
            entry.remove_suffix(1);
        if (!entry.empty() && entry.front() == '.')
            entry.remove_prefix(1);
        if (entry.empty() || entry.size() > name.size())
            continue;
        if (entry.size() == name.size()) {
            if (detail::iequal(entry, name))
                return true;
        } else if (name[name.size() - entry.size() - 1] == '.' &&
                   detail::iequal(entry, name.substr(name.size() - entry.size()))) {
            return true;
        }
    }
    return false;
}

CARCHECK_DECL std::string proxy_from_environment(std::string_view endpoint)
{
    auto parsed = boost::urls::parse_uri(endpoint);
    if (!parsed)
        return {};
    std::string proxy;
    if (detail::is_http_scheme(parsed->scheme(), "https"))
        proxy = detail::first_env({"https_proxy", "HTTPS_PROXY"});
    else if (detail::is_http_scheme(parsed->scheme(), "http"))
        proxy = detail::first_env({"http_proxy"});
    if (proxy.empty())
        return {};
    if (no_proxy_matches(parsed->host_address(), detail::first_env({"no_proxy", "NO_PROXY"})))
        return {};
    return proxy;
}

} // namespace carcheck

#endif
