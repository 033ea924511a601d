// Timeouts on slow links: a large upload through a bandwidth-limited loopback forwarder keeps
// moving and succeeds under a short stall timeout with no total deadline; a server that stops
// reading mid-upload, or never answers a request, fails with error::timeout soon after the
// stall time; a total deadline, when set, still ends a slow-but-moving transfer; the CLI's
// --stall-timeout does the same per input.
#include "support/loopback.hpp"
#include "support/mock_fixture.hpp"
#include "support/process.hpp"
#include "support/throttled_forwarder.hpp"

#include <boost/json.hpp>

#include <cstdlib>
#include <optional>
#include <sstream>

using namespace carcheck_test;
using namespace std::chrono_literals;
namespace mock = carcheck::mock;

namespace {

constexpr double link_rate = 4e6; // bytes per second, each direction

/// Size of the large upload in MB: 40, fewer under the sanitizers (CARCHECK_SLOW_LINK_MB,
/// set by test/CMakeLists.txt), where the TLS work of 40 MB takes most of the time.
std::uint64_t large_upload_bytes()
{
    const char* mb = std::getenv("CARCHECK_SLOW_LINK_MB");
    const unsigned long n = mb ? std::strtoul(mb, nullptr, 10) : 0;
    return (n ? n : 40ul) * 1'000'000ull;
}

/// An image of `size` bytes: the JPEG-shaped head with `plate`, then a hole (reads as zeros).
fs::path sparse_image(const fs::path& p, const std::string& plate, std::uint64_t size)
{
    write_file(p, image_bytes(plate));
    fs::resize_file(p, size);
    return p;
}

/// Client options for an endpoint reached through `port` (the forwarder or a sink).
carcheck::client_options via_port(const mock_fixture& f, bool tls, unsigned short port)
{
    auto o = f.options(tls);
    o.endpoint = std::string(tls ? "https" : "http") + "://127.0.0.1:" + std::to_string(port) + "/v3";
    o.timeouts.stall = 2s;
    o.timeouts.request = 0ms;
    return o;
}

double seconds(std::chrono::steady_clock::duration d)
{
    return std::chrono::duration<double>(d).count();
}

struct outcome {
    carcheck::error_code ec;
    carcheck::diagnostics diag;
    double took = 0;
};

outcome upload(mock_fixture& f, carcheck::client& client, const fs::path& image)
{
    outcome o;
    const carcheck::recognize_options opts;
    const auto started = std::chrono::steady_clock::now();
    auto [ec, r] = f.run(client.recognize_file(image, opts, o.diag, asio::as_tuple(asio::deferred)));
    o.took = seconds(std::chrono::steady_clock::now() - started);
    o.ec = ec;
    return o;
}

/// A stalled exchange: error::timeout, after more than the stall time and well before a
/// second one (bounds generous: machines are noisy), with the phase in the message.
void check_stalled(const outcome& o, const std::string& phase)
{
    const std::string text = o.diag.describe(o.ec);
    BOOST_TEST(o.ec == carcheck::error::timeout, o.ec.message() << " / " << text);
    BOOST_TEST(text.find("no byte moved for 2 s while " + phase) != std::string::npos, text);
    BOOST_TEST(o.took > 2.0, o.took);
    BOOST_TEST(o.took < 5.0, o.took);
    BOOST_TEST(o.diag.attempts == 1u); // a timeout may have been processed: never resent
    BOOST_TEST(text.find("test-key") == std::string::npos);
}

} // namespace

BOOST_AUTO_TEST_SUITE(slow_link_test)

BOOST_AUTO_TEST_CASE(large_upload_over_a_slow_link_outlasts_the_stall_timeout)
{
    mock_fixture f;
    throttled_forwarder link(f.server.https_port(), link_rate);
    carcheck::client client(f.ioc.get_executor(), via_port(f, true, link.port()));
    const auto size = large_upload_bytes();
    const auto image = sparse_image(f.dir.path / "large.jpg", "SLOW40", size);

    const auto o = upload(f, client, image);
    BOOST_TEST(!o.ec, o.ec.message() << " / " << o.diag.describe(o.ec));
    const auto records = f.server.requests();
    BOOST_REQUIRE_EQUAL(records.size(), 1u);
    BOOST_TEST(records[0].image_size == size);
    BOOST_TEST(link.bytes_up() >= size);
    // The link was the bottleneck: the upload took about size / rate, several stall times.
    const double expected = static_cast<double>(size) / link_rate;
    BOOST_TEST(o.took > 0.8 * expected, o.took << " s for " << size << " bytes");
    BOOST_TEST(o.took > 1.4 * 2.0); // it outlasted the 2 s stall timeout (16 MB under the sanitizers: 4 s)
    BOOST_TEST(o.diag.attempts == 1u);
}

