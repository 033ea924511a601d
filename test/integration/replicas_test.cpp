// Several replicas on one API key, against the mock's rate window: `carcheck` processes
// started together, and several carcheck::client objects in one process. They see each
// other only through the X-RateLimit-* headers. Every image must succeed, 403s stay at
// most 5 % of the requests, and the batch takes at most 1.2 x the time the allowed rate
// needs. Slow (tens of seconds of real windows): registered for the unsanitized build only.

#include "support/mock_fixture.hpp"
#include "support/process.hpp"

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

namespace {

using namespace std::chrono_literals;
using namespace carcheck_test;
namespace mock = carcheck::mock;

const std::string shared_key = "replicas-shared-key-51d2";

struct shared_window {
    int replicas;
    int images_each;
    std::int64_t limit;
    std::chrono::seconds window;

    double ideal_seconds() const
    {
        return static_cast<double>(replicas * images_each) * static_cast<double>(window.count()) /
               static_cast<double>(limit);
    }
};

mock::server_options key_for(const shared_window& w)
{
    mock::server_options o;
    o.keys.push_back(mock::key_config{.key = shared_key, .rate_limit = w.limit, .window = w.window});
    return o;
}

// Checks the issue's bounds against what the mock itself counted.
void check_run(const char* what, const shared_window& w, const mock::server& server, double seconds,
               std::size_t succeeded)
{
    const auto stats = server.get_stats();
    const auto refused = stats.responses_by_status.count(403) ? stats.responses_by_status.at(403) : 0u;
    const auto ok = stats.responses_by_status.count(200) ? stats.responses_by_status.at(200) : 0u;
    BOOST_TEST_MESSAGE(what << ": " << w.replicas << " x " << w.images_each << " on " << w.limit << "/"
                            << w.window.count() << " s: " << stats.requests << " requests, " << refused
                            << " 403, " << seconds << " s (ideal " << w.ideal_seconds() << " s)");
    const auto total = static_cast<std::size_t>(w.replicas * w.images_each);
    BOOST_TEST(succeeded == total);
    BOOST_TEST(ok == total); // each image charged once
    BOOST_TEST(static_cast<double>(refused) <= 0.05 * static_cast<double>(stats.requests));
    BOOST_TEST(seconds <= 1.2 * w.ideal_seconds());
}

#ifdef CARCHECK_CLI_EXECUTABLE
void run_cli_replicas(const shared_window& w)
{
    mock::server server(key_for(w));
    server.start();
    temp_dir dir;
    const std::string endpoint = "http://127.0.0.1:" + std::to_string(server.http_port()) + "/v3";
    std::vector<std::vector<std::string>> args;
    for (int r = 0; r < w.replicas; ++r) {
        const fs::path folder = dir.path / ("replica" + std::to_string(r));
        fs::create_directories(folder);
        for (int i = 0; i < w.images_each; ++i) {
            const std::string plate = "R" + std::to_string(r) + "N" + std::to_string(i);
            write_file(folder / (plate + ".jpg"), image_bytes(plate));
        }
        args.push_back({CARCHECK_CLI_EXECUTABLE, "recognize", "--endpoint", endpoint, "--concurrency", "16",
                        "--quiet", "--output", (dir.path / ("out" + std::to_string(r) + ".jsonl")).string(),
                        folder.string()});
    }
    const auto start = std::chrono::steady_clock::now();
    std::vector<std::unique_ptr<child_process>> children;
    for (auto& a : args) {
        process_options o;
        o.args = a;
        o.env.emplace("CARCHECK_SECRET_KEY", shared_key);
        o.env.emplace("CARCHECK_ENDPOINT", std::nullopt);
        children.push_back(std::make_unique<child_process>(std::move(o)));
    }
    std::size_t succeeded = 0;
    for (std::size_t r = 0; r < children.size(); ++r) {
        const auto res = children[r]->wait(120s);
        BOOST_TEST(res.exit_code == 0, "replica " << r << ": " << res.err);
        std::ifstream out(dir.path / ("out" + std::to_string(r) + ".jsonl"));
        for (std::string line; std::getline(out, line);)
            if (line.rfind("{\"input\":", 0) == 0 && line.find(",\"ok\":true,") != std::string::npos)
                ++succeeded;
            else if (!line.empty())
                BOOST_TEST_MESSAGE("replica " << r << " failed: " << line.substr(0, 300));
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    check_run("CLI processes", w, server, seconds, succeeded);
}
#endif

void run_client_replicas(const shared_window& w)
{
    mock_fixture f(key_for(w));
    std::vector<std::unique_ptr<carcheck::client>> clients;
    for (int r = 0; r < w.replicas; ++r) {
        auto o = f.options(false);
        o.secret_key = shared_key;
        clients.push_back(std::make_unique<carcheck::client>(f.ioc.get_executor(), o));
    }
    std::vector<fs::path> images;
    for (int i = 0; i < w.images_each; ++i)
        images.push_back(f.image("LIB" + std::to_string(i)));
    const auto start = std::chrono::steady_clock::now();
    const auto outcomes = f.run([&]() -> asio::awaitable<std::vector<carcheck::error_code>> {
        std::vector<carcheck::error_code> all;
        const auto total = static_cast<std::size_t>(w.replicas * w.images_each);
        auto ex = co_await asio::this_coro::executor;
        asio::steady_timer done(ex, asio::steady_timer::time_point::max());
        const carcheck::recognize_options opts;
        for (auto& c : clients)
            for (const auto& image : images)
                c->recognize_file(image, opts, [&](carcheck::error_code ec, carcheck::recognition) {
                    all.push_back(ec);
                    if (all.size() == total)
                        done.cancel();
                });
        auto [ignored] = co_await done.async_wait(asio::as_tuple(asio::use_awaitable));
        (void)ignored;
        co_return all;
    }());
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::size_t succeeded = 0;
    for (const auto& ec : outcomes) {
        if (!ec)
            ++succeeded;
        else
            BOOST_TEST_MESSAGE("failed: " << ec.message());
    }
    check_run("clients in one process", w, f.server, seconds, succeeded);
}

} // namespace

BOOST_AUTO_TEST_SUITE(replicas_test)

#ifdef CARCHECK_CLI_EXECUTABLE
BOOST_AUTO_TEST_CASE(four_cli_processes_share_40_per_2s)
{
    run_cli_replicas({.replicas = 4, .images_each = 100, .limit = 40, .window = 2s});
}

BOOST_AUTO_TEST_CASE(sixteen_cli_processes_share_80_per_2s)
{
    run_cli_replicas({.replicas = 16, .images_each = 25, .limit = 80, .window = 2s});
}
#endif

BOOST_AUTO_TEST_CASE(four_clients_share_40_per_2s)
{
    run_client_replicas({.replicas = 4, .images_each = 100, .limit = 40, .window = 2s});
}

BOOST_AUTO_TEST_CASE(sixteen_clients_share_80_per_2s)
{
    run_client_replicas({.replicas = 16, .images_each = 25, .limit = 80, .window = 2s});
}

BOOST_AUTO_TEST_SUITE_END()
