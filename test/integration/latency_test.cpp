// A batch that is latency-bound: the mock takes 200 ms per recognition and the key allows
// 100 requests a second. 20 in flight use the whole rate (Little's law); the old fixed 8
// reached 40/s (12.5 s for 500 images). With the default options the CLI and the library
// size the number in flight to the latency and finish within 1.3 x the ideal 5 s. Timing
// bound: registered for the unsanitized build only (see test/CMakeLists.txt).

#include "support/mock_fixture.hpp"
#include "support/process.hpp"

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

using namespace std::chrono_literals;
using namespace carcheck_test;
namespace mock = carcheck::mock;

const std::string latency_key = "latency-key-7f3a";
constexpr int images = 500;
constexpr std::int64_t per_second = 100;
constexpr double ideal_seconds = static_cast<double>(images) / static_cast<double>(per_second);

mock::server_options slow_server()
{
    mock::server_options o;
    o.keys.push_back(mock::key_config{.key = latency_key, .rate_limit = per_second, .window = 1s});
    o.latency = 200ms;
    return o;
}

void check_counts(const mock::server& server, std::size_t succeeded, double seconds, const char* what)
{
    const auto stats = server.get_stats();
    const auto refused = stats.responses_by_status.count(403) ? stats.responses_by_status.at(403) : 0u;
    const auto ok = stats.responses_by_status.count(200) ? stats.responses_by_status.at(200) : 0u;
    BOOST_TEST_MESSAGE(what << ": " << images << " images in " << seconds << " s (ideal " << ideal_seconds
                            << " s), " << stats.requests << " requests, " << refused << " 403");
    BOOST_TEST(succeeded == static_cast<std::size_t>(images));
    BOOST_TEST(ok == static_cast<std::size_t>(images)); // each image charged once
    BOOST_TEST(static_cast<double>(refused) <= 0.05 * static_cast<double>(stats.requests));
    BOOST_TEST(seconds <= 1.3 * ideal_seconds, what << ": " << seconds << " s");
}

[[maybe_unused]] std::string summary_row(const std::string& err, const std::string& name)
{
    std::istringstream in(err);
    for (std::string line; std::getline(in, line);)
        if (line.rfind("  " + name + " ", 0) == 0) // "  in flight      peak 31, ..."
            return line;
    return {};
}

} // namespace

BOOST_AUTO_TEST_SUITE(latency_test)

#ifdef CARCHECK_CLI_EXECUTABLE
BOOST_AUTO_TEST_CASE(cli_default_options_fill_the_allowed_rate)
{
    mock::server server(slow_server());
    server.start();
    temp_dir dir;
    const fs::path folder = dir.path / "images";
    fs::create_directories(folder);
    for (int i = 0; i < images; ++i)
        write_file(folder / ("L" + std::to_string(i) + ".jpg"), image_bytes("LAT" + std::to_string(i)));
    process_options o;
    o.args = {CARCHECK_CLI_EXECUTABLE, "recognize", "--endpoint",
              "http://127.0.0.1:" + std::to_string(server.http_port()) + "/v3", "--progress-interval", "0.5",
              "--output", (dir.path / "out.jsonl").string(), folder.string()};
    o.env.emplace("CARCHECK_SECRET_KEY", latency_key);
    o.env.emplace("CARCHECK_ENDPOINT", std::nullopt);
    const auto start = std::chrono::steady_clock::now();
    child_process child(std::move(o));
    const auto res = child.wait(120s);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    BOOST_TEST(res.exit_code == 0, res.err);
    std::size_t succeeded = 0;
    std::ifstream out(dir.path / "out.jsonl");
    for (std::string line; std::getline(out, line);)
        succeeded += line.find(",\"ok\":true,") != std::string::npos;
    check_counts(server, succeeded, seconds, "CLI defaults");
    // The summary names the adaptive limit it reached: above the old fixed 8.
    const std::string row = summary_row(res.err, "in flight");
    BOOST_TEST_REQUIRE(!row.empty(), res.err);
    BOOST_TEST_MESSAGE(row);
    const auto at = row.find("adaptive, reached ");
    BOOST_TEST_REQUIRE(at != std::string::npos, row);
    BOOST_TEST(std::stoul(row.substr(at + 18)) > 8u, row);
    BOOST_TEST(res.err.find(", in flight ") != std::string::npos, res.err); // progress lines
}

