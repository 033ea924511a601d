// The mock server's own checks: validation, credits and rate windows, deterministic
// recognition, streamed uploads, faults, TLS, and replies against the spec's schemas.
// Uses a tiny synchronous Beast client (not the carcheck client) on 127.0.0.1 only.

#include "mock_server.hpp"

#include "base64_decoder.hpp"
#include "image_sink.hpp"
#include "multipart_parser.hpp"

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/core/detail/base64.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <openssl/ssl.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
namespace ssl = asio::ssl;
namespace mock = carcheck::mock;
using tcp = asio::ip::tcp;

// --- a tiny client ----------------------------------------------------------------------------

struct reply {
    unsigned status = 0;
    http::fields headers;
    std::string body;
    boost::system::error_code error; ///< transport or parse error (faults)

    json::value body_json() const
    {
        boost::system::error_code ec;
        auto v = json::parse(body, ec);
        BOOST_REQUIRE_MESSAGE(!ec, "reply is not JSON: " << body.substr(0, 200));
        return v;
    }
    std::string error_text() const { return json::value_to<std::string>(body_json().at("error")); }
};

struct request_spec {
    std::string method = "POST";
    std::string target;
    std::string content_type;
    std::string body;
};

template <class Stream>
reply exchange_on(Stream& stream, const request_spec& r, bool keep_alive = false)
{
    http::request<http::string_body> req{http::string_to_verb(r.method), r.target, 11};
    req.set(http::field::host, "127.0.0.1");
    if (!r.content_type.empty())
        req.set(http::field::content_type, r.content_type);
    req.body() = r.body;
    req.keep_alive(keep_alive);
    req.prepare_payload();
    reply out;
    http::write(stream, req, out.error);
    if (out.error)
        return out;
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(1u << 30);
    http::read(stream, buffer, parser, out.error);
    out.status = parser.get().result_int();
    out.headers = parser.get().base();
    out.body = parser.get().body();
    return out;
}

reply exchange(unsigned short port, const request_spec& r)
{
    asio::io_context ioc;
    tcp::socket s(ioc);
    s.connect({asio::ip::make_address("127.0.0.1"), port});
    return exchange_on(s, r);
}

std::string b64(std::string_view bytes)
{
    namespace d = beast::detail::base64;
    std::string out(d::encoded_size(bytes.size()), '\0');
    out.resize(d::encode(out.data(), bytes.data(), bytes.size()));
    return out;
}

std::string b64_decode(std::string_view text)
{
    namespace d = beast::detail::base64;
    std::string out(d::decoded_size(text.size()), '\0');
    out.resize(d::decode(out.data(), text.data(), text.size()).first);
    return out;
}

std::string sha256_of(std::string_view bytes)
{
    mock::sha256 h;
    h.update(bytes.data(), bytes.size());
    return h.hex_digest();
}

/// A JPEG-shaped image whose COM segment carries the mock's plate marker.
std::string jpeg(const std::string& comment, std::size_t padding = 0)
{
    std::string c = comment + std::string(padding, 'x');
    std::string out = "\xFF\xD8\xFF\xFE";
    out += static_cast<char>(((c.size() + 2) >> 8) & 0xFF);
    out += static_cast<char>((c.size() + 2) & 0xFF);
    out += c;
    // A baseline frame header: 480 x 640.
    out += std::string("\xFF\xC0\x00\x0B\x08\x01\xE0\x02\x80\x01\x01\x11\x00", 13);
    out += "\xFF\xD9";
    return out;
}

const std::string boundary = "----carcheckBoundary7MA4YWxkTrZu0gW";

std::string multipart(const std::string& image, const std::string& field = "image", const std::string& filename = "car.jpg")
{
    return "--" + boundary + "\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n" + "--" + boundary +
           "\r\nContent-Disposition: form-data; name=\"" + field + "\"; filename=\"" + filename +
           "\"\r\nContent-Type: image/jpeg\r\n\r\n" + image + "\r\n--" + boundary + "--\r\n";
}

std::string query(const std::string& path, const std::string& params, const std::string& key = "test-key")
{
    return "/v3/" + path + "?secret_key=" + key + (params.empty() ? "" : "&" + params);
}

request_spec recognize(const std::string& image, const std::string& params = "country=us", const std::string& key = "test-key")
{
    return {"POST", query("recognize", params, key), "multipart/form-data; boundary=" + boundary, multipart(image)};
}

struct running_server {
    mock::server server;
    explicit running_server(mock::server_options o = {}) : server(std::move(o)) { server.start(); }
    reply send(const request_spec& r) { return exchange(server.http_port(), r); }
};

mock::server_options with_keys(std::vector<mock::key_config> keys)
{
    mock::server_options o;
    o.enable_https = false;
    o.keys = std::move(keys);
    return o;
}

/// The first number written in exponent form (9.698E1, 0E0) in JSON text, or "" if none.
/// Outside strings an 'e' after a digit or a '.' can only be an exponent (true/false/null
/// have theirs after letters).
std::string exponent_number(const std::string& text)
{
    bool in_string = false, escaped = false;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (in_string) {
            if (escaped)
                escaped = false;
            else if (c == '\\')
                escaped = true;
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if ((c == 'e' || c == 'E') && i > 0 && (std::isdigit(static_cast<unsigned char>(text[i - 1])) || text[i - 1] == '.')) {
            const auto from = text.find_last_of(",:[{ ", i) + 1;
            return text.substr(from, text.find_first_of(",]} ", i) - from);
        }
    }
    return {};
}

// --- a small Swagger 2.0 schema checker --------------------------------------------------------

class spec_checker {
public:
    spec_checker()
    {
        std::ifstream in(CARCHECK_SPEC_FILE);
        std::stringstream s;
        s << in.rdbuf();
        spec_ = json::parse(s.str());
    }