BOOST_AUTO_TEST_CASE(a_total_deadline_ends_a_slow_but_moving_upload)
{
    mock_fixture f;
    throttled_forwarder link(f.server.https_port(), link_rate);
    auto co = via_port(f, true, link.port());
    co.timeouts.request = 1500ms; // the whole attempt, as timeouts.request always bounded it before
    carcheck::client client(f.ioc.get_executor(), co);
    const auto image = sparse_image(f.dir.path / "twelve.jpg", "SLOW12", 12'000'000); // ~3 s at 4 MB/s

    const auto o = upload(f, client, image);
    const std::string text = o.diag.describe(o.ec);
    BOOST_TEST(o.ec == carcheck::error::timeout, o.ec.message() << " / " << text);
    BOOST_TEST(text.find("request deadline of 1.5 s expired while sending the request") != std::string::npos, text);
    BOOST_TEST(o.took > 1.5, o.took);
    BOOST_TEST(o.took < 4.5, o.took);
    BOOST_TEST(f.server.requests().empty()); // the upload was cut short
    // The connection it cut is not reused; a small request afterwards succeeds.
    BOOST_TEST(upload(f, client, f.image("AFTERDL")).diag.http_status == 200u);
}

BOOST_AUTO_TEST_CASE(server_that_stops_reading_mid_upload_over_tls)
{
    mock_fixture f;
    throttled_forwarder link(f.server.https_port(), 1e9); // fast: only the stop matters
    link.stop_reading_after(1u << 20);
    carcheck::client client(f.ioc.get_executor(), via_port(f, true, link.port()));
    // Larger than the socket buffers between the client and the forwarder.
    const auto image = sparse_image(f.dir.path / "stuck.jpg", "STUCK1", 64u << 20);

    check_stalled(upload(f, client, image), "sending the request");
    BOOST_TEST(link.bytes_up() == (1u << 20));
}

BOOST_AUTO_TEST_CASE(server_that_stops_reading_mid_upload_over_plain_http)
{
    mock_fixture f;
    silent_listener sink(f.ioc, 1u << 20);
    carcheck::client client(f.ioc.get_executor(), via_port(f, false, sink.port()));
    const auto image = sparse_image(f.dir.path / "stuck.jpg", "STUCK2", 64u << 20);

    check_stalled(upload(f, client, image), "sending the request");
    BOOST_TEST(sink.bytes_read() == (1u << 20));
}

BOOST_AUTO_TEST_CASE(server_that_never_answers_the_request)
{
    for (const bool tls : {true, false}) {
        BOOST_TEST_CONTEXT((tls ? "TLS" : "plain HTTP"))
        {
            mock_fixture f;
            auto co = f.options(tls);
            co.timeouts.stall = 2s;
            carcheck::client client(f.ioc.get_executor(), co);
            BOOST_TEST(upload(f, client, f.image("WARM1")).diag.http_status == 200u); // a live connection
            f.server.inject(mock::fault::stall);
            check_stalled(upload(f, client, f.image("NEVER1")), "reading the response");
            BOOST_TEST(f.server.requests().size() == 2u); // the server had the whole request
            // The pool discarded the stalled connection and serves the next request.
            BOOST_TEST(upload(f, client, f.image("AFTER1")).diag.http_status == 200u);
            BOOST_TEST(client.connection_counters().discarded >= 1u);
        }
    }
}

BOOST_AUTO_TEST_CASE(get_config_follows_the_stall_timeout)
{
    mock_fixture f;
    silent_listener sink(f.ioc, 64 * 1024); // reads the request, never answers
    carcheck::client client(f.ioc.get_executor(), via_port(f, false, sink.port()));
    carcheck::diagnostics diag;
    const auto started = std::chrono::steady_clock::now();
    auto [ec, cfg] = f.run(client.get_config(diag, asio::as_tuple(asio::deferred)));
    const double took = seconds(std::chrono::steady_clock::now() - started);
    (void)cfg;
    BOOST_TEST(ec == carcheck::error::timeout, ec.message());
    BOOST_TEST(diag.describe(ec).find("no byte moved for 2 s while reading the response") != std::string::npos,
               diag.describe(ec));
    BOOST_TEST(took > 2.0, took);
    BOOST_TEST(took < 5.0, took);
}