BOOST_AUTO_TEST_CASE(cli_pinned_concurrency_still_pins)
{
    // --concurrency 4: at most 4 at the server at once (it answers each 200 ms later).
    mock::server_options so = slow_server();
    so.keys[0].rate_limit = 0;
    mock::server server(so);
    server.start();
    temp_dir dir;
    for (int i = 0; i < 24; ++i)
        write_file(dir.path / ("P" + std::to_string(i) + ".jpg"), image_bytes("PIN" + std::to_string(i)));
    process_options o;
    o.args = {CARCHECK_CLI_EXECUTABLE, "recognize", "--endpoint",
              "http://127.0.0.1:" + std::to_string(server.http_port()) + "/v3", "--concurrency", "4", "--output",
              (dir.path / "out.jsonl").string(), dir.path.string()};
    o.env.emplace("CARCHECK_SECRET_KEY", latency_key);
    o.env.emplace("CARCHECK_ENDPOINT", std::nullopt);
    child_process child(std::move(o));
    const auto res = child.wait(120s);
    BOOST_TEST(res.exit_code == 0, res.err);
    const std::string row = summary_row(res.err, "in flight");
    BOOST_TEST(row.find("peak 4, limit 4 (--concurrency)") != std::string::npos, res.err);
    BOOST_TEST(server.get_stats().connections_accepted <= 4u);
}
#endif

BOOST_AUTO_TEST_CASE(client_default_options_fill_the_allowed_rate)
{
    mock_fixture f(slow_server());
    auto o = f.options(false);
    o.secret_key = latency_key;
    carcheck::client client(f.ioc.get_executor(), o);
    std::vector<fs::path> paths;
    for (int i = 0; i < 50; ++i)
        paths.push_back(f.image("CL" + std::to_string(i)));
    const auto start = std::chrono::steady_clock::now();
    const auto outcomes = f.run([&]() -> asio::awaitable<std::vector<carcheck::error_code>> {
        std::vector<carcheck::error_code> all;
        auto ex = co_await asio::this_coro::executor;
        asio::steady_timer done(ex, asio::steady_timer::time_point::max());
        const carcheck::recognize_options opts;
        for (int i = 0; i < images; ++i)
            client.recognize_file(paths[static_cast<std::size_t>(i) % paths.size()], opts,
                                  [&](carcheck::error_code ec, carcheck::recognition) {
                                      all.push_back(ec);
                                      if (all.size() == static_cast<std::size_t>(images))
                                          done.cancel();
                                  });
        auto [ignored] = co_await done.async_wait(asio::as_tuple(asio::use_awaitable));
        (void)ignored;
        co_return all;
    }());
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::size_t succeeded = 0;
    for (const auto& ec : outcomes)
        succeeded += !ec;
    check_counts(f.server, succeeded, seconds, "client defaults");
    const auto k = client.scheduling_counters();
    const double latency_ms = std::chrono::duration<double, std::milli>(k.observed_latency.value_or(0ns)).count();
    BOOST_TEST_MESSAGE("in flight: peak " << k.in_flight_peak << ", limit reached " << k.in_flight_limit_peak
                                          << ", latency " << latency_ms << " ms, allowed rate "
                                          << k.allowed_rate.value_or(0) << "/s");
    BOOST_TEST(k.in_flight_peak > 16u); // above the old default of max_connections
    BOOST_TEST(k.in_flight_limit_peak <= 64u);
    BOOST_TEST(k.observed_latency.value_or(0ns) >= 190ms);
}

BOOST_AUTO_TEST_SUITE_END()