    /// Checks a reply body against paths[path][method].responses[status].schema.
    void check(const std::string& path, const std::string& method, unsigned status, const json::value& body,
               const http::fields& headers)
    {
        const auto& response = resolve(spec_.at("paths").at(path).at(method).at("responses").at(std::to_string(status)));
        if (const auto* hs = response.as_object().if_contains("headers"))
            for (const auto& [name, h] : hs->as_object()) {
                auto it = headers.find(name);
                BOOST_TEST_REQUIRE((it != headers.end()), "header " << name << " missing");
                if (h.at("type") == "integer")
                    BOOST_TEST(std::regex_match(std::string(it->value()), std::regex("[0-9]+")), name << ": " << it->value());
            }
        check_value(body, response.at("schema"), "$");
    }

private:
    const json::value& resolve(const json::value& v) const
    {
        if (const auto* ref = v.as_object().if_contains("$ref")) {
            std::string r(ref->as_string()); // "#/definitions/x"
            const json::value* at = &spec_;
            std::stringstream parts(r.substr(2));
            for (std::string part; std::getline(parts, part, '/');)
                at = &at->at(part);
            return resolve(*at);
        }
        return v;
    }

    void check_value(const json::value& v, const json::value& schema_in, const std::string& where)
    {
        const auto& schema = resolve(schema_in).as_object();
        ++checked_;
        std::string type = schema.contains("type") ? std::string(schema.at("type").as_string())
                                                    : schema.contains("properties") ? "object" : "";
        if (type == "integer")
            BOOST_TEST((v.is_int64() || v.is_uint64()), where << " should be an integer: " << json::serialize(v));
        else if (type == "number")
            BOOST_TEST(v.is_number(), where << " should be a number");
        else if (type == "string")
            BOOST_TEST(v.is_string(), where << " should be a string");
        else if (type == "boolean")
            BOOST_TEST(v.is_bool(), where << " should be a boolean");
        else if (type == "array") {
            BOOST_TEST_REQUIRE(v.is_array(), where << " should be an array");
            std::size_t i = 0;
            for (const auto& item : v.as_array())
                check_value(item, schema.at("items"), where + "[" + std::to_string(i++) + "]");
        } else if (type == "object") {
            BOOST_TEST_REQUIRE(v.is_object(), where << " should be an object");
            if (const auto* props = schema.if_contains("properties"))
                for (const auto& [name, sub] : props->as_object())
                    if (const auto* member = v.as_object().if_contains(name))
                        check_value(*member, sub, where + "." + std::string(name));
        }
        if (const auto* e = schema.if_contains("enum")) {
            bool found = false;
            for (const auto& allowed : e->as_array())
                found = found || allowed == v;
            BOOST_TEST(found, where << " not in enum: " << json::serialize(v));
        }
    }

    json::value spec_;

public:
    std::size_t checked_ = 0;
};

} // namespace

BOOST_AUTO_TEST_SUITE(mock_server_test)

BOOST_AUTO_TEST_CASE(validation_errors_name_the_parameter)
{
    running_server s(with_keys({}));
    const auto img = jpeg("plate=VAL1");
    struct expectation {
        request_spec request;
        std::string needle;
    };
    const std::string mp = "multipart/form-data; boundary=" + boundary;
    const std::vector<expectation> cases{
        {recognize(img, ""), "country"},
        {recognize(img, "country="), "country"},
        {recognize(img, "country=us&recognize_vehicle=2"), "recognize_vehicle"},
        {recognize(img, "country=us&return_image=yes"), "return_image"},
        {recognize(img, "country=us&is_cropped=5"), "is_cropped"},
        {recognize(img, "country=us&topn=0"), "topn"},
        {recognize(img, "country=us&topn=1001"), "topn"},
        {recognize(img, "country=us&topn=abc"), "topn"},
        {recognize(img, "country=us&topn=5x"), "topn"},
        {{"POST", query("recognize", "country=us"), "image/jpeg", img}, "image"},
        {{"POST", query("recognize", "country=us"), mp, multipart(img, "picture")}, "image"},
        {{"POST", query("recognize", "country=us"), mp, multipart("")}, "image is empty"},
        {{"POST", query("recognize", "country=us"), mp, "--" + boundary + "\r\n"}, "image"},
        {{"POST", query("recognize_bytes", "country=us&is_cropped=1"), "application/json", "\"" + b64(img) + "\""}, "is_cropped"},
        {{"POST", query("recognize_bytes", "country=us"), "application/json", "\"not*base64\""}, "image_bytes"},
        {{"POST", query("recognize_bytes", "country=us"), "application/json", "{\"image_bytes\": \"" + b64(img) + "\"}"},
         "Unable to base64 decode image_bytes body"},
        {{"POST", query("recognize_bytes", "country=us"), "application/json", "\"" + b64(img)}, "image_bytes"},
        {{"POST", query("recognize_bytes", "country=us"), "application/json", "\"\""}, "image is empty"},
        {{"POST", query("recognize_url", "country=us"), "", ""}, "image_url"},
        {{"POST", query("recognize_url", "country=us&image_url=http%3A%2F%2F203.0.113.7%2Fa.jpg"), "", ""}, "image_url"},
        {{"POST", query("recognize_url", "country=us&image_url=ftp://127.0.0.1/a.jpg"), "", ""}, "image_url"},
        {{"POST", query("recognize_url", "country=us&image_url=not%20a%20url"), "", ""}, "image_url"},
    };
    for (const auto& c : cases) {
        auto r = s.send(c.request);
        BOOST_TEST(r.status == 400u, c.request.target << " -> " << r.status);
        BOOST_TEST(r.error_text().find(c.needle) != std::string::npos, "'" << r.error_text() << "' should name " << c.needle);
        BOOST_TEST(r.body_json().at("error_code") == 400);
        BOOST_TEST(r.headers.count("X-RateLimit-Limit") == 1u);
    }
    // Every base64 failure gets the live service's text.
    BOOST_TEST(s.send({"POST", query("recognize_bytes", "country=us"), "application/json", "\"not*base64\""}).error_text() ==
               "Unable to base64 decode image_bytes body");
    BOOST_TEST(s.server.credits_used("test-key") == 0);

    // Routing.
    BOOST_TEST(s.send({"GET", "/v3/nothing", "", ""}).status == 404u);
    auto r = s.send({"GET", query("recognize", "country=us"), "", ""});
    BOOST_TEST(r.status == 405u);
    BOOST_TEST(r.headers[http::field::allow] == "POST");
    BOOST_TEST(s.send({"POST", "/v3/config", "", ""}).status == 405u);
}

