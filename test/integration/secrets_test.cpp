// The secret key: sent only as the secret_key query parameter to the configured endpoint,
// and never part of any message, exception text or diagnostics, on every error path.
#include "support/connect_proxy.hpp"
#include "support/loopback.hpp"
#include "support/mock_fixture.hpp"

#include <thread>

#include <boost/url/encode.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>

using namespace carcheck_test;
namespace mock = carcheck::mock;

namespace {

const std::string key = "Sk_9f+/=&%0D%0Ax y\xc3\xa9-s3cr3t";

/// The forms in which a leaked key could show up.
std::vector<std::string> key_forms()
{
    return {key, "s3cr3t", "Sk_9f", boost::urls::encode(key, boost::urls::unreserved_chars)};
}

void check_clean(const std::string& text, const std::string& where)
{
    for (const auto& form : key_forms())
        BOOST_TEST(text.find(form) == std::string::npos, "the secret key leaked into " << where);
}

} // namespace

BOOST_AUTO_TEST_SUITE(secrets_test)

BOOST_AUTO_TEST_CASE(no_error_path_reveals_the_key)
{
    auto so = default_mock_options();
    so.keys.push_back(mock::key_config{.key = key, .monthly_credits = 1'000'000});
    so.slow_delay = std::chrono::milliseconds(2000);
    so.huge_reply_bytes = 4u << 20;
    std::mutex log_mutex;
    std::vector<mock::server::request_record> seen;
    mock_fixture f(so, [&](mock::server& s) {
        s.set_request_logger([&](const mock::server::request_record& r) {
            std::lock_guard lock(log_mutex);
            seen.push_back(r);
        });
    });
    auto o = f.options(true);
    o.secret_key = key;
    o.timeouts.request = std::chrono::milliseconds(500);
    o.max_response_bytes = 1u << 20;
    carcheck::client c(f.ioc.get_executor(), o);
    const auto image = f.image("SECRET1");
    const carcheck::recognize_options opts;

    auto check_op = [&](const std::string& what, auto make_op) {
        carcheck::diagnostics diag;
        auto [ec, r] = f.run(make_op(diag));
        check_clean(ec.message(), what + ": error message");
        check_clean(diag.describe(ec), what + ": diagnostics");
        check_clean(diag.server_message, what + ": server message");
        check_clean(diag.client_message, what + ": client message");
        check_clean(carcheck::api_error(ec, diag).what(), what + ": api_error");
        return ec;
    };
    auto file_op = [&](carcheck::diagnostics& d) { return c.recognize_file(image, opts, d, asio::as_tuple(asio::deferred)); };

    // Every fault the server can inject.
    for (auto fault : {mock::fault::close_before_response, mock::fault::close_mid_headers, mock::fault::close_mid_body,
                       mock::fault::truncated_body, mock::fault::malformed_json, mock::fault::non_json_body,
                       mock::fault::html_200, mock::fault::status_500, mock::fault::status_502,
                       mock::fault::status_503, mock::fault::status_500_empty, mock::fault::slow_headers,
                       mock::fault::huge_reply, mock::fault::chunked_truncated, mock::fault::wrong_content_length}) {
        f.server.inject(fault);
        BOOST_TEST(check_op(mock::to_string(fault), file_op).failed());
    }
    // Invalid arguments: the key is in the target the client would have built.
    carcheck::recognize_options bad;
    bad.topn = 0;
    BOOST_TEST(check_op("invalid topn", [&](carcheck::diagnostics& d) {
                   return c.recognize_file(image, bad, d, asio::as_tuple(asio::deferred));
               }) == carcheck::error::invalid_argument);
    BOOST_TEST(check_op("bad url", [&](carcheck::diagnostics& d) {
                   return c.recognize_url("http://127.0.0.1:1/\r\nX: y", opts, d, asio::as_tuple(asio::deferred));
               }).failed());
    // Server-side refusals: a key that differs (401, whose reply may echo the key), 400.
    {
        auto other = o;
        other.secret_key = key + "-unknown";
        carcheck::client wrong(f.ioc.get_executor(), other);
        BOOST_TEST(check_op("401", [&](carcheck::diagnostics& d) {
                       return wrong.recognize_file(image, opts, d, asio::as_tuple(asio::deferred));
                   }) == carcheck::error::invalid_secret_key);
    }
    // with_diagnostics: the exception's text.
    try {
        f.server.inject(mock::fault::status_502);
        (void)f.run(c.recognize_file(image, opts, carcheck::with_diagnostics(asio::deferred)));
        BOOST_FAIL("expected api_error");
    } catch (const carcheck::api_error& e) {
        check_clean(e.what(), "thrown api_error");
    }

    // On the wire: only the secret_key parameter carries it, and only to this server.
    f.server.stop();
    std::lock_guard lock(log_mutex);
    BOOST_TEST(!seen.empty());
    for (const auto& r : seen) {
        check_clean(r.path, "the request path");
        for (const auto& [name, value] : r.query)
            if (name != "secret_key")
                check_clean(value, "query parameter " + name);
    }
    BOOST_TEST(seen.front().query.at("secret_key") == key);
}

