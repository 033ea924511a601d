// The fault matrix: every fault the mock can inject, over TLS and plain HTTP, ends in its
// documented outcome (README, "Fault matrix"), and the same client serves the next request.
#include "support/loopback.hpp"
#include "support/mock_fixture.hpp"

#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>

#include <memory>
#include <thread>

using namespace carcheck_test;
namespace mock = carcheck::mock;
namespace data = boost::unit_test::data;

namespace {

struct fault_case {
    mock::fault fault;
    carcheck::error_code expected; ///< empty: success (after a safe retry)
    unsigned http_status = 0;      ///< expected diagnostics().http_status, 0 = none
};

std::ostream& operator<<(std::ostream& os, const fault_case& c)
{
    return os << c.fault;
}

using carcheck::error;

const fault_case matrix[] = {
    {mock::fault::close_before_response, error::connection_closed},
    {mock::fault::close_mid_headers, error::bad_response},
    {mock::fault::close_mid_body, error::bad_response},
    {mock::fault::truncated_body, error::bad_response},
    {mock::fault::wrong_content_length, error::bad_response},
    {mock::fault::chunked_truncated, error::bad_response},
    {mock::fault::malformed_json, error::bad_response, 200},
    {mock::fault::non_json_body, error::bad_response, 200},
    {mock::fault::html_200, error::bad_response, 200},
    {mock::fault::status_500, error::unexpected_status, 500},
    {mock::fault::status_502, error::unexpected_status, 502},
    {mock::fault::status_503, error::unexpected_status, 503},
    {mock::fault::status_500_empty, error::unexpected_status, 500},
    {mock::fault::slow_headers, error::timeout},
    {mock::fault::slow_body, error::timeout},
    {mock::fault::stall, error::timeout},
    {mock::fault::huge_reply, error::response_too_large},
    {mock::fault::reset_during_request, {}},
    {mock::fault::close_delimited, {}}, // a whole reply: read, not an error
};

mock::server_options matrix_server()
{
    auto o = default_mock_options();
    o.slow_delay = std::chrono::milliseconds(3000);
    o.huge_reply_bytes = 8u << 20;
    return o;
}

carcheck::client_options matrix_client(const mock_fixture& f, bool tls)
{
    auto o = f.options(tls);
    o.timeouts.request = std::chrono::milliseconds(700);
    o.max_response_bytes = 1u << 20;
    return o;
}

void check_fault(bool tls, const fault_case& c)
{
    mock_fixture f(matrix_server());
    auto co = matrix_client(f, tls);
    if (c.fault == mock::fault::reset_during_request)
        co.timeouts.request = std::chrono::seconds(120); // the resent 32 MB upload must not time out
    carcheck::client client(f.ioc.get_executor(), co);
    // The reset has to hit a body still in flight: make it larger than the socket buffers.
    auto image = c.fault == mock::fault::reset_during_request ? f.image("FAULT1", 32u << 20) : f.image("FAULT1");
    const carcheck::recognize_options opts;

    BOOST_TEST(f.run(client.recognize_file(image, opts)).results.size() == 1u); // warm connection
    f.server.inject(c.fault);
    carcheck::diagnostics diag;
    const auto started = std::chrono::steady_clock::now();
    auto [ec, r] = f.run(client.recognize_file(image, opts, diag, asio::as_tuple(asio::deferred)));
    const auto took = std::chrono::steady_clock::now() - started;

    BOOST_TEST(ec == c.expected, c.fault << ": got " << ec.message() << " / " << diag.describe(ec));
    if (c.http_status)
        BOOST_TEST(diag.http_status == c.http_status);
    if (ec)
        BOOST_TEST(!diag.describe(ec).empty());
    else
        BOOST_TEST(r.results.size() == 1u);
    BOOST_TEST(diag.describe(ec).find("test-key") == std::string::npos);
    // Well within the deadline (generous: machines are noisy; a hang fails run() itself).
    BOOST_TEST(took < std::chrono::seconds(30));

    // The pool still serves: the broken connection was discarded, not reused.
    BOOST_TEST(f.run(client.recognize_file(f.image("AFTER1"), opts)).results.size() == 1u);
    BOOST_TEST(f.run(client.recognize_file(f.image("AFTER2"), opts)).results[0].plate == "AFTER2");
    // A broken exchange closes its connection; a complete reply with a bad status or
    // body leaves a healthy connection that may be reused.
    if (ec && c.http_status == 0)
        BOOST_TEST(client.connection_counters().discarded >= 1u);
}

} // namespace

