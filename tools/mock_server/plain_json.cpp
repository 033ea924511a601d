#include "plain_json.hpp"

#include <boost/json/serialize.hpp>

#include <charconv>
#include <cmath>
#include <string_view>

namespace carcheck::mock {

namespace json = boost::json;

namespace {

void append(std::string& out, const json::value& v)
{
    switch (v.kind()) {
    case json::kind::object: {
        out += '{';
        bool first = true;
        for (const auto& member : v.get_object()) {
            if (!first)
                out += ',';
            first = false;
            out += json::serialize(member.key()); // Boost.JSON escapes strings correctly
            out += ':';
            append(out, member.value());
        }
        out += '}';
        break;
    }
    case json::kind::array: {
        out += '[';
        bool first = true;
        for (const auto& element : v.get_array()) {
            if (!first)
                out += ',';
            first = false;
            append(out, element);
        }
        out += ']';
        break;
    }
    case json::kind::double_: append_plain_number(out, v.get_double()); break;
    default: out += json::serialize(v); break; // strings, integers, booleans, null
    }
}

} // namespace

void append_plain_number(std::string& out, double d)
{
    if (!std::isfinite(d)) {
        out += "null";
        return;
    }
    // Fixed notation without a precision: the shortest digits that round-trip.
    char buf[400]; // the longest fixed form of a double (1.8e308) has 309 digits
    const auto r = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::fixed);
    const std::string_view text(buf, static_cast<std::size_t>(r.ptr - buf));
    out += text;
    if (text.find('.') == std::string_view::npos)
        out += ".0";
}

std::string to_plain_json(const json::value& v)
{
    std::string out;
    append(out, v);
    return out;
}

} // namespace carcheck::mock
