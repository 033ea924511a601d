// The connect path: HTTP CONNECT proxies (tunnels, credentials, refusals, a proxy that is
// down, no_proxy), the connect deadline over resolution + TCP + proxy + TLS, and staggered
// attempts over several addresses (RFC 8305) with a resolver the test controls.
#include "support/connect_proxy.hpp"
#include "support/loopback.hpp"
#include "support/mock_fixture.hpp"
#include "support/process.hpp"

#include <carcheck/detail/pool_impl.hpp>

#include <cstdlib>
#include <mutex>
#include <thread>

using namespace carcheck_test;
namespace mock = carcheck::mock;
using namespace std::chrono_literals;
using tcp = asio::ip::tcp;
using steady = std::chrono::steady_clock;

namespace {

/// Runs `count` recognitions with `concurrency` in flight; returns how many failed.
asio::awaitable<std::size_t> recognize_many(carcheck::client& c, fs::path path, std::size_t count,
                                            std::size_t concurrency)
{
    std::size_t next = 0, failed = 0, running = concurrency;
    auto ex = co_await asio::this_coro::executor;
    asio::steady_timer all_done(ex, asio::steady_timer::time_point::max());
    for (std::size_t i = 0; i < concurrency; ++i)
        asio::co_spawn(
            ex,
            [&]() -> asio::awaitable<void> {
                const carcheck::recognize_options opts;
                while (next < count) {
                    ++next;
                    auto [ec, r] = co_await c.recognize_file(path, opts, asio::as_tuple(asio::deferred));
                    if (ec || r.results.empty())
                        ++failed;
                }
            },
            [&](std::exception_ptr) {
                if (--running == 0)
                    all_done.cancel();
            });
    co_await all_done.async_wait(asio::as_tuple(asio::deferred));
    co_return failed;
}

struct outcome {
    carcheck::error_code ec;
    std::string text;
    unsigned attempts = 0;
};

outcome recognize_once(mock_fixture& f, carcheck::client& c, const std::string& plate)
{
    carcheck::diagnostics diag;
    const carcheck::recognize_options opts;
    auto [ec, r] = f.run(c.recognize_file(f.image(plate), opts, diag, asio::as_tuple(asio::deferred)));
    return {ec, diag.describe(ec), diag.attempts};
}

/// A loopback port nothing listens on (bound, then closed): connects to it are refused.
unsigned short refused_port()
{
    asio::io_context ioc;
    tcp::acceptor a(ioc, {asio::ip::make_address("127.0.0.1"), 0});
    return a.local_endpoint().port();
}

const std::string proxy_password = "pr0xy-P%40ss%3Aw0rd"; // "pr0xy-P@ss:w0rd" in a URL

/// A client context trusting the mock's CA only, for pools made by the test.
std::shared_ptr<asio::ssl::context> mock_tls_context(const mock_fixture& f)
{
    auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
    ctx->add_certificate_authority(asio::buffer(f.server.certificate_pem()));
    ctx->set_verify_mode(asio::ssl::verify_peer);
    return ctx;
}

carcheck::detail::endpoint localhost_endpoint(unsigned short port)
{
    carcheck::detail::endpoint ep;
    std::string message;
    BOOST_REQUIRE(!carcheck::detail::parse_endpoint("https://localhost:" + std::to_string(port) + "/v3", false,
                                                    ep, message));
    return ep;
}

/// A resolver for tests: every name resolves to `addresses`, at once.
carcheck::detail::resolve_function resolve_to(std::vector<tcp::endpoint> addresses)
{
    return [addresses](const std::string&, std::uint16_t, carcheck::detail::resolve_handler done) {
        done({}, addresses);
    };
}

struct connect_outcome {
    carcheck::error_code ec;
    std::string text;
    std::chrono::milliseconds elapsed{};
    carcheck::pool_counters counters;
};

/// Opens one connection of a pool to localhost:port (TLS verified against "localhost"):
/// its outcome, the failure text the first waiter is told, the time and the counters.
connect_outcome connect_once(mock_fixture& f, carcheck::detail::pool_options po, unsigned short port)
{
    using carcheck::detail::pool_impl;
    auto pool = std::make_shared<pool_impl>(f.ioc.get_executor(), localhost_endpoint(port), po, mock_tls_context(f));
    const auto start = steady::now();
    connect_outcome out;
    auto acquire = [](std::shared_ptr<pool_impl> impl, carcheck::error_code& ec) -> asio::awaitable<std::string> {
        auto r = co_await impl->acquire(asio::cancellation_slot{});
        ec = r.ec;
        if (r.conn)
            impl->release(r.conn, false);
        co_return r.failure;
    };
    out.text = f.run(asio::co_spawn(pool->serial(), acquire(pool, out.ec), asio::deferred));
    out.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - start);
    out.counters = pool->counters();
    pool->close();
    return out;
}

