// Fuzz target: rate-limit headers and HTTP dates as a server may send them.
// Input: header lines "Name: value\n"; each is added to a field set, then parsed.
#include <carcheck/rate_limit.hpp>

#include <boost/beast/http/fields.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    boost::beast::http::fields fields;
    std::size_t pos = 0;
    while (pos < text.size()) {
        auto end = text.find('\n', pos);
        if (end == std::string_view::npos)
            end = text.size();
        const auto line = text.substr(pos, end - pos);
        pos = end + 1;
        const auto colon = line.find(':');
        if (colon == std::string_view::npos || colon == 0)
            continue;
        auto name = line.substr(0, colon);
        auto value = line.substr(colon + 1);
        // Beast rejects field names and values with control characters by assertion;
        // a real parser would have refused them before they reach parse_rate_limit.
        bool printable = true;
        for (char c : line)
            printable = printable && static_cast<unsigned char>(c) >= 0x20 && c != 0x7f;
        if (!printable)
            continue;
        fields.insert(name, value);
    }
    const auto info = carcheck::parse_rate_limit(fields);
    if (info.limit && *info.limit < 0)
        std::abort();
    if (info.remaining && *info.remaining < 0)
        std::abort();
    (void)carcheck::parse_http_date(text);
    (void)carcheck::parse_header_integer(text);
    return 0;
}
