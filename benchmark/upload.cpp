// carcheck_bench_upload: one large upload through the public API, for the 20 MB / 200 MB
// runs. Prints one JSON line with the wall time, the CPU time and the peak RSS of the process.
//
//   carcheck_bench_upload --endpoint https://127.0.0.1:PORT/v3 --ca-file PEM --file BIG
//                         [--mode multipart|base64file] [--key KEY] [--timeout S]
//
// multipart = recognize_file (multipart/form-data streamed from disk), base64file =
// recognize_base64_file (the base64 JSON string encoded block by block while sending).
#include "bench_common.hpp"

#include <carcheck/client.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/io_context.hpp>

#include <filesystem>

namespace asio = boost::asio;

int main(int argc, char** argv)
try {
    bench::args a(argc, argv, {});
    a.allow({"endpoint", "ca-file", "file", "mode", "key", "timeout"});
    const std::string file = a.required("file");
    const std::string m = a.str("mode", "multipart");
    if (m != "multipart" && m != "base64file")
        throw std::runtime_error("unknown --mode " + m);
    const auto timeout = std::chrono::seconds(a.num("timeout", 120));

    carcheck::client_options options;
    options.secret_key = a.str("key", "bench-key");
    options.endpoint = a.required("endpoint");
    options.max_connections = 1;
    options.timeouts.request = timeout;
    if (a.has("ca-file")) {
        options.tls.ca_file = a.str("ca-file");
        options.tls.use_system_roots = false;
    }
    carcheck::recognize_options ropts;
    ropts.country = "us";

    asio::io_context ioc(1);
    carcheck::client client(ioc.get_executor(), options);
    carcheck::error_code result = carcheck::error::timeout;
    carcheck::diagnostics diag;
    const long rss_before = bench::peak_rss_kib();
    const double cpu0 = bench::cpu_seconds();
    const auto t0 = bench::clock::now();
    double wall = 0;
    asio::co_spawn(
        ioc,
        [&]() -> asio::awaitable<void> {
            carcheck::error_code ec;
            if (m == "multipart") {
                auto [e, r] = co_await client.recognize_file(file, ropts, diag, asio::as_tuple(asio::deferred));
                ec = e;
            } else {
                auto [e, r] = co_await client.recognize_base64_file(file, ropts, diag, asio::as_tuple(asio::deferred));
                ec = e;
            }
            wall = bench::seconds_since(t0);
            result = ec;
            client.close();
        },
        [](std::exception_ptr) {});
    ioc.run_for(timeout + std::chrono::seconds(10)); // bounded even if the request never completes
    const double cpu = bench::cpu_seconds() - cpu0;
    if (result)
        std::fprintf(stderr, "carcheck_bench_upload: %s\n", diag.describe(result).c_str());
    const auto pc = client.connection_counters();
    bench::json_line()
        .str("tool", "carcheck")
        .str("mode", m)
        .integer("file_bytes", std::filesystem::file_size(file))
        .boolean("ok", !result)
        .num("seconds", wall)
        .num("cpu_seconds", cpu)
        .integer("peak_rss_kib", static_cast<std::uint64_t>(bench::peak_rss_kib()))
        .integer("rss_before_kib", static_cast<std::uint64_t>(rss_before))
        .integer("handshakes_full", pc.handshakes_full)
        .print();
    return result ? 1 : 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "carcheck_bench_upload: %s\n", e.what());
    return 2;
}
