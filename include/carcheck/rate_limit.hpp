#ifndef CARCHECK_RATE_LIMIT_HPP
#define CARCHECK_RATE_LIMIT_HPP

#include <carcheck/config.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

// Declared, not included: users of the client never pay for Beast's headers here.
namespace boost::beast::http {
template <class Allocator>
class basic_fields;
using fields = basic_fields<std::allocator<char>>;
} // namespace boost::beast::http

namespace carcheck {

/// What one reply said about the key's temporary rate limit. Every member is optional:
/// missing or malformed headers are tolerated and leave the member empty.
struct rate_limit_info {
    std::optional<std::int64_t> limit;       ///< X-RateLimit-Limit: requests per window
    std::optional<std::int64_t> remaining;   ///< X-Ratelimit-Remaining: left in this window
    std::optional<std::int64_t> reset_epoch; ///< X-Ratelimit-Reset: next window, epoch seconds
    /// The server's clock from the Date header; lets a skewed local clock be corrected.
    std::optional<std::chrono::system_clock::time_point> server_date;

    bool empty() const noexcept { return !limit && !remaining && !reset_epoch && !server_date; }
    friend bool operator==(const rate_limit_info&, const rate_limit_info&) = default;
};

/// Reads the X-RateLimit-* and Date headers (names are case-insensitive). Include
/// <boost/beast/http/fields.hpp> to call it.
CARCHECK_DECL rate_limit_info parse_rate_limit(const boost::beast::http::fields& headers);

/// Parses a non-negative decimal integer header value (surrounding blanks allowed).
CARCHECK_DECL std::optional<std::int64_t> parse_header_integer(std::string_view value) noexcept;

/// Parses an HTTP date in IMF-fixdate form ("Sun, 06 Nov 1994 08:49:37 GMT", RFC 9110).
CARCHECK_DECL std::optional<std::chrono::system_clock::time_point>
parse_http_date(std::string_view value) noexcept;

} // namespace carcheck

#ifdef CARCHECK_HEADER_ONLY
#include <carcheck/impl/rate_limit.ipp>
#endif

#endif
