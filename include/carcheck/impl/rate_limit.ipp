#ifndef CARCHECK_IMPL_RATE_LIMIT_IPP
#define CARCHECK_IMPL_RATE_LIMIT_IPP

#include <carcheck/detail/recycled_fields.hpp>
#include <carcheck/rate_limit.hpp>

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/fields.hpp>

#include <charconv>

namespace carcheck {
namespace detail {

inline std::string_view trim_blanks(std::string_view s) noexcept
{
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
        s.remove_suffix(1);
    return s;
}

inline bool parse_fixed_digits(std::string_view s, int& out) noexcept
{
    if (s.empty())
        return false;
    int v = 0;
    for (char c : s) {
        if (c < '0' || c > '9')
            return false;
        v = v * 10 + (c - '0');
    }
    out = v;
    return true;
}

// Days since 1970-01-01 for a proleptic Gregorian date (H. Hinnant's civil algorithm).
constexpr std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) noexcept
{
    y -= m <= 2;
    const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    const auto yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

} // namespace detail

CARCHECK_DECL std::optional<std::int64_t> parse_header_integer(std::string_view value) noexcept
{
    value = detail::trim_blanks(value);
    if (value.empty() || value.front() == '-' || value.front() == '+')
        return std::nullopt;
    std::int64_t v = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
    if (ec != std::errc{} || end != value.data() + value.size())
        return std::nullopt;
    return v;
}

CARCHECK_DECL std::optional<std::chrono::system_clock::time_point>
parse_http_date(std::string_view value) noexcept
{
    // "Sun, 06 Nov 1994 08:49:37 GMT": fixed width, 29 characters.
    value = detail::trim_blanks(value);
    if (value.size() != 29 || value[3] != ',' || value[4] != ' ' || value[7] != ' ' ||
        value[11] != ' ' || value[16] != ' ' || value[19] != ':' || value[22] != ':' ||
        value.substr(25) != " GMT")
        return std::nullopt;
    // Every reply has a Date: the month is found by its three letters, compared in place.
    static constexpr char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    unsigned month = 0;
    for (unsigned i = 0; i < 12; ++i)
        if (value[8] == months[3 * i] && value[9] == months[3 * i + 1] && value[10] == months[3 * i + 2]) {
            month = i + 1;
            break;
        }
    int day = 0, year = 0, hour = 0, minute = 0, second = 0;
    if (month == 0 || !detail::parse_fixed_digits(value.substr(5, 2), day) ||
        !detail::parse_fixed_digits(value.substr(12, 4), year) ||
        !detail::parse_fixed_digits(value.substr(17, 2), hour) ||
        !detail::parse_fixed_digits(value.substr(20, 2), minute) ||
        !detail::parse_fixed_digits(value.substr(23, 2), second))
        return std::nullopt;
    if (day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60)
        return std::nullopt;
    // system_clock counts nanoseconds in 64 bits (years 1678 to 2262); a server date outside
    // 1970..2199 is wrong anyway and must not overflow the conversion or the clock offset.
    if (year < 1970 || year > 2199)
        return std::nullopt;
    const std::int64_t days = detail::days_from_civil(year, month, static_cast<unsigned>(day));
    const std::int64_t secs = days * 86400 + hour * 3600 + minute * 60 + second;
    return std::chrono::system_clock::time_point{std::chrono::seconds{secs}};
}

namespace detail {

/// The rate-limit fields and Date of a reply, read in one pass over its fields (a reply has
/// about ten; four lookups in the fields' ordered set cost more). When a field repeats, the
/// first one counts, as find() would give it.
template <class Fields>
rate_limit_info rate_limit_of(const Fields& headers)
{
    rate_limit_info info;
    bool limit_seen = false, remaining_seen = false, reset_seen = false, date_seen = false;
    for (const auto& f : headers) {
        if (f.name() == boost::beast::http::field::date) {
            if (!date_seen)
                info.server_date = parse_http_date(f.value());
            date_seen = true;
            continue;
        }
        const std::string_view name = f.name_string();
        if (name.size() < 17 || !boost::beast::iequals(name.substr(0, 12), "X-RateLimit-"))
            continue;
        const std::string_view which = name.substr(12);
        if (!limit_seen && boost::beast::iequals(which, "Limit")) {
            info.limit = parse_header_integer(f.value());
            limit_seen = true;
        } else if (!remaining_seen && boost::beast::iequals(which, "Remaining")) {
            info.remaining = parse_header_integer(f.value());
            remaining_seen = true;
        } else if (!reset_seen && boost::beast::iequals(which, "Reset")) {
            info.reset_epoch = parse_header_integer(f.value());
            reset_seen = true;
        }
    }
    return info;
}

CARCHECK_DECL rate_limit_info parse_rate_limit(const client_fields& headers)
{
    return rate_limit_of(headers);
}

} // namespace detail

CARCHECK_DECL rate_limit_info parse_rate_limit(const boost::beast::http::fields& headers)
{
    return detail::rate_limit_of(headers);
}

} // namespace carcheck

#endif
