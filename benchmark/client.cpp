// carcheck_bench_client: load generator over the public carcheck API.
//
//   carcheck_bench_client --endpoint https://127.0.0.1:PORT/v3 --ca-file PEM --file IMAGE
//       [--key KEY] [--mode multipart|base64file|bytes] [--concurrency C] [--requests N]
//       [--duration S] [--warmup W] [--threads T] [--max-connections M] [--no-reuse]
//       [--files-in DIR] [--thread-safe]
//
// C coroutines ("workers") share one client and each runs requests back to back until N
// requests were started or S seconds passed (both bounds always apply). A warm-up of W
// requests (default 16*C: the scheduler's in-flight limit grows by one a reply from 8 to C,
// so a shorter warm-up leaves the pool still opening connections in the measured phase)
// opens the pool first and is not measured. The io_context runs on T
// threads (default 1); on one thread the client runs without a strand
// (client_options::thread_safe off) unless --thread-safe is given. Modes: multipart =
// recognize_file (multipart, streamed from disk), base64file = recognize_base64_file,
// bytes = recognize_bytes over the image held in memory.
//
// --files-in DIR: the file modes upload the regular files of DIR in turn (sorted by name)
// instead of --file over and over: the library doing the same job as `carcheck recognize
// DIR` (distinct files, each opened and read once per request).
//
// --no-reuse: every request uses a fresh client (own SSL context, no session to resume),
// so every request pays a TCP connect and a full TLS handshake: the honest cost of not
// reusing connections. (An idle timeout of ~0 would not do it: a worker waiting for a
// connection gets the one just released.)
//
// Prints one JSON line: requests/s, p50/p99 latency, client CPU time per request
// (getrusage, all threads), heap allocations per request (the whole process, OpenSSL
// included: allocation_counter.cpp), peak RSS, and the pool's handshake counters.
#include "allocation_counter.hpp"
#include "bench_common.hpp"

#include <carcheck/client.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <thread>

namespace asio = boost::asio;

namespace {

enum class mode { multipart, base64file, bytes };

struct run_state {
    mode m = mode::multipart;
    bool reuse = true;
    carcheck::client_options options;
    carcheck::recognize_options ropts;
    std::string file;
    std::vector<std::string> files; // --files-in: uploaded in turn instead of `file`
    std::vector<std::byte> image;   // for mode::bytes
    carcheck::client* shared_client = nullptr;

    // Per phase.
    std::atomic<std::uint64_t> next{0};
    std::uint64_t limit = 0;
    bench::clock::time_point deadline;
    bool measure = false;

    std::atomic<std::uint64_t> ok{0}, errors{0};
    std::atomic<std::size_t> active{0};
    std::mutex mu; // guards the fields below (workers may run on several threads)
    std::vector<std::int64_t> latencies;
    std::string first_error;
    carcheck::pool_counters fresh_counters; // summed over fresh clients (--no-reuse)
};

asio::awaitable<std::pair<carcheck::error_code, carcheck::diagnostics>> one_request(run_state& st,
                                                                                      carcheck::client& c,
                                                                                      std::uint64_t index)
{
    const std::string& file = st.files.empty() ? st.file : st.files[index % st.files.size()];
    carcheck::diagnostics diag;
    carcheck::error_code ec;
    switch (st.m) {
    case mode::multipart: {
        auto [e, r] = co_await c.recognize_file(file, st.ropts, diag, asio::as_tuple(asio::deferred));
        ec = e;
        if (!e && r.results.empty())
            ec = carcheck::error::bad_response;
        break;
    }
    case mode::base64file: {
        auto [e, r] = co_await c.recognize_base64_file(file, st.ropts, diag, asio::as_tuple(asio::deferred));
        ec = e;
        if (!e && r.results.empty())
            ec = carcheck::error::bad_response;
        break;
    }
    case mode::bytes: {
        auto [e, r] = co_await c.recognize_bytes(std::span<const std::byte>(st.image), st.ropts, diag,
                                                 asio::as_tuple(asio::deferred));
        ec = e;
        if (!e && r.results.empty())
            ec = carcheck::error::bad_response;
        break;
    }
    }
    co_return std::make_pair(ec, std::move(diag));
}

void add_counters(carcheck::pool_counters& sum, const carcheck::pool_counters& c)
{
    sum.connects += c.connects;
    sum.handshakes_full += c.handshakes_full;
    sum.handshakes_resumed += c.handshakes_resumed;
    sum.reuses += c.reuses;
}

asio::awaitable<void> worker(run_state& st)
{
    auto ex = co_await asio::this_coro::executor;
    std::vector<std::int64_t> mine;
    for (;;) {
        if (bench::clock::now() >= st.deadline)
            break;
        const std::uint64_t index = st.next.fetch_add(1);
        if (index >= st.limit)
            break;
        const auto t0 = bench::clock::now();
        std::pair<carcheck::error_code, carcheck::diagnostics> res;
        if (st.reuse) {
            res = co_await one_request(st, *st.shared_client, index);
        } else {
            carcheck::client fresh(ex, st.options);
            res = co_await one_request(st, fresh, index);
            const auto counters = fresh.connection_counters();
            fresh.close();
            std::lock_guard lock(st.mu);
            add_counters(st.fresh_counters, counters);
        }
        const auto t1 = bench::clock::now();
        if (res.first) {
            ++st.errors;
            std::lock_guard lock(st.mu);
            if (st.first_error.empty())
                st.first_error = res.second.describe(res.first);
        } else {
            ++st.ok;
            if (st.measure)
                mine.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count());
        }
    }
    std::lock_guard lock(st.mu);
    st.latencies.insert(st.latencies.end(), mine.begin(), mine.end());
}