BOOST_AUTO_TEST_CASE(unknown_or_missing_key_is_401)
{
    running_server s(with_keys({{.key = "k1"}}));
    const auto img = jpeg("plate=AUTH1");
    for (const auto& target : {std::string("/v3/recognize?country=us"), query("recognize", "country=us", "k2"),
                               query("recognize", "country=us", "")}) {
        auto r = s.send({"POST", target, "multipart/form-data; boundary=" + boundary, multipart(img)});
        BOOST_TEST(r.status == 401u);
        // As the live service: its text, its error_code, its content type, no rate-limit headers.
        BOOST_TEST(r.body == R"({"error_code":401,"error":"Invalid credentials"})");
        BOOST_TEST(r.headers[http::field::content_type] == "application/json; charset=\"utf-8\"");
        BOOST_TEST(r.headers.count("X-RateLimit-Limit") == 0u);
        BOOST_TEST(r.headers.count("X-Ratelimit-Remaining") == 0u);
        BOOST_TEST(r.headers.count("X-Ratelimit-Reset") == 0u);
        BOOST_TEST(r.headers.count(http::field::date) == 1u);
    }
    // Percent-encoded and '+'-encoded keys are decoded.
    s.server.set_key({.key = "a b+c/d"});
    BOOST_TEST(s.send(recognize(img, "country=us", "a+b%2Bc%2Fd")).status == 200u);
    BOOST_TEST(s.server.requests().back().query.at("secret_key") == "a b+c/d");
    BOOST_TEST(s.server.credits_used("a b+c/d") == 1);
    BOOST_TEST(s.server.credits_used("nobody") == -1);
}

BOOST_AUTO_TEST_CASE(monthly_credits_402)
{
    running_server s(with_keys({{.key = "poor", .monthly_credits = 3}}));
    const auto img = jpeg("plate=CRED1");
    auto r1 = s.send(recognize(img, "country=us&recognize_vehicle=1", "poor"));
    BOOST_TEST_REQUIRE(r1.status == 200u);
    BOOST_TEST(r1.body_json().at("credit_cost") == 2);
    BOOST_TEST(r1.body_json().at("credits_monthly_used") == 2);
    BOOST_TEST(r1.body_json().at("credits_monthly_total") == 3);
    auto r2 = s.send(recognize(img, "country=us&recognize_vehicle=1", "poor"));
    BOOST_TEST(r2.status == 402u);
    BOOST_TEST(r2.body == R"({"error_code":402,"error":"Monthly Usage (3) exceeded for this month"})");
    BOOST_TEST(r2.headers.count("X-RateLimit-Limit") == 0u);
    BOOST_TEST(r2.headers.count("X-Ratelimit-Remaining") == 0u);
    BOOST_TEST(r2.headers.count("X-Ratelimit-Reset") == 0u);
    auto r3 = s.send(recognize(img, "country=us", "poor"));
    BOOST_TEST_REQUIRE(r3.status == 200u);
    BOOST_TEST(r3.body_json().at("credits_monthly_used") == 3);
    BOOST_TEST(s.send(recognize(img, "country=us", "poor")).status == 402u);
    BOOST_TEST(s.server.credits_used("poor") == 3);
    // Config is free and needs no key.
    BOOST_TEST(s.send({"GET", "/v3/config", "", ""}).status == 200u);
}

BOOST_AUTO_TEST_CASE(rate_window_403_with_headers)
{
    // A window of 4e9 s: [0, 4e9) holds "now" until 2096, so no boundary can interfere.
    const std::int64_t window = 4'000'000'000;
    running_server s(with_keys({{.key = "busy", .rate_limit = 2, .window = std::chrono::seconds(window)}}));
    const auto img = jpeg("plate=RATE1");
    auto r1 = s.send(recognize(img, "country=us", "busy"));
    BOOST_TEST(r1.status == 200u);
    BOOST_TEST(r1.headers["X-RateLimit-Limit"] == "2");
    BOOST_TEST(r1.headers["X-Ratelimit-Remaining"] == "1");
    BOOST_TEST(r1.headers["X-Ratelimit-Reset"] == std::to_string(window));
    BOOST_TEST(s.send(recognize(img, "country=us", "busy")).status == 200u);
    for (int i = 0; i < 2; ++i) {
        auto r = s.send(recognize(img, "country=us", "busy"));
        BOOST_TEST(r.status == 403u);
        BOOST_TEST(r.body_json().at("error_code") == 403);
        BOOST_TEST(r.headers["x-ratelimit-limit"] == "2");
        BOOST_TEST(r.headers["x-ratelimit-remaining"] == "0");
        BOOST_TEST(r.headers["x-ratelimit-reset"] == std::to_string(window));
        BOOST_TEST(!r.headers[http::field::date].empty());
    }
    BOOST_TEST(s.server.credits_used("busy") == 2); // 403 costs nothing
    auto stats = s.server.get_stats();
    BOOST_TEST(stats.responses_by_status[200] == 2u);
    BOOST_TEST(stats.responses_by_status[403] == 2u);
}