BOOST_AUTO_TEST_CASE(no_error_path_reveals_the_proxy_password)
{
    // user "proxy-user", password "Pw_s3cr3t:@/x" (percent-encoded in the URL).
    const std::string encoded = "Pw_s3cr3t%3A%40%2Fx";
    const std::vector<std::string> forms = {"Pw_s3cr3t", encoded, "s3cr3t", "proxy-user",
                                            "cHJveHktdXNlcjpQd19zM2NyM3Q6QC94" /* base64 of the credentials */};
    auto clean = [&](const std::string& text, const std::string& where) {
        for (const auto& form : forms)
            BOOST_TEST(text.find(form) == std::string::npos, "the proxy password leaked into " << where << ": " << text);
    };
    mock_fixture f;
    const carcheck::recognize_options opts;
    const auto image = f.image("PROXYSECRET1");
    auto with_proxy = [&](unsigned short port) {
        auto o = f.options(true);
        o.proxy = "http://proxy-user:" + encoded + "@127.0.0.1:" + std::to_string(port);
        o.timeouts.connect = std::chrono::milliseconds(300);
        return o;
    };
    auto check = [&](const std::string& what, carcheck::client& c) {
        carcheck::diagnostics diag;
        auto [ec, r] = f.run(c.recognize_file(image, opts, diag, asio::as_tuple(asio::deferred)));
        BOOST_TEST(ec.failed(), what);
        clean(ec.message(), what + ": error message");
        clean(diag.describe(ec), what + ": diagnostics");
        clean(carcheck::api_error(ec, diag).what(), what + ": api_error");
        return ec;
    };
    {
        carcheck_test::connect_proxy proxy({.required_authorization = "Basic c29tZW9uZTplbHNl"});
        carcheck::client c(f.ioc.get_executor(), with_proxy(proxy.port()));
        BOOST_TEST(check("407", c) == carcheck::error::proxy_auth_required);
        // What the proxy saw is the Basic credentials, as it must.
        BOOST_TEST(proxy.heads().find("Proxy-Authorization: Basic cHJveHktdXNlcjpQd19zM2NyM3Q6QC94") != std::string::npos);
    }
    {
        carcheck_test::connect_proxy proxy({.refuse_status = 403});
        carcheck::client c(f.ioc.get_executor(), with_proxy(proxy.port()));
        BOOST_TEST(check("403", c) == carcheck::error::proxy_refused);
    }
    {
        asio::io_context silent_ioc;
        silent_listener silent(silent_ioc);
        std::thread t([&] { silent_ioc.run_for(std::chrono::seconds(30)); });
        carcheck::client c(f.ioc.get_executor(), with_proxy(silent.port()));
        BOOST_TEST(check("proxy silent", c) == carcheck::error::timeout);
        silent_ioc.stop();
        t.join();
    }
    {
        unsigned short closed;
        {
            asio::io_context ioc;
            asio::ip::tcp::acceptor a(ioc, {asio::ip::make_address("127.0.0.1"), 0});
            closed = a.local_endpoint().port();
        }
        carcheck::client c(f.ioc.get_executor(), with_proxy(closed));
        BOOST_TEST(check("proxy down", c) == asio::error::connection_refused);
    }
    // Unusable URLs: the constructor's exception never repeats the URL.
    for (const std::string& url : {"socks5://proxy-user:" + encoded + "@127.0.0.1:1080",
                                  "http://proxy-user:" + encoded + "@127.0.0.1:99999",
                                  "http://proxy-user:" + encoded + "@127.0.0.1:1/p",
                                  "http://proxy-user:" + encoded + "@",
                                  std::string("http://proxy-user:Pw_s3cr3t:@/x@127.0.0.1 :1")}) {
        auto o = f.options(true);
        o.proxy = url;
        try {
            carcheck::client c(f.ioc.get_executor(), o);
            BOOST_TEST(false, "accepted a bad proxy URL");
        } catch (const carcheck::api_error& e) {
            clean(e.what(), "the constructor's exception");
        }
    }
}

BOOST_AUTO_TEST_SUITE_END()