BOOST_AUTO_TEST_CASE(cancellation_and_close_end_a_slow_upload_at_once)
{
    mock_fixture f;
    throttled_forwarder link(f.server.https_port(), link_rate);
    carcheck::client client(f.ioc.get_executor(), via_port(f, true, link.port()));
    const auto image = sparse_image(f.dir.path / "cancel.jpg", "CANCEL1", 40'000'000);
    const carcheck::recognize_options opts;

    // Per-operation cancellation 500 ms into a 10 s upload.
    asio::cancellation_signal cancel;
    asio::steady_timer t(f.ioc);
    t.expires_after(500ms);
    t.async_wait([&](boost::system::error_code) { cancel.emit(asio::cancellation_type::terminal); });
    auto started = std::chrono::steady_clock::now();
    std::optional<carcheck::error_code> ec;
    client.recognize_file(image, opts,
                          asio::bind_cancellation_slot(cancel.slot(), [&](carcheck::error_code e, carcheck::recognition) {
                              ec = e;
                              f.ioc.stop();
                          }));
    f.ioc.restart();
    f.ioc.run_for(30s);
    BOOST_REQUIRE(ec.has_value());
    BOOST_TEST(*ec == asio::error::operation_aborted, ec->message());
    BOOST_TEST(seconds(std::chrono::steady_clock::now() - started) < 2.5);

    // close() 500 ms into the next one.
    t.expires_after(500ms);
    t.async_wait([&](boost::system::error_code) { client.close(); });
    started = std::chrono::steady_clock::now();
    auto [ec2, r2] = f.run(client.recognize_file(image, opts, asio::as_tuple(asio::deferred)));
    BOOST_TEST(ec2 == carcheck::error::client_closed, ec2.message());
    BOOST_TEST(seconds(std::chrono::steady_clock::now() - started) < 2.5);
}

#ifdef CARCHECK_CLI_EXECUTABLE
BOOST_AUTO_TEST_CASE(cli_stall_timeout_against_a_server_that_never_answers)
{
    mock::server_options so = default_mock_options();
    mock_fixture f(so);
    f.server.inject(mock::fault::stall, 100);
    const auto a = f.image("CLISTALL1").string();
    const auto b = f.image("CLISTALL2").string();
    process_options p;
    p.args = {CARCHECK_CLI_EXECUTABLE,
              "recognize",
              "--endpoint",
              "http://127.0.0.1:" + std::to_string(f.server.http_port()) + "/v3",
              "--stall-timeout",
              "1",
              "--quiet",
              a,
              b};
    p.env = {{"CARCHECK_SECRET_KEY", std::string("test-key")}, {"CARCHECK_ENDPOINT", std::nullopt}};
    const auto started = std::chrono::steady_clock::now();
    const auto res = run_process(p, 60s);
    const double took = seconds(std::chrono::steady_clock::now() - started);

    BOOST_TEST(res.exit_code == 1, res.err); // some inputs failed
    std::stringstream lines(res.out);
    std::size_t count = 0;
    for (std::string line; std::getline(lines, line);) {
        if (line.empty())
            continue;
        ++count;
        const auto v = boost::json::parse(line).as_object();
        BOOST_TEST(v.at("ok").as_bool() == false);
        BOOST_TEST(v.at("error").as_string() == "timeout", line);
        BOOST_TEST(std::string(v.at("message").as_string()).find("no byte moved for 1 s") != std::string::npos,
                   line);
    }
    BOOST_TEST(count == 2u, res.out);
    // Both requests in flight at once, each cut after about a second (never the old 60 s).
    BOOST_TEST(took < 10.0, took);

    p.args = {CARCHECK_CLI_EXECUTABLE, "recognize", "--stall-timeout", "0", a};
    const auto bad = run_process(p, 30s);
    BOOST_TEST(bad.exit_code == 2);
    BOOST_TEST(bad.err.find("--stall-timeout needs a positive number of seconds") != std::string::npos, bad.err);
}
#endif

BOOST_AUTO_TEST_SUITE_END()