BOOST_AUTO_TEST_CASE(plate_markers_are_deterministic)
{
    running_server s(with_keys({}));
    const auto img = jpeg("plate=ABC123;region=tx");
    auto a = s.send(recognize(img)).body_json();
    auto b = s.send(recognize(img)).body_json();
    BOOST_TEST_REQUIRE(a.at("results").as_array().size() == 1u);
    const auto& res = a.at("results").at(0);
    BOOST_TEST(res.at("plate") == "ABC123");
    BOOST_TEST(res.at("region") == "tx");
    BOOST_TEST(res.at("requested_topn") == 10);
    BOOST_TEST(res.at("coordinates").as_array().size() == 4u);
    BOOST_TEST(a.at("img_width") == 640);
    BOOST_TEST(a.at("img_height") == 480);
    BOOST_TEST(a.at("results") == b.at("results"));
    BOOST_TEST(a.at("error") == false);
    BOOST_TEST(a.at("uuid") != b.at("uuid"));
    BOOST_TEST(a.at("version") == 3);
    BOOST_TEST(a.at("data_type") == "alpr_results");

    // Several markers, several results, in order.
    auto two = s.send(recognize(jpeg("plate=ONE1 plate=TWO2;region=ny"))).body_json();
    BOOST_TEST_REQUIRE(two.at("results").as_array().size() == 2u);
    BOOST_TEST(two.at("results").at(0).at("plate") == "ONE1");
    BOOST_TEST(two.at("results").at(1).at("plate") == "TWO2");
    BOOST_TEST(two.at("results").at(1).at("region") == "ny");

    // The region is two letters (optionally "-xx"); padding after it is not part of it.
    auto padded = s.send(recognize(jpeg("plate=PAD1;region=ca", 100))).body_json();
    BOOST_TEST(padded.at("results").at(0).at("region") == "ca");
    auto dashed = s.send(recognize(jpeg("plate=DASH1;region=us-ca;"))).body_json();
    BOOST_TEST(dashed.at("results").at(0).at("region") == "us-ca");

    // No marker: a plate derived from the hash, the same every time.
    const std::string plain = "just some bytes without a marker";
    auto x = s.send(recognize(plain)).body_json();
    auto y = s.send(recognize(plain)).body_json();
    BOOST_TEST(x.at("results") == y.at("results"));
    BOOST_TEST(x.at("results").at(0).at("plate").as_string().size() == 7u);
    BOOST_TEST(x.at("img_width") == 0);
    BOOST_TEST(!x.as_object().contains("vehicles"));
    // Without a ;region= marker the region is v3 style: country, dash, state.
    const std::string derived(x.at("results").at(0).at("region").as_string());
    BOOST_TEST(std::regex_match(derived, std::regex("us-[a-z]{2}")), derived);
    auto eu = s.send(recognize(plain, "country=eu")).body_json();
    const std::string eu_region(eu.at("results").at(0).at("region").as_string());
    BOOST_TEST(std::regex_match(eu_region, std::regex("eu-[a-z]{2}")), eu_region);
}

BOOST_AUTO_TEST_CASE(topn_gives_exactly_topn_candidates)
{
    running_server s(with_keys({}));
    for (int topn : {1, 3, 10, 1000}) {
        auto r = s.send(recognize(jpeg("plate=A"), "country=eu&topn=" + std::to_string(topn))).body_json();
        const auto& candidates = r.at("results").at(0).at("candidates").as_array();
        BOOST_TEST(candidates.size() == static_cast<std::size_t>(topn));
        BOOST_TEST(candidates.at(0).at("plate") == "A");
        std::set<std::string> distinct;
        for (const auto& c : candidates)
            distinct.insert(std::string(c.at("plate").as_string()));
        BOOST_TEST(distinct.size() == candidates.size());
    }
    auto d = s.send(recognize(jpeg("plate=DEF456"))).body_json();
    BOOST_TEST(d.at("results").at(0).at("candidates").as_array().size() == 10u);
}

BOOST_AUTO_TEST_CASE(vehicles_only_with_recognize_vehicle)
{
    running_server s(with_keys({}));
    const auto img = jpeg("plate=VEH1");
    auto without = s.send(recognize(img, "country=us&recognize_vehicle=0")).body_json();
    BOOST_TEST(!without.as_object().contains("vehicles"));
    BOOST_TEST(!without.at("results").at(0).as_object().contains("vehicle"));
    BOOST_TEST(!without.at("processing_time").as_object().contains("vehicles"));
    BOOST_TEST(without.at("processing_time").at("plates").is_double());
    BOOST_TEST(without.at("credit_cost") == 1);

    auto with = s.send(recognize(img, "country=us&recognize_vehicle=1&topn=3")).body_json();
    BOOST_TEST(with.at("credit_cost") == 2);
    BOOST_TEST(with.at("processing_time").at("vehicles").is_double());
    BOOST_TEST_REQUIRE(with.at("vehicles").as_array().size() == 1u);
    const auto& v = with.at("results").at(0).at("vehicle");
    for (const char* list : {"color", "make", "make_model", "body_type", "year", "orientation"}) {
        BOOST_TEST(v.at(list).as_array().size() == 3u, list);
        BOOST_TEST(v.at(list).at(0).as_object().contains("name"));
    }
    BOOST_TEST(with.at("vehicles").at(0).at("details") == v);
}

BOOST_AUTO_TEST_CASE(return_image_round_trip)
{
    running_server s(with_keys({}));
    const auto img = jpeg("plate=RET1", 3000);
    auto r = s.send(recognize(img, "country=us&return_image=1")).body_json();
    BOOST_TEST(b64_decode(r.at("image_bytes").as_string()) == img);
    BOOST_TEST(r.at("image_bytes_prefix") == "data:image/jpeg;base64,");

    // A PNG: dimensions from IHDR, content type sniffed.
    std::string png("\x89PNG\r\n\x1a\n\x00\x00\x00\x0DIHDR\x00\x00\x03\x20\x00\x00\x02\x58\x08\x02\x00\x00\x00", 29);
    png += "plate=PNG1";
    auto p = s.send({"POST", query("recognize_bytes", "country=us&return_image=1"), "application/json", "\"" + b64(png) + "\""})
                 .body_json();
    BOOST_TEST(p.at("img_width") == 800);
    BOOST_TEST(p.at("img_height") == 600);
    BOOST_TEST(p.at("image_bytes_prefix") == "data:image/png;base64,");
    BOOST_TEST(b64_decode(p.at("image_bytes").as_string()) == png);
    BOOST_TEST(p.at("results").at(0).at("plate") == "PNG1");
    BOOST_TEST(!s.send(recognize(img)).body_json().as_object().contains("image_bytes"));
}