/// Runs one phase of `count` requests with `concurrency` workers on `threads` threads. The
/// last worker to finish stops the io_context (the client keeps timers of its own, so run()
/// would not return by itself); a watchdog stops it 30 s after the deadline regardless.
bool run_phase(asio::io_context& ioc, run_state& st, std::size_t concurrency, std::size_t threads,
               std::uint64_t count, double seconds, bool measure)
{
    st.next = 0;
    st.limit = count;
    st.measure = measure;
    st.deadline = bench::clock::now() +
                  std::chrono::duration_cast<bench::clock::duration>(std::chrono::duration<double>(seconds));
    st.ok = 0;
    st.errors = 0;
    st.active = concurrency;
    for (std::size_t i = 0; i < concurrency; ++i)
        asio::co_spawn(ioc, worker(st), [&ioc, &st](std::exception_ptr e) {
            if (e) {
                try {
                    std::rethrow_exception(e);
                } catch (const std::exception& x) {
                    std::fprintf(stderr, "carcheck_bench_client: worker failed: %s\n", x.what());
                }
            }
            if (--st.active == 0)
                ioc.stop();
        });
    bool stalled = false;
    asio::steady_timer watchdog(ioc, st.deadline + std::chrono::seconds(30));
    watchdog.async_wait([&](const carcheck::error_code& ec) {
        if (!ec && st.active.load() != 0) {
            stalled = true;
            std::fprintf(stderr, "carcheck_bench_client: requests still running after the grace period\n");
            ioc.stop();
        }
    });
    std::vector<std::thread> pool;
    for (std::size_t i = 1; i < threads; ++i)
        pool.emplace_back([&] { ioc.run(); });
    ioc.run();
    for (auto& t : pool)
        t.join();
    ioc.restart();
    return !stalled;
}

} // namespace