BOOST_AUTO_TEST_SUITE(fault_matrix_test)

BOOST_DATA_TEST_CASE(over_tls, data::make(matrix), c)
{
    check_fault(true, c);
}

BOOST_DATA_TEST_CASE(over_plain_http, data::make(matrix), c)
{
    check_fault(false, c);
}

BOOST_AUTO_TEST_CASE(connection_refused)
{
    mock_fixture f;
    // A port that was free a moment ago: bind, read the port, close.
    asio::ip::tcp::acceptor probe(f.ioc, {asio::ip::make_address("127.0.0.1"), 0});
    const auto port = probe.local_endpoint().port();
    probe.close();
    auto o = f.options(false);
    o.endpoint = "http://127.0.0.1:" + std::to_string(port) + "/v3";
    carcheck::client client(f.ioc.get_executor(), o);
    carcheck::diagnostics diag;
    const carcheck::recognize_options opts;
    auto [ec, r] = f.run(client.recognize_file(f.image("REFUSED"), opts, diag, asio::as_tuple(asio::deferred)));
    BOOST_TEST(ec == asio::error::connection_refused);
    BOOST_TEST(diag.describe(ec).find(std::to_string(port)) != std::string::npos);
    // Connecting is safe to repeat: the scheduler retried before reporting.
    BOOST_TEST(diag.attempts == 3u);
}

BOOST_AUTO_TEST_CASE(tls_certificates_that_must_be_refused)
{
    struct variant {
        const char* what;
        std::function<void(mock::server_options&)> server;
        bool trust_mock_ca;
    };
    const variant variants[] = {
        {"self-signed, not trusted", [](mock::server_options&) {}, false},
        {"expired", [](mock::server_options& o) { o.expired_certificate = true; }, true},
        {"for another host name", [](mock::server_options& o) { o.tls_hostname = "api.example.org"; }, true},
    };
    for (const auto& v : variants) {
        BOOST_TEST_CONTEXT(v.what)
        {
            auto so = default_mock_options();
            v.server(so);
            mock_fixture f(so);
            auto o = f.options(true);
            if (!v.trust_mock_ca)
                o.tls.ca_pem.clear();
            carcheck::client client(f.ioc.get_executor(), o);
            carcheck::diagnostics diag;
            const carcheck::recognize_options opts;
            auto [ec, r] = f.run(client.recognize_file(f.image("TLS1"), opts, diag, asio::as_tuple(asio::deferred)));
            BOOST_TEST(ec.failed());
            const std::string text = diag.describe(ec);
            BOOST_TEST(text.find("certificate") != std::string::npos, text);
            BOOST_TEST(text.find("certificate verif") == text.rfind("certificate verif"), text); // said once
            BOOST_TEST(carcheck::is_certificate_verification_failure(ec), ec.message());
            BOOST_TEST(diag.attempts == 1u); // deterministic: never retried
            BOOST_TEST(client.connection_counters().handshake_errors == 1u);
            BOOST_TEST(f.server.get_stats().requests == 0u); // nothing reached the server
        }
    }
}

BOOST_AUTO_TEST_CASE(tls_handshake_that_never_completes)
{
    mock_fixture f;
    // A listener that accepts and then says nothing at all.
    asio::io_context silent_ioc;
    silent_listener silent(silent_ioc);
    std::thread silent_thread([&] { silent_ioc.run_for(std::chrono::seconds(60)); });

    auto o = f.options(true);
    o.endpoint = "https://127.0.0.1:" + std::to_string(silent.port()) + "/v3";
    o.timeouts.connect = std::chrono::milliseconds(300); // covers the handshake
    carcheck::client client(f.ioc.get_executor(), o);
    carcheck::diagnostics diag;
    const carcheck::recognize_options opts;
    auto [ec, r] = f.run(client.recognize_file(f.image("HS1"), opts, diag, asio::as_tuple(asio::deferred)));
    BOOST_TEST(ec == carcheck::error::timeout);
    BOOST_TEST(diag.describe(ec).find("handshake") != std::string::npos, diag.describe(ec));
    silent_ioc.stop();
    silent_thread.join();
}

BOOST_AUTO_TEST_SUITE_END()
