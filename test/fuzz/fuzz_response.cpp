// Fuzz target: the client's response path with arbitrary server bytes. The bytes go
// through the same Beast parser settings the client uses, then the client's status
// mapping and reply parsing. Invariant checked besides memory safety: the secret key never
// shows up in a message the caller gets, even when the server echoes it back.
#include <carcheck/client.hpp>
#include <carcheck/detail/client_impl.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

namespace {

constexpr const char* secret = "fuzz-secret-K3y";

carcheck::detail::client_impl& impl()
{
    static boost::asio::io_context ioc;
    static auto instance = [] {
        carcheck::client_options o;
        o.secret_key = secret;
        o.endpoint = "http://127.0.0.1:9/v3";
        return std::make_unique<carcheck::detail::client_impl>(ioc.get_executor(), std::move(o));
    }();
    return *instance;
}

bool leaks(const std::string& s) { return s.find(secret) != std::string::npos; }

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    namespace http = boost::beast::http;
    carcheck::detail::client_response_parser parser; // the client's own fields
    parser.body_limit(1u << 20);
    parser.eager(true);
    boost::beast::error_code ec;
    std::size_t used = 0;
    while (used < size && !parser.is_done()) {
        auto n = parser.put(boost::asio::buffer(data + used, size - used), ec);
        if (ec == http::error::need_more) {
            ec = {};
            break;
        }
        if (ec)
            return 0;
        if (n == 0)
            break;
        used += n;
    }
    if (!parser.is_done()) {
        // Beast's stream reads report a close before any byte without calling put_eof
        // (its precondition); so does the client.
        if (!parser.got_some())
            return 0;
        parser.put_eof(ec);
        if (ec || !parser.is_done())
            return 0;
    }
    auto res = parser.release();
    carcheck::diagnostics diag;
    auto status_ec = impl().check_status(res, carcheck::detail::parse_rate_limit(res.base()), diag);
    if (leaks(diag.server_message) || leaks(diag.client_message))
        std::abort();
    if (!status_ec) {
        carcheck::recognition r;
        std::string detail;
        if (carcheck::parse_recognition(res.body(), r, detail) && leaks(impl().redact(detail)))
            std::abort();
    }
    if (leaks(diag.describe(status_ec)))
        std::abort();
    return 0;
}