int main(int argc, char** argv)
try {
    bench::args a(argc, argv, {"no-reuse", "thread-safe"});
    a.allow({"endpoint", "ca-file", "file", "key", "mode", "concurrency", "requests", "duration", "warmup",
             "threads", "max-connections", "topn", "files-in"});
    run_state st;
    st.file = a.has("files-in") ? a.str("file", "") : a.required("file");
    const std::string m = a.str("mode", "multipart");
    if (m == "multipart")
        st.m = mode::multipart;
    else if (m == "base64file")
        st.m = mode::base64file;
    else if (m == "bytes")
        st.m = mode::bytes;
    else
        throw std::runtime_error("unknown --mode " + m);
    st.reuse = !a.flag("no-reuse");
    const std::size_t concurrency = a.num("concurrency", 8);
    const std::size_t threads = a.num("threads", 1);
    const std::uint64_t requests = a.num("requests", 10000);
    const double duration = a.real("duration", 10);
    const std::uint64_t warmup = a.num("warmup", st.reuse ? concurrency * 16 : 0);
    if (concurrency == 0 || threads == 0 || requests == 0)
        throw std::runtime_error("--concurrency, --threads and --requests must be positive");

    st.options.secret_key = a.str("key", "bench-key");
    st.options.endpoint = a.required("endpoint");
    st.options.max_connections = a.num("max-connections", concurrency);
    // One thread runs the io_context and starts every request: no strand needed (as the
    // carcheck tool does); --threads 2 keeps the default strand. --thread-safe forces it.
    st.options.thread_safe = threads > 1 || a.flag("thread-safe");
    if (a.has("ca-file")) {
        st.options.tls.ca_file = a.str("ca-file");
        st.options.tls.use_system_roots = false;
    }
    st.ropts.country = "us";
    if (a.has("topn"))
        st.ropts.topn = static_cast<int>(a.num("topn", 10));
    if (a.has("files-in")) {
        for (const auto& e : std::filesystem::directory_iterator(a.str("files-in")))
            if (e.is_regular_file())
                st.files.push_back(e.path().string());
        std::sort(st.files.begin(), st.files.end());
        if (st.files.empty() || st.m == mode::bytes)
            throw std::runtime_error("--files-in needs a folder with files and a file mode");
    }
    if (st.m == mode::bytes) {
        const std::string bytes = bench::read_file(st.file);
        st.image.resize(bytes.size());
        std::memcpy(st.image.data(), bytes.data(), bytes.size());
    }

    asio::io_context ioc(static_cast<int>(threads));
    std::optional<carcheck::client> client;
    if (st.reuse) {
        client.emplace(ioc.get_executor(), st.options);
        st.shared_client = &*client;
    }
    if (warmup > 0 && !run_phase(ioc, st, concurrency, threads, warmup, 10, false))
        return 1;
    const auto warm = client ? client->connection_counters() : carcheck::pool_counters{};
    st.fresh_counters = {};
    st.latencies.clear();
    st.latencies.reserve(requests);

    const double cpu0 = bench::cpu_seconds();
    const std::uint64_t allocations0 = bench::allocations();
    const auto t0 = bench::clock::now();
    const bool stalled_free = run_phase(ioc, st, concurrency, threads, requests, duration, true);
    const double wall = bench::seconds_since(t0);
    const double cpu = bench::cpu_seconds() - cpu0;
    const std::uint64_t allocations = bench::allocations() - allocations0;

    carcheck::pool_counters pc;
    if (client) {
        const auto now = client->connection_counters();
        pc.connects = now.connects - warm.connects;
        pc.handshakes_full = now.handshakes_full - warm.handshakes_full;
        pc.handshakes_resumed = now.handshakes_resumed - warm.handshakes_resumed;
        pc.reuses = now.reuses - warm.reuses;
    } else {
        pc = st.fresh_counters;
    }
    const auto total = client ? client->connection_counters() : st.fresh_counters;
    const std::uint64_t ok = st.ok, errors = st.errors;
    if (!st.first_error.empty())
        std::fprintf(stderr, "carcheck_bench_client: %llu errors, first: %s\n",
                     static_cast<unsigned long long>(errors), st.first_error.c_str());
    const double p50 = bench::percentile_ms(st.latencies, 50), p99 = bench::percentile_ms(st.latencies, 99);
    bench::json_line()
        .str("tool", "carcheck")
        .str("mode", m)
        .boolean("reuse", st.reuse)
        .integer("concurrency", concurrency)
        .integer("threads", threads)
        .boolean("thread_safe", st.options.thread_safe)
        .integer("requests", ok)
        .integer("errors", errors)
        .num("seconds", wall)
        .num("rps", wall > 0 ? static_cast<double>(ok) / wall : 0)
        .num("p50_ms", p50)
        .num("p99_ms", p99)
        .num("cpu_us_per_req", ok ? cpu * 1e6 / static_cast<double>(ok) : 0)
        .num("allocs_per_req", ok ? static_cast<double>(allocations) / static_cast<double>(ok) : 0)
        .integer("peak_rss_kib", static_cast<std::uint64_t>(bench::peak_rss_kib()))
        .integer("connects", pc.connects)
        .integer("handshakes_full", pc.handshakes_full)
        .integer("handshakes_resumed", pc.handshakes_resumed)
        .integer("reuses", pc.reuses)
        .integer("total_handshakes_full", total.handshakes_full)
        .integer("total_handshakes_resumed", total.handshakes_resumed)
        .integer("max_connections", st.options.max_connections)
        .print();
    if (client)
        client->close();
    ioc.run_for(std::chrono::seconds(2)); // let the close complete; bounded
    return errors == 0 && stalled_free ? 0 : 1;
} catch (const std::exception& e) {
    std::fprintf(stderr, "carcheck_bench_client: %s\n", e.what());
    return 2;
}
