#ifndef CARCHECK_DETAIL_PROXY_TARGET_HPP
#define CARCHECK_DETAIL_PROXY_TARGET_HPP

#include <carcheck/config.hpp>
#include <carcheck/error.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace carcheck::detail {

/// The parsed client_options::proxy: an HTTP proxy that opens CONNECT tunnels.
struct proxy_target {
    std::string host;          // without brackets for IPv6 literals
    std::uint16_t port = 1080; // curl's default proxy port
    /// "Basic <base64(user:password)>" when the URL carries user info, else empty.
    /// Secret like the API key: never put it into a message.
    std::string authorization;

    /// "proxy host:port", for messages (never the user info).
    std::string name() const
    {
        const bool v6 = host.find(':') != std::string::npos;
        return "proxy " + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
    }
};

/// Parses "http://[user:password@]host[:port][/]" ("host:port" alone means http://). The
/// messages name what is wrong and never repeat the URL (it may carry a password).
CARCHECK_DECL error_code parse_proxy(std::string_view text, proxy_target& out, std::string& message);

} // namespace carcheck::detail

#ifdef CARCHECK_HEADER_ONLY
#include <carcheck/impl/proxy.ipp>
#endif

#endif