connect_outcome connect_failure(mock_fixture& f, carcheck::detail::pool_options po, unsigned short port)
{
    return connect_once(f, std::move(po), port);
}

} // namespace

BOOST_AUTO_TEST_SUITE(proxy_test)

BOOST_AUTO_TEST_CASE(twenty_recognitions_through_the_proxy_over_tls)
{
    mock_fixture f;
    connect_proxy proxy;
    auto o = f.options(true);
    // A name, so that SNI and the certificate check name the service through the tunnel.
    o.endpoint = "https://localhost:" + std::to_string(f.server.https_port()) + "/v3";
    o.proxy = proxy.url();
    o.max_connections = 4;
    carcheck::client c(f.ioc.get_executor(), o);
    BOOST_TEST(f.run(recognize_many(c, f.image("PROXY1"), 20, 4)) == 0u);
    BOOST_TEST(f.server.get_stats().requests == 20u);
    BOOST_TEST(proxy.tunnels() >= 1u);
    BOOST_TEST(proxy.tunnels() <= 4u);
    BOOST_TEST(c.connection_counters().proxy_tunnels == proxy.tunnels());
    const std::string heads = proxy.heads();
    BOOST_TEST(heads.find("CONNECT localhost:" + std::to_string(f.server.https_port()) + " HTTP/1.1\r\n") == 0u,
               heads);
    BOOST_TEST(heads.find("Host: localhost:") != std::string::npos, heads);
    BOOST_TEST(heads.find("Proxy-Authorization") == std::string::npos, heads);
    // Neither the heads nor the tunnelled bytes carry the key: TLS end to end.
    BOOST_TEST(proxy.client_bytes().size() > heads.size());
    BOOST_TEST(proxy.client_bytes().find("test-key") == std::string::npos);
    BOOST_TEST(proxy.client_bytes().find("secret_key") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(reconnects_through_the_proxy_resume_tls)
{
    auto so = default_mock_options();
    so.max_requests_per_connection = 2; // every second reply closes the connection
    mock_fixture f(so);
    connect_proxy proxy;
    auto o = f.options(true);
    o.proxy = proxy.url();
    o.max_connections = 1;
    carcheck::client c(f.ioc.get_executor(), o);
    BOOST_TEST(f.run(recognize_many(c, f.image("PROXY2"), 6, 1)) == 0u);
    BOOST_TEST(proxy.tunnels() == 3u);
    BOOST_TEST(c.connection_counters().handshakes_resumed >= 1u);
}

BOOST_AUTO_TEST_CASE(plain_http_endpoint_goes_through_a_tunnel)
{
    // Plain HTTP to loopback is allowed; through a proxy it is a tunnel too, and then the
    // proxy sees everything (which shows the recording above would catch a leak).
    mock_fixture f;
    connect_proxy proxy;
    auto o = f.options(false);
    o.proxy = proxy.url();
    carcheck::client c(f.ioc.get_executor(), o);
    BOOST_TEST(!recognize_once(f, c, "PLAIN1").ec);
    BOOST_TEST(proxy.tunnels() == 1u);
    BOOST_TEST(proxy.heads().find("CONNECT 127.0.0.1:" + std::to_string(f.server.http_port())) == 0u);
    BOOST_TEST(proxy.client_bytes().find("test-key") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(credentials_are_sent_percent_decoded)
{
    mock_fixture f;
    // base64("user:pr0xy-P@ss:w0rd")
    connect_proxy proxy({.required_authorization = "Basic dXNlcjpwcjB4eS1QQHNzOncwcmQ="});
    auto o = f.options(true);
    o.proxy = "http://user:pr0xy-P%40ss%3Aw0rd@127.0.0.1:" + std::to_string(proxy.port());
    carcheck::client c(f.ioc.get_executor(), o);
    const auto r = recognize_once(f, c, "AUTH1");
    BOOST_TEST(!r.ec, r.text);
    BOOST_TEST(proxy.tunnels() == 1u);
}

BOOST_AUTO_TEST_CASE(proxy_407_is_proxy_auth_required)
{
    mock_fixture f;
    connect_proxy proxy({.required_authorization = "Basic c29tZW9uZTplbHNl"});
    for (const bool with_credentials : {false, true}) {
        BOOST_TEST_CONTEXT("credentials given: " << with_credentials)
        {
            auto o = f.options(true);
            o.proxy = with_credentials ? "http://user:" + proxy_password + "@127.0.0.1:" + std::to_string(proxy.port())
                                       : proxy.url();
            carcheck::client c(f.ioc.get_executor(), o);
            const auto r = recognize_once(f, c, "AUTH2");
            BOOST_TEST(r.ec == carcheck::error::proxy_auth_required, r.ec.message());
            BOOST_TEST(r.text.find("407") != std::string::npos, r.text);
            BOOST_TEST(r.text.find("proxy 127.0.0.1:" + std::to_string(proxy.port())) != std::string::npos, r.text);
            BOOST_TEST(r.text.find("w0rd") == std::string::npos, r.text);
            BOOST_TEST(r.attempts == 1u); // deterministic: not retried
        }
    }
    BOOST_TEST(proxy.tunnels() == 0u);
    BOOST_TEST(f.server.get_stats().connections_accepted == 0u);
}

BOOST_AUTO_TEST_CASE(proxy_refusal_is_proxy_refused_with_the_status)
{
    for (const unsigned status : {403u, 502u}) {
        BOOST_TEST_CONTEXT("status " << status)
        {
            mock_fixture f;
            connect_proxy proxy({.refuse_status = status});
            auto o = f.options(true);
            o.proxy = proxy.url();
            carcheck::client c(f.ioc.get_executor(), o);
            const auto r = recognize_once(f, c, "REFUSE1");
            BOOST_TEST(r.ec == carcheck::error::proxy_refused, r.ec.message());
            BOOST_TEST(r.text.find("HTTP " + std::to_string(status)) != std::string::npos, r.text);
            BOOST_TEST(r.attempts == 1u);
            BOOST_TEST(f.server.get_stats().connections_accepted == 0u);
        }
    }
}

BOOST_AUTO_TEST_CASE(proxy_down_is_a_connection_failure_naming_the_proxy)
{
    mock_fixture f;
    const auto port = refused_port();
    auto o = f.options(true);
    o.proxy = "http://user:" + proxy_password + "@127.0.0.1:" + std::to_string(port);
    carcheck::client c(f.ioc.get_executor(), o);
    const auto r = recognize_once(f, c, "DOWN1");
    BOOST_TEST(r.ec == asio::error::connection_refused, r.ec.message());
    BOOST_TEST(carcheck::is_connection_failure(r.ec));
    BOOST_TEST(r.text.find("proxy 127.0.0.1:" + std::to_string(port)) != std::string::npos, r.text);
    BOOST_TEST(r.text.find("w0rd") == std::string::npos, r.text);
    BOOST_TEST(r.text.find("user") == std::string::npos, r.text);
}

BOOST_AUTO_TEST_CASE(a_closed_proxy_fails_the_next_connect)
{
    mock_fixture f;
    connect_proxy proxy;
    auto o = f.options(true);
    o.proxy = proxy.url();
    carcheck::client c(f.ioc.get_executor(), o);
    BOOST_TEST(!recognize_once(f, c, "CLOSE1").ec);
    proxy.close();
    const auto r = recognize_once(f, c, "CLOSE2");
    BOOST_TEST(r.ec.failed());
    BOOST_TEST(carcheck::is_connection_failure(r.ec), r.text);
}

BOOST_AUTO_TEST_CASE(bad_proxy_urls_are_rejected_by_name)
{
    mock_fixture f;
    const std::pair<std::string, std::string> cases[] = {
        {"socks5://127.0.0.1:1080", "scheme must be http, got 'socks5'"},
        {"https://127.0.0.1:3128", "https (TLS to the proxy) is not supported"},
        {"http://user:" + proxy_password + "@127.0.0.1:99999", "port '99999'"},
        {"http://user:" + proxy_password + "@127.0.0.1:3128/path", "path"},
        {"http://:" + proxy_password + "@", "no host"},
    };
    for (const auto& [url, expected] : cases) {
        BOOST_TEST_CONTEXT(expected)
        {
            auto o = f.options(true);
            o.proxy = url;
            try {
                carcheck::client c(f.ioc.get_executor(), o);
                BOOST_TEST(false, "accepted");
            } catch (const carcheck::api_error& e) {
                BOOST_TEST(e.code() == carcheck::error::invalid_argument);
                BOOST_TEST(std::string(e.what()).find(expected) != std::string::npos, e.what());
                BOOST_TEST(std::string(e.what()).find("w0rd") == std::string::npos, e.what());
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(no_proxy_bypass_through_the_environment_helper)
{
    mock_fixture f;
    connect_proxy proxy;
    auto o = f.options(true);
    ::setenv("https_proxy", proxy.url().c_str(), 1);
    ::unsetenv("HTTPS_PROXY");
    ::setenv("no_proxy", "example.com, 127.0.0.0/8", 1);
    const std::string bypassed = carcheck::proxy_from_environment(o.endpoint);
    ::setenv("no_proxy", "example.com", 1);
    const std::string proxied = carcheck::proxy_from_environment(o.endpoint);
    ::unsetenv("no_proxy");
    ::unsetenv("https_proxy");
    BOOST_TEST(bypassed == "");
    BOOST_TEST(proxied == proxy.url());

    o.proxy = bypassed;
    {
        carcheck::client c(f.ioc.get_executor(), o);
        BOOST_TEST(!recognize_once(f, c, "NOPROXY1").ec);
    }
    BOOST_TEST(proxy.connections() == 0u);
    o.proxy = proxied;
    carcheck::client c(f.ioc.get_executor(), o);
    BOOST_TEST(!recognize_once(f, c, "NOPROXY2").ec);
    BOOST_TEST(proxy.tunnels() == 1u);
}

BOOST_AUTO_TEST_CASE(connect_timeout_covers_the_proxy_exchange)
{
    // A "proxy" that accepts and never answers CONNECT.
    mock_fixture f;
    asio::io_context silent_ioc;
    silent_listener silent(silent_ioc);
    std::thread silent_thread([&] { silent_ioc.run_for(std::chrono::seconds(60)); });
    auto o = f.options(true);
    o.proxy = "http://127.0.0.1:" + std::to_string(silent.port());
    o.timeouts.connect = 300ms;
    carcheck::client c(f.ioc.get_executor(), o);
    const auto start = steady::now();
    const auto r = recognize_once(f, c, "SILENT1");
    const auto elapsed = steady::now() - start;
    BOOST_TEST(r.ec == carcheck::error::timeout, r.ec.message());
    BOOST_TEST(r.text.find("CONNECT") != std::string::npos, r.text);
    BOOST_TEST(elapsed < 3s);
    silent_ioc.stop();
    silent_thread.join();
}

BOOST_AUTO_TEST_CASE(tls_listener_that_never_answers_fails_within_the_connect_timeout)
{
    mock_fixture f;
    asio::io_context silent_ioc;
    silent_listener silent(silent_ioc);
    std::thread silent_thread([&] { silent_ioc.run_for(std::chrono::seconds(60)); });
    auto o = f.options(true);
    o.endpoint = "https://127.0.0.1:" + std::to_string(silent.port()) + "/v3";
    o.timeouts.connect = 1s;
    carcheck::backoff_options once;
    once.max_attempts = 1;
    o.scheduling.retry = std::make_shared<carcheck::exponential_backoff>(once);
    carcheck::client c(f.ioc.get_executor(), o);
    const auto start = steady::now();
    const auto r = recognize_once(f, c, "SILENT2");
    const auto elapsed = steady::now() - start;
    BOOST_TEST(r.ec == carcheck::error::timeout, r.ec.message());
    BOOST_TEST(r.text.find("TLS handshake") != std::string::npos, r.text);
    BOOST_TEST(elapsed >= 900ms);
    BOOST_TEST(elapsed < 3s);
    silent_ioc.stop();
    silent_thread.join();
}

// --- Several addresses (RFC 8305) and name resolution, with the pool's resolve hook ----------

BOOST_AUTO_TEST_CASE(first_address_refuses_the_second_is_used_at_once)
{
    mock_fixture f;
    carcheck::detail::pool_options po;
    const auto loop = asio::ip::make_address("127.0.0.1");
    po.resolve = resolve_to({{loop, refused_port()}, {loop, f.server.https_port()}});
    const auto r = connect_once(f, po, f.server.https_port());
    BOOST_TEST(!r.ec, r.ec.message());
    BOOST_TEST(r.counters.connect_attempts == 2u);
    BOOST_TEST(r.counters.connects == 1u);
    // Not after the 250 ms Connection Attempt Delay: as soon as the first failed.
    BOOST_TEST(r.elapsed < carcheck::detail::connection_attempt_delay, r.elapsed.count() << " ms");
}

BOOST_AUTO_TEST_CASE(first_address_black_holed_the_second_is_used_after_the_attempt_delay)
{
    mock_fixture f;
    asio::io_context hole_ioc;
    blackhole_listener hole(hole_ioc);
    carcheck::detail::pool_options po;
    po.timeouts.connect = 10s;
    po.resolve = resolve_to({hole.endpoint(), {asio::ip::make_address("127.0.0.1"), f.server.https_port()}});
    const auto r = connect_once(f, po, f.server.https_port());
    BOOST_TEST(!r.ec, r.ec.message());
    BOOST_TEST(r.counters.connect_attempts == 2u);
    BOOST_TEST(r.elapsed >= 240ms, r.elapsed.count() << " ms");
    BOOST_TEST(r.elapsed < 3s, r.elapsed.count() << " ms"); // well before the 10 s connect timeout
    BOOST_TEST(f.server.get_stats().connections_accepted == 1u);
}

BOOST_AUTO_TEST_CASE(every_address_failing_names_the_host_and_the_last_error)
{
    mock_fixture f;
    carcheck::detail::pool_options po;
    po.resolve = resolve_to({{asio::ip::make_address("127.0.0.2"), refused_port()},
                             {asio::ip::make_address("127.0.0.3"), refused_port()}});
    const auto r = connect_failure(f, po, 4443);
    BOOST_TEST(r.ec == asio::error::connection_refused, r.ec.message());
    BOOST_TEST(r.text.find("localhost:4443") != std::string::npos, r.text);
    BOOST_TEST(r.text.find("2 addresses") != std::string::npos, r.text);
    BOOST_TEST(r.text.find("127.0.0.3") != std::string::npos, r.text);
    BOOST_TEST(r.text.find(carcheck::error_code(asio::error::connection_refused).message()) != std::string::npos, r.text);
    BOOST_TEST(r.counters.connect_attempts == 2u);
    BOOST_TEST(r.counters.connect_errors == 1u);
}

BOOST_AUTO_TEST_CASE(name_resolution_has_a_deadline)
{
    mock_fixture f;
    // A resolver that answers only when the test says so (long after the deadline).
    std::mutex m;
    carcheck::detail::resolve_handler late;
    carcheck::detail::pool_options po;
    po.timeouts.connect = 300ms;
    po.resolve = [&](const std::string&, std::uint16_t, carcheck::detail::resolve_handler done) {
        std::lock_guard lock(m);
        late = std::move(done);
    };
    const auto r = connect_failure(f, po, f.server.https_port());
    BOOST_TEST(r.ec == carcheck::error::timeout, r.ec.message());
    BOOST_TEST(r.text.find("cannot resolve localhost") != std::string::npos, r.text);
    BOOST_TEST(r.text.find("name resolution") != std::string::npos, r.text);
    BOOST_TEST(r.elapsed < 3s);
    // The late answer, from another thread after the pool is gone, lands nowhere.
    std::thread([&] {
        std::lock_guard lock(m);
        late({}, {{asio::ip::make_address("127.0.0.1"), f.server.https_port()}});
    }).join();
    f.ioc.restart();
    f.ioc.run_for(100ms);
    BOOST_TEST(f.server.get_stats().connections_accepted == 0u);
}

BOOST_AUTO_TEST_CASE(system_resolver_still_resolves_localhost)
{
    mock_fixture f;
    const auto r = connect_once(f, carcheck::detail::pool_options{}, f.server.https_port());
    BOOST_TEST(!r.ec, r.ec.message());
    BOOST_TEST(r.counters.connects == 1u);
}

// --- The command-line tool ------------------------------------------------------------------

#ifdef CARCHECK_CLI_EXECUTABLE

namespace {

process_options cli(const mock_fixture& f, const fs::path& ca, std::vector<std::string> args,
                    std::map<std::string, std::optional<std::string>> env)
{
    process_options o;
    o.args = {CARCHECK_CLI_EXECUTABLE, "recognize", "--endpoint",
              "https://127.0.0.1:" + std::to_string(f.server.https_port()) + "/v3", "--ca-file", ca.string(),
              "--quiet"};
    o.args.insert(o.args.end(), args.begin(), args.end());
    env.emplace("CARCHECK_SECRET_KEY", "test-key");
    env.emplace("CARCHECK_ENDPOINT", std::nullopt);
    for (const char* name : {"https_proxy", "HTTPS_PROXY", "http_proxy", "no_proxy", "NO_PROXY"})
        env.emplace(name, std::nullopt);
    o.env = std::move(env);
    return o;
}

} // namespace

BOOST_AUTO_TEST_CASE(cli_honours_https_proxy_and_noproxy)
{
    mock_fixture f;
    connect_proxy proxy({.required_authorization = "Basic dXNlcjpwcjB4eS1QQHNzOncwcmQ="});
    const auto ca = write_file(f.dir.path / "ca.pem", f.server.certificate_pem());
    const auto image = f.image("CLIPROXY1");
    const std::string with_password = "http://user:pr0xy-P%40ss%3Aw0rd@127.0.0.1:" + std::to_string(proxy.port());

    auto r = run_process(cli(f, ca, {image.string()}, {{"HTTPS_PROXY", with_password}}), 60s);
    BOOST_TEST(r.exit_code == 0, r.err);
    BOOST_TEST(r.out.find("CLIPROXY1") != std::string::npos, r.out);
    BOOST_TEST(proxy.tunnels() == 1u);

    r = run_process(cli(f, ca, {"--noproxy", "127.0.0.1", image.string()}, {{"HTTPS_PROXY", with_password}}), 60s);
    BOOST_TEST(r.exit_code == 0, r.err);
    BOOST_TEST(proxy.tunnels() == 1u); // direct

    r = run_process(cli(f, ca, {image.string()}, {{"https_proxy", with_password}, {"no_proxy", "localhost,127.0.0.1"}}), 60s);
    BOOST_TEST(r.exit_code == 0, r.err);
    BOOST_TEST(proxy.tunnels() == 1u); // direct

    r = run_process(cli(f, ca, {"--proxy", "", image.string()}, {{"HTTPS_PROXY", with_password}}), 60s);
    BOOST_TEST(r.exit_code == 0, r.err);
    BOOST_TEST(proxy.tunnels() == 1u); // direct

    // Wrong credentials: a 407, and the password appears nowhere in the output.
    const std::string wrong = "http://user:wr0ng-w0rd@127.0.0.1:" + std::to_string(proxy.port());
    r = run_process(cli(f, ca, {"--proxy", wrong, "--retries", "0", image.string()}, {}), 60s);
    BOOST_TEST(r.exit_code == 4); // unreachable: every connection would be refused the same way
    BOOST_TEST(r.err.find("407") != std::string::npos, r.err);
    BOOST_TEST((r.out + r.err).find("w0rd") == std::string::npos, r.out + r.err);
    r = run_process(cli(f, ca, {"--proxy", "socks5://user:" + proxy_password + "@127.0.0.1:1", image.string()}, {}), 60s);
    BOOST_TEST(r.exit_code == 2);
    BOOST_TEST(r.err.find("socks5") != std::string::npos, r.err);
    BOOST_TEST((r.out + r.err).find("w0rd") == std::string::npos, r.out + r.err);
}

BOOST_AUTO_TEST_CASE(cli_connect_timeout_bounds_a_silent_tls_listener)
{
    mock_fixture f;
    asio::io_context silent_ioc;
    silent_listener silent(silent_ioc);
    std::thread silent_thread([&] { silent_ioc.run_for(std::chrono::seconds(60)); });
    const auto ca = write_file(f.dir.path / "ca.pem", f.server.certificate_pem());
    auto o = cli(f, ca, {"--connect-timeout", "1", "--retries", "0", f.image("CLISILENT").string()}, {});
    o.args[3] = "https://127.0.0.1:" + std::to_string(silent.port()) + "/v3";
    const auto start = steady::now();
    const auto r = run_process(o, 60s);
    const auto elapsed = steady::now() - start;
    BOOST_TEST(r.exit_code != 0);
    BOOST_TEST(r.out.find("timeout") != std::string::npos, r.out);
    BOOST_TEST(elapsed < 4s, std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count() << " ms");
    silent_ioc.stop();
    silent_thread.join();
}

#endif

BOOST_AUTO_TEST_SUITE_END()
