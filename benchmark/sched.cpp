// carcheck_bench_sched: the scheduler against a rate-limited key of carcheck-mock.
//
//   carcheck-mock --key k:1000000:N:W ...
//   carcheck_bench_sched --endpoint http://127.0.0.1:PORT/v3 --key k --file IMAGE
//                        --rate N --window W --requests B [--timeout S]
//
// Submits a batch of B recognitions at once through one client (default scheduler options)
// and records, for every success, the time the mock processed it (the reply's epoch_time).
// The mock's windows are fixed, [k*W, (k+1)*W) in epoch seconds, so requests are counted
// per window. The first window (entered at a random point) and the last (the batch runs
// out) are partial; the achieved rate is the mean count of the windows in between, over N.
// 403s are counted in total and after the first window boundary (the client learns the
// limit from the first replies, so a 403 in the first window is excusable, later ones not).
// Prints one JSON line.
#include "bench_common.hpp"

#include <carcheck/client.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <cmath>
#include <map>

namespace asio = boost::asio;

int main(int argc, char** argv)
try {
    bench::args a(argc, argv, {});
    a.allow({"endpoint", "ca-file", "key", "file", "rate", "window", "requests", "timeout", "max-connections"});
    const std::string file = a.required("file");
    const std::uint64_t rate = a.num("rate", 100);
    const std::uint64_t window = a.num("window", 5);
    const std::uint64_t batch = a.num("requests", rate * 4);
    const auto timeout = std::chrono::seconds(a.num("timeout", 120));
    if (rate == 0 || window == 0 || batch == 0)
        throw std::runtime_error("--rate, --window and --requests must be positive");

    carcheck::client_options options;
    options.secret_key = a.required("key");
    options.endpoint = a.required("endpoint");
    options.max_connections = a.num("max-connections", 16);
    if (a.has("ca-file")) {
        options.tls.ca_file = a.str("ca-file");
        options.tls.use_system_roots = false;
    }
    carcheck::recognize_options ropts;
    ropts.country = "us";

    asio::io_context ioc(1);
    carcheck::client client(ioc.get_executor(), options);
    std::map<std::int64_t, std::uint64_t> per_window; // window index -> successes
    std::uint64_t ok = 0, errors = 0, finished = 0;
    std::string first_error;

    const auto wall_now = [] {
        return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    };
    const double start_epoch = wall_now();
    const auto start = bench::clock::now();
    const double first_boundary = (std::floor(start_epoch / static_cast<double>(window)) + 1) * static_cast<double>(window);

    // Snapshot of the 403 counter just after the first window boundary.
    std::optional<std::uint64_t> first_window_403;
    asio::steady_timer boundary(ioc, std::chrono::duration_cast<bench::clock::duration>(
                                          std::chrono::duration<double>(first_boundary - start_epoch + 0.1)));
    boundary.async_wait([&](const carcheck::error_code& ec) {
        if (!ec)
            first_window_403 = client.scheduling_counters().responses_403;
    });
    double finished_after = 0;
    for (std::uint64_t i = 0; i < batch; ++i) {
        asio::co_spawn(
            ioc,
            [&]() -> asio::awaitable<void> {
                carcheck::diagnostics diag;
                auto [ec, r] = co_await client.recognize_file(file, ropts, diag, asio::as_tuple(asio::deferred));
                if (ec) {
                    ++errors;
                    if (first_error.empty())
                        first_error = diag.describe(ec);
                } else {
                    ++ok;
                    const double processed = r.epoch_time > 0 ? r.epoch_time / 1000.0 : wall_now();
                    ++per_window[static_cast<std::int64_t>(std::floor(processed / static_cast<double>(window)))];
                }
                if (++finished == batch) {
                    finished_after = bench::seconds_since(start);
                    boundary.cancel();
                    client.close();
                }
            },
            [](std::exception_ptr) {});
    }
    ioc.run_for(timeout);
    const double wall = finished == batch ? finished_after : bench::seconds_since(start);
    const auto sc = client.scheduling_counters();
    if (!first_error.empty())
        std::fprintf(stderr, "carcheck_bench_sched: %llu errors, first: %s\n",
                     static_cast<unsigned long long>(errors), first_error.c_str());

    // Windows strictly between the first and the last one that saw a request.
    double full_sum = 0;
    std::uint64_t full_windows = 0;
    std::string counts = "[";
    if (!per_window.empty()) {
        const auto first = per_window.begin()->first, last = per_window.rbegin()->first;
        for (auto w = first; w <= last; ++w) {
            const auto it = per_window.find(w);
            const std::uint64_t n = it == per_window.end() ? 0 : it->second;
            counts += (w == first ? "" : ",") + std::to_string(n);
            if (w != first && w != last) {
                full_sum += static_cast<double>(n);
                ++full_windows;
            }
        }
    }
    counts += "]";
    const double allowed_rps = static_cast<double>(rate) / static_cast<double>(window);
    const double achieved_ratio = full_windows ? full_sum / static_cast<double>(full_windows) / static_cast<double>(rate)
                                               : std::nan("");
    const std::uint64_t after_first = first_window_403 ? sc.responses_403 - *first_window_403 : sc.responses_403;
    bench::json_line()
        .str("tool", "carcheck_scheduler")
        .integer("rate", rate)
        .integer("window_s", window)
        .integer("requests", batch)
        .integer("ok", ok)
        .integer("errors", errors)
        .boolean("complete", finished == batch)
        .num("seconds", wall)
        .num("allowed_rps", allowed_rps)
        .num("overall_rps", wall > 0 ? static_cast<double>(ok) / wall : 0)
        .integer("full_windows", full_windows)
        .num("achieved_ratio", achieved_ratio)
        .raw("per_window", counts)
        .integer("responses_403", sc.responses_403)
        .integer("responses_403_after_first_window", after_first)
        .integer("retried_rate_limited", sc.retried_rate_limited)
        .num("throttled_seconds", std::chrono::duration<double>(sc.throttled_time).count())
        .integer("sent", sc.sent)
        .print();
    return errors == 0 && finished == batch ? 0 : 1;
} catch (const std::exception& e) {
    std::fprintf(stderr, "carcheck_bench_sched: %s\n", e.what());
    return 2;
}
