#ifndef CARCHECK_PROXY_HPP
#define CARCHECK_PROXY_HPP

// Choosing an HTTP proxy the way curl does: the *_proxy environment variables and the
// no_proxy list. Opt-in: client_options::proxy is never read from the environment unless
// the program asks (carcheck::proxy_from_environment).

#include <carcheck/config.hpp>

#include <string>
#include <string_view>

namespace carcheck {

/// True when `host` (a name, an IPv4 address or an IPv6 address, brackets optional) is in
/// `no_proxy`, so that no proxy should be used for it. curl's rules (lib/noproxy.c):
/// - a comma-separated list; blanks around the entries are ignored;
/// - the list "*" matches every host (a "*" entry inside a longer list matches nothing);
/// - a name matches itself and its subdomains, case-insensitively: "example.com" (or
///   ".example.com") matches "example.com" and "api.example.com", not "badexample.com";
///   trailing dots of the name and the entry are ignored;
/// - an IP address matches the same address, or a CIDR range ("192.168.0.0/16",
///   "fd00::/8"); names never match addresses (nothing is resolved);
/// - ports are not part of the match ("host:port" entries match nothing).
CARCHECK_DECL bool no_proxy_matches(std::string_view host, std::string_view no_proxy) noexcept;

/// The proxy URL curl would use for `endpoint` ("https://host[:port]/..."), or "" for a
/// direct connection: https_proxy, else HTTPS_PROXY, for https endpoints; http_proxy (lower
/// case only, as curl: HTTP_PROXY can be set by a CGI request's "Proxy:" header) for http
/// endpoints; "" when the host is in no_proxy (else NO_PROXY). ALL_PROXY is not read.
/// Put the result into client_options::proxy.
CARCHECK_DECL std::string proxy_from_environment(std::string_view endpoint);

} // namespace carcheck

#ifdef CARCHECK_HEADER_ONLY
#include <carcheck/impl/proxy.ipp>
#endif

#endif