BOOST_AUTO_TEST_CASE(every_upload_form_hashes_the_same_image)
{
    running_server s(with_keys({}));
    const auto img = jpeg("plate=SAME1", 70'000); // larger than the 64 KiB the mock keeps
    const auto encoded = b64(img);
    std::string escaped; // a JSON string with "\/" escapes and "\n" line breaks every 76
    for (std::size_t i = 0; i < encoded.size(); ++i) {
        if (i != 0 && i % 76 == 0)
            escaped += "\\n";
        escaped += encoded[i] == '/' ? std::string("\\/") : std::string(1, encoded[i]);
    }
    std::string wrapped; // raw base64 with MIME line breaks
    for (std::size_t i = 0; i < encoded.size(); i += 76)
        wrapped += encoded.substr(i, 76) + "\r\n";
    const std::vector<request_spec> requests{
        recognize(img),
        {"POST", query("recognize_bytes", "country=us"), "application/json", "\"" + encoded + "\""},
        {"POST", query("recognize_bytes", "country=us"), "application/json; charset=utf-8", " \"" + escaped + "\"\n"},
        {"POST", query("recognize_bytes", "country=us"), "text/plain", wrapped},
        {"POST", query("recognize_bytes", "country=us"), "application/json", encoded}, // what the live service takes
        {"POST", query("recognize_bytes", "country=us"), "application/json", "\r\n" + wrapped},
        {"POST", query("recognize_bytes", "country=us"), "", encoded},
    };
    for (const auto& r : requests) {
        auto reply = s.send(r);
        BOOST_TEST(reply.status == 200u, reply.body.substr(0, 200));
        BOOST_TEST(reply.body_json().at("results").at(0).at("plate") == "SAME1");
    }
    const auto records = s.server.requests();
    BOOST_TEST_REQUIRE(records.size() == requests.size());
    for (std::size_t i = 0; i < records.size(); ++i) {
        BOOST_TEST(records[i].image_sha256 == sha256_of(img), "request " << i);
        BOOST_TEST(records[i].image_size == img.size());
        BOOST_TEST(records[i].body_size == requests[i].body.size());
        BOOST_TEST(records[i].body_sha256 == sha256_of(requests[i].body));
        BOOST_TEST(records[i].status == 200u);
    }
    BOOST_TEST(records[0].image_field_name == "image");
    BOOST_TEST(records[0].image_filename == "car.jpg");
    BOOST_TEST(records[0].image_content_type == "image/jpeg");
    BOOST_TEST(records[1].content_type == "application/json");
}

BOOST_AUTO_TEST_CASE(multipart_parser_survives_any_split)
{
    // The image contains near-miss delimiters: CRLF-dash-dash and the boundary without CRLF.
    const std::string img = "\xFF\xD8 \r\n--" + boundary.substr(0, 10) + " --" + boundary + " \r\n-\r\n--x plate=SPLIT1";
    const std::string body = "preamble\r\n" + multipart(img, "image", "we\\\"ird.jpg") + "epilogue";
    auto parse = [&](const std::vector<std::size_t>& cuts) {
        mock::image_sink sink;
        sink.reset(true);
        mock::multipart_parser p;
        p.reset(boundary, &sink);
        std::size_t at = 0;
        for (auto cut : cuts) {
            p.write(body.data() + at, cut - at);
            at = cut;
        }
        p.write(body.data() + at, body.size() - at);
        p.finish();
        sink.finish();
        BOOST_TEST(p.error().empty(), p.error());
        BOOST_TEST(p.found_image());
        BOOST_TEST(p.image_filename() == "we\"ird.jpg");
        return sink.full();
    };
    for (std::size_t cut = 0; cut <= body.size(); ++cut)
        BOOST_TEST_REQUIRE(parse({cut}) == img, "split at " << cut);
    std::vector<std::size_t> every;
    for (std::size_t i = 1; i < body.size(); ++i)
        every.push_back(i);
    BOOST_TEST(parse(every) == img);

    // Structural errors.
    mock::image_sink sink;
    mock::multipart_parser p;
    p.reset(boundary, &sink);
    const auto unterminated = multipart(img).substr(0, 200);
    p.write(unterminated.data(), unterminated.size());
    p.finish();
    BOOST_TEST(p.error().find("image") != std::string::npos);
    BOOST_TEST(mock::multipart_boundary("multipart/form-data; boundary=\"a b\"") == "a b");
    BOOST_TEST(mock::multipart_boundary("Multipart/Form-Data;boundary=xyz;charset=utf-8") == "xyz");
    BOOST_TEST(mock::multipart_boundary("application/json").empty());
}

BOOST_AUTO_TEST_CASE(base64_decoder_survives_any_split)
{
    const std::string img = jpeg("plate=B64SPLIT", 100) + std::string("\x00\x01\xFE\xFF", 4);
    for (std::size_t drop = 0; drop < 3; ++drop) {
        const auto data = img.substr(0, img.size() - drop); // every padding length
        const auto text = "\"" + b64(data) + "\"";
        for (std::size_t cut = 0; cut <= text.size(); ++cut) {
            mock::image_sink sink;
            sink.reset(true);
            mock::base64_decoder d;
            d.reset(true, &sink);
            d.write(text.data(), cut);
            d.write(text.data() + cut, text.size() - cut);
            d.finish();
            sink.finish();
            BOOST_TEST_REQUIRE(d.error().empty(), d.error());
            BOOST_TEST_REQUIRE(sink.full() == data, "split at " << cut);
        }
    }
    // Unpadded input is accepted; a lone trailing character is not.
    for (const auto& [text, ok] : std::vector<std::pair<std::string, bool>>{{"QUJD", true}, {"QUI", true}, {"QQ", true},
                                                                             {"Q", false}, {"QQ=", false}, {"Q===", false},
                                                                             {"QQ==QQ==", false}, {"QU-D", false}}) {
        mock::image_sink sink;
        sink.reset(false);
        mock::base64_decoder d;
        d.reset(false, &sink);
        d.write(text.data(), text.size());
        d.finish();
        BOOST_TEST(d.error().empty() == ok, text);
    }
}

BOOST_AUTO_TEST_CASE(multipart_over_the_wire_in_small_pieces)
{
    running_server s(with_keys({}));
    const auto img = jpeg("plate=WIRE1", 20'000);
    const auto body = multipart(img);
    const std::string head = "POST " + query("recognize", "country=us") + " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                             "Content-Type: multipart/form-data; boundary=" + boundary + "\r\nContent-Length: " +
                             std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n";
    const auto wire = head + body;
    asio::io_context ioc;
    tcp::socket sock(ioc);
    sock.connect({asio::ip::make_address("127.0.0.1"), s.server.http_port()});
    sock.set_option(tcp::no_delay(true));
    // Uneven pieces, small around the closing delimiter so it spans several reads.
    std::size_t at = 0, piece = 1;
    while (at < wire.size()) {
        const auto n = std::min(wire.size() - at, at + 400 > wire.size() ? std::size_t{3} : piece);
        asio::write(sock, asio::buffer(wire.data() + at, n));
        at += n;
        piece = piece % 4093 + 7;
    }
    beast::flat_buffer buffer;
    http::response<http::string_body> res;
    http::read(sock, buffer, res);
    BOOST_TEST(res.result_int() == 200u);
    BOOST_TEST(res.body().find("WIRE1") != std::string::npos);
    BOOST_TEST(s.server.requests().back().image_sha256 == sha256_of(img));
}

BOOST_AUTO_TEST_CASE(replies_match_the_spec_schemas)
{
    spec_checker spec;
    running_server s(with_keys({{.key = "test-key"}, {.key = "poor", .monthly_credits = 0},
                                {.key = "busy", .rate_limit = 1, .window = std::chrono::seconds(4'000'000'000)}}));
    auto cfg = s.send({"GET", "/v3/config", "", ""});
    BOOST_TEST_REQUIRE(cfg.status == 200u);
    spec.check("/config", "get", 200, cfg.body_json(), {});
    bool has_us = false;
    const auto config = cfg.body_json();
    for (const auto& c : config.at("countries").as_array())
        has_us = has_us || c.at("code") == "us";
    BOOST_TEST(has_us);

    // Numbers as the live service writes them: plain decimals, never 9.698E1 or 0E0.
    auto plain_numbers = [](const reply& r) {
        BOOST_TEST(exponent_number(r.body).empty(), "exponent form: " << exponent_number(r.body));
    };
    plain_numbers(cfg);

    const auto img = jpeg("plate=SCHEMA1 plate=SCHEMA2");
    const std::vector<std::pair<std::string, request_spec>> ok{
        {"/recognize", recognize(img, "country=us&recognize_vehicle=1&return_image=1&topn=5&is_cropped=1")},
        {"/recognize", recognize(img, "country=eu")},
        {"/recognize", recognize(img, "country=us&topn=1000")},
        {"/recognize_bytes", {"POST", query("recognize_bytes", "country=au&recognize_vehicle=1"), "application/json", "\"" + b64(img) + "\""}},
        {"/recognize_bytes", {"POST", query("recognize_bytes", "country=us"), "application/json", b64(img)}},
    };
    for (const auto& [path, request] : ok) {
        auto r = s.send(request);
        BOOST_TEST_REQUIRE(r.status == 200u);
        spec.check(path, "post", 200, r.body_json(), r.headers);
        plain_numbers(r);
        BOOST_TEST(r.headers[http::field::content_type] == "application/json; charset=\"utf-8\"");
        BOOST_TEST(r.body_json().at("version") == 3);
    }
    const std::vector<std::pair<unsigned, request_spec>> refused{
        {400, recognize(img, "country=us&topn=0")},
        {401, recognize(img, "country=us", "nobody")},
        {402, recognize(img, "country=us", "poor")},
        {403, recognize(img, "country=us", "busy")},
    };
    BOOST_TEST_REQUIRE(s.send(recognize(img, "country=us", "busy")).status == 200u); // spends the window of 1
    for (const auto& [status, request] : refused) {
        auto r = s.send(request);
        BOOST_TEST_REQUIRE(r.status == status);
        spec.check("/recognize", "post", status, r.body_json(), {});
        plain_numbers(r);
        BOOST_TEST(r.body_json().at("error_code") == status);
    }
    BOOST_TEST(s.server.get_stats().responses_by_status[403] == 1u);
    BOOST_TEST(spec.checked_ > 200u);

    // The checker itself: it finds what Boost.JSON's serializer writes.
    BOOST_TEST(exponent_number(R"({"a":"9E1","b":[true,false,null],"c":9.698E1})") == "9.698E1");
    BOOST_TEST(exponent_number(json::serialize(json::value(0.0))) == "0E0");
    BOOST_TEST(exponent_number(R"({"a":94.0910949707031,"b":"1e5","c":0.0})").empty());
}

BOOST_AUTO_TEST_CASE(body_above_the_limit_is_413_with_a_json_body)
{
    mock::server_options o = with_keys({});
    o.max_body_bytes = 4096;
    running_server s(o);
    const auto big = jpeg("plate=BIG1", 20'000);
    for (const auto& request : {recognize(big), request_spec{"POST", query("recognize_bytes", "country=us"),
                                                             "application/json", b64(big)}}) {
        auto r = s.send(request);
        BOOST_TEST(r.status == 413u);
        BOOST_TEST(r.body_json().at("error_code") == 413);
        BOOST_TEST(r.error_text() == "request body larger than the limit of 4096 bytes");
        BOOST_TEST(r.headers[http::field::connection] == "close");
        BOOST_TEST(r.headers[http::field::content_type] == "application/json; charset=\"utf-8\"");
        // Answered from the header: the body was never read, nothing was charged.
        BOOST_TEST(s.server.requests().back().status == 413u);
        BOOST_TEST(s.server.requests().back().body_size == 0u);
    }
    BOOST_TEST(s.server.credits_used("test-key") == 0);
    // At the limit it is accepted.
    const auto fits = jpeg("plate=FIT1", 4096 - multipart("").size() - jpeg("plate=FIT1").size());
    BOOST_TEST(multipart(fits).size() == 4096u);
    BOOST_TEST(s.send(recognize(fits)).status == 200u);
}

BOOST_AUTO_TEST_CASE(recognize_url_fetches_from_loopback)
{
    running_server s(with_keys({}));
    const auto img = jpeg("plate=URL1");
    asio::io_context side;
    tcp::acceptor acceptor(side, {asio::ip::make_address("127.0.0.1"), 0});
    std::thread image_server([&] {
        tcp::socket sock(side);
        acceptor.accept(sock);
        beast::flat_buffer buffer;
        http::request<http::string_body> req;
        http::read(sock, buffer, req);
        http::response<http::string_body> res{http::status::ok, 11};
        res.set(http::field::content_type, "image/jpeg");
        res.body() = req.target() == "/car.jpg?x=1" ? img : "";
        res.prepare_payload();
        http::write(sock, res);
    });
    const std::string url = "http://127.0.0.1:" + std::to_string(acceptor.local_endpoint().port()) + "/car.jpg?x=1";
    auto r = s.send({"POST", query("recognize_url", "country=us&image_url=" + url.substr(0, url.find('?')) + "%3Fx%3D1"), "", ""});
    image_server.join();
    BOOST_TEST_REQUIRE(r.status == 200u, r.body);
    BOOST_TEST(r.body_json().at("results").at(0).at("plate") == "URL1");
    const auto rec = s.server.requests().back();
    BOOST_TEST(rec.query.at("image_url") == url);
    BOOST_TEST(rec.image_sha256 == sha256_of(img));
}

BOOST_AUTO_TEST_CASE(faults_on_the_wire)
{
    mock::server_options o = with_keys({});
    o.huge_reply_bytes = 3u << 20;
    o.slow_delay = std::chrono::milliseconds(20);
    running_server s(o);
    const auto img = jpeg("plate=FAULT1");
    auto with = [&](mock::fault f) {
        s.server.inject(f);
        auto r = s.send(recognize(img));
        BOOST_TEST(s.server.requests().back().applied == f);
        return r;
    };
    BOOST_TEST(with(mock::fault::status_500).status == 500u);
    BOOST_TEST(with(mock::fault::status_502).status == 502u);
    BOOST_TEST(with(mock::fault::status_503).status == 503u);
    auto empty = with(mock::fault::status_500_empty);
    BOOST_TEST(empty.status == 500u);
    BOOST_TEST(empty.body.empty());
    auto html = with(mock::fault::html_200);
    BOOST_TEST(html.status == 200u);
    BOOST_TEST(html.body.find("<html") != std::string::npos);
    auto text = with(mock::fault::non_json_body);
    BOOST_TEST(text.status == 200u);
    boost::system::error_code tec;
    (void)json::parse(text.body, tec);
    BOOST_TEST(tec.failed());
    auto malformed = with(mock::fault::malformed_json);
    BOOST_TEST(malformed.status == 200u);
    boost::system::error_code jec;
    (void)json::parse(malformed.body, jec);
    BOOST_TEST(jec.failed());
    for (auto f : {mock::fault::close_before_response, mock::fault::close_mid_headers, mock::fault::close_mid_body,
                   mock::fault::truncated_body, mock::fault::chunked_truncated, mock::fault::reset_during_request})
        BOOST_TEST(with(f).error.failed(), mock::to_string(f));
    auto wrong = with(mock::fault::wrong_content_length);
    (void)json::parse(wrong.body, jec);
    BOOST_TEST((wrong.error.failed() || jec.failed()));
    for (auto f : {mock::fault::slow_headers, mock::fault::slow_body}) {
        auto r = with(f);
        BOOST_TEST(r.status == 200u);
        BOOST_TEST(r.body_json().at("results").at(0).at("plate") == "FAULT1", mock::to_string(f));
    }
    auto huge = with(mock::fault::huge_reply);
    BOOST_TEST(huge.status == 200u);
    BOOST_TEST(huge.body.size() == o.huge_reply_bytes);
    BOOST_TEST(huge.body_json().at("results").as_array().size() > 1000u);
    // A healthy request after all that.
    BOOST_TEST(s.send(recognize(img)).status == 200u);
    auto stats = s.server.get_stats();
    BOOST_TEST(stats.faults_injected == 17u);
    BOOST_TEST(stats.responses_by_status[500] == 2u);
}

BOOST_AUTO_TEST_CASE(stall_lasts_until_stop)
{
    running_server s(with_keys({}));
    s.server.inject(mock::fault::stall);
    asio::io_context ioc;
    tcp::socket sock(ioc);
    sock.connect({asio::ip::make_address("127.0.0.1"), s.server.http_port()});
    reply r;
    std::thread client([&] { r = exchange_on(sock, recognize(jpeg("plate=STALL1"))); });
    // The request is recorded before the mock decides to stall; then stopping ends it.
    while (s.server.requests().empty())
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    s.server.stop();
    client.join();
    BOOST_TEST(r.error.failed());
    BOOST_TEST(s.server.requests().back().applied == mock::fault::stall);
}

BOOST_AUTO_TEST_CASE(keep_alive_and_max_requests_per_connection)
{
    mock::server_options o = with_keys({});
    o.max_requests_per_connection = 3;
    running_server s(o);
    asio::io_context ioc;
    tcp::socket sock(ioc);
    sock.connect({asio::ip::make_address("127.0.0.1"), s.server.http_port()});
    for (int i = 1; i <= 3; ++i) {
        auto r = exchange_on(sock, {"GET", "/v3/config", "", ""}, true);
        BOOST_TEST(r.status == 200u);
        BOOST_TEST((r.headers[http::field::connection] == "close") == (i == 3), "request " << i);
    }
    char byte;
    boost::system::error_code ec;
    sock.read_some(asio::buffer(&byte, 1), ec);
    BOOST_TEST(ec == asio::error::eof);
    BOOST_TEST(s.server.get_stats().connections_accepted == 1u);
    BOOST_TEST(s.server.get_stats().requests == 3u);
}

BOOST_AUTO_TEST_CASE(tls_with_resumption)
{
    mock::server_options o;
    o.enable_http = false;
    running_server s(o);
    BOOST_TEST(s.server.http_port() == 0u);
    ssl::context ctx(ssl::context::tls_client);
    ctx.add_certificate_authority(asio::buffer(s.server.certificate_pem()));
    ctx.set_verify_mode(ssl::verify_peer);
    SSL_CTX_set_session_cache_mode(ctx.native_handle(), SSL_SESS_CACHE_CLIENT);
    SSL_SESSION* session = nullptr;
    for (int i = 0; i < 3; ++i) {
        asio::io_context ioc;
        ssl::stream<tcp::socket> stream(ioc, ctx);
        stream.set_verify_callback(ssl::host_name_verification("localhost"));
        SSL_set_tlsext_host_name(stream.native_handle(), "localhost");
        if (session)
            SSL_set_session(stream.native_handle(), session);
        stream.next_layer().connect({asio::ip::make_address("127.0.0.1"), s.server.https_port()});
        stream.handshake(ssl::stream_base::client);
        auto r = exchange_on(stream, recognize(jpeg("plate=TLS1")));
        BOOST_TEST(r.status == 200u);
        BOOST_TEST(r.body_json().at("results").at(0).at("plate") == "TLS1");
        if (session)
            SSL_SESSION_free(session);
        session = SSL_get1_session(stream.native_handle()); // TLS 1.3 tickets arrived with the reply
        // A clean shutdown: OpenSSL marks the session of an unclean one not resumable.
        boost::system::error_code ignored;
        stream.shutdown(ignored);
    }
    SSL_SESSION_free(session);
    auto stats = s.server.get_stats();
    BOOST_TEST(stats.tls_handshakes == 3u);
    BOOST_TEST(stats.tls_resumed >= 1u);
    BOOST_TEST(stats.connections_accepted == 3u);
}

BOOST_AUTO_TEST_CASE(refuses_non_loopback_bind)
{
    mock::server_options o;
    o.bind_address = "0.0.0.0";
    mock::server s(o);
    BOOST_CHECK_THROW(s.start(), std::exception);
}

BOOST_AUTO_TEST_CASE(executable_prints_its_ports)
{
    int out[2];
    BOOST_TEST_REQUIRE(::pipe(out) == 0);
    const pid_t pid = ::fork();
    BOOST_TEST_REQUIRE(pid >= 0);
    if (pid == 0) {
        ::dup2(out[1], STDOUT_FILENO);
        ::close(out[0]);
        ::close(out[1]);
        ::execl(CARCHECK_MOCK_EXECUTABLE, CARCHECK_MOCK_EXECUTABLE, "--http-port", "0", "--https-port", "0", "--key",
                "exe-key:5:0:60", "--quiet", static_cast<char*>(nullptr));
        ::_exit(127);
    }
    ::close(out[1]);
    std::string line;
    char c;
    while (::read(out[0], &c, 1) == 1 && c != '\n')
        line += c;
    std::smatch m;
    const bool matched = std::regex_match(line, m, std::regex("carcheck-mock listening http=([0-9]+) https=([0-9]+)"));
    BOOST_TEST(matched, line);
    if (matched) {
        const auto port = static_cast<unsigned short>(std::stoi(m[1]));
        BOOST_TEST(port != 0u);
        BOOST_TEST(std::stoi(m[2]) != 0);
        BOOST_TEST(exchange(port, recognize(jpeg("plate=EXE1"), "country=us", "exe-key")).status == 200u);
        BOOST_TEST(exchange(port, recognize(jpeg("plate=EXE1"), "country=us", "test-key")).status == 401u);
    }
    ::kill(pid, SIGTERM);
    int status = 0;
    ::waitpid(pid, &status, 0);
    ::close(out[0]);
    BOOST_TEST(WIFEXITED(status));
    BOOST_TEST(WEXITSTATUS(status) == 0);
}

BOOST_AUTO_TEST_CASE(latency_delays_recognitions_concurrently_on_a_timer)
{
    // One server thread: a blocking delay would serialise the 20 requests (>= 4 s).
    auto o = with_keys({{.key = "test-key"}, {.key = "none-left", .monthly_credits = 0}});
    o.latency = std::chrono::milliseconds(200);
    o.threads = 1;
    running_server s(std::move(o));
    const auto img = jpeg("plate=SLOW1");
    std::vector<unsigned> statuses(20);
    std::vector<double> seconds(20);
    const auto start = std::chrono::steady_clock::now();
    {
        std::vector<std::thread> clients;
        for (std::size_t i = 0; i < statuses.size(); ++i)
            clients.emplace_back([&, i] {
                const auto t0 = std::chrono::steady_clock::now();
                statuses[i] = s.send(recognize(img)).status;
                seconds[i] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            });
        for (auto& t : clients)
            t.join();
    }
    const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    for (std::size_t i = 0; i < statuses.size(); ++i) {
        BOOST_TEST(statuses[i] == 200u);
        BOOST_TEST(seconds[i] >= 0.195, "request " << i << " answered after " << seconds[i] << " s");
    }
    BOOST_TEST(total >= 0.195);
    BOOST_TEST(total < 1.5, "20 concurrent recognitions took " << total << " s (serialised: 4 s)");

    // /config and refusals are not processing: answered at once.
    const auto t0 = std::chrono::steady_clock::now();
    BOOST_TEST(s.send({"GET", query("config", ""), "", ""}).status == 200u);
    BOOST_TEST(s.send(recognize(img, "country=us", "none-left")).status == 402u);
    const double quick = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    BOOST_TEST(quick < 0.19, "/config and a 402 took " << quick << " s");
}

BOOST_AUTO_TEST_CASE(latency_jitter_spreads_the_processing_time)
{
    auto o = with_keys({{.key = "test-key"}});
    o.latency = std::chrono::milliseconds(150);
    o.latency_jitter = std::chrono::milliseconds(100);
    running_server s(std::move(o));
    const auto img = jpeg("plate=SLOW2");
    double low = 1e9, high = 0;
    for (int i = 0; i < 8; ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        BOOST_TEST(s.send(recognize(img)).status == 200u);
        const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        low = std::min(low, t);
        high = std::max(high, t);
    }
    BOOST_TEST(low >= 0.045, "shortest " << low << " s (at least 50 ms)");
    BOOST_TEST(high - low > 0.02, "8 draws in 50..250 ms all within 20 ms: " << low << ".." << high);
}

BOOST_AUTO_TEST_SUITE_END()
