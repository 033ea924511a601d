// Recognizes a batch of images concurrently through one client and prints the best plate
// of each, in completion order. Usage:
//   CARCHECK_SECRET_KEY=... recognize_batch [--endpoint URL] [--ca-file FILE]
//                                           [--concurrency N] [--country CC] IMAGE...
// (--endpoint and --ca-file default to $CARCHECK_ENDPOINT and $CARCHECK_CA_FILE.)
#include <carcheck/carcheck.hpp>

#include <boost/asio.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace asio = boost::asio;

namespace {

struct batch {
    std::vector<std::string> images;
    std::size_t next = 0;
    std::size_t failed = 0;
};

// One of N workers: takes the next image until none is left. All workers run on the same
// single-threaded io_context, so `batch` needs no lock.
asio::awaitable<void> worker(carcheck::client& client, batch& b, const carcheck::recognize_options& opts)
{
    while (b.next < b.images.size()) {
        const std::string& image = b.images[b.next++];
        carcheck::diagnostics diag;
        auto [ec, r] = co_await client.recognize_file(image, opts, diag, asio::as_tuple(asio::deferred));
        if (ec) {
            ++b.failed;
            std::printf("%-40s  error: %s\n", image.c_str(), diag.describe(ec).c_str());
            continue;
        }
        if (r.results.empty()) {
            std::printf("%-40s  no plate\n", image.c_str());
            continue;
        }
        const auto& best = r.results.front();
        std::printf("%-40s  %-10s %5.1f%%  region=%-4s candidates=%zu\n", image.c_str(), best.plate.c_str(),
                    best.confidence, best.region.c_str(), best.candidates.size());
    }
}

} // namespace

int main(int argc, char** argv)
{
    carcheck::client_options options;
    // Defaults from the environment, as the carcheck tool and the quick start read them.
    if (const char* ep = std::getenv("CARCHECK_ENDPOINT"); ep && *ep)
        options.endpoint = ep;
    if (const char* ca = std::getenv("CARCHECK_CA_FILE"); ca && *ca)
        options.tls.ca_file = ca;
    carcheck::recognize_options opts;
    std::size_t concurrency = 8;
    batch b;
    for (int i = 1; i < argc; ++i) {
        auto value = [&](const char* name) -> const char* {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "%s needs a value\n", name);
                std::exit(2);
            }
            return argv[++i];
        };
        if (!std::strcmp(argv[i], "--endpoint"))
            options.endpoint = value("--endpoint");
        else if (!std::strcmp(argv[i], "--ca-file"))
            options.tls.ca_file = value("--ca-file");
        else if (!std::strcmp(argv[i], "--concurrency"))
            concurrency = std::strtoul(value("--concurrency"), nullptr, 10);
        else if (!std::strcmp(argv[i], "--country"))
            opts.country = value("--country");
        else
            b.images.emplace_back(argv[i]);
    }
    const char* key = std::getenv("CARCHECK_SECRET_KEY");
    if (!key || b.images.empty() || concurrency == 0) {
        std::fprintf(stderr, "usage: CARCHECK_SECRET_KEY=... %s [--endpoint URL] [--ca-file FILE] "
                             "[--concurrency N] [--country CC] IMAGE...\n", argv[0]);
        return 2;
    }
    options.secret_key = key;
    options.max_connections = concurrency;

    asio::io_context ioc;
    try {
        carcheck::client client(ioc.get_executor(), options);
        const auto started = std::chrono::steady_clock::now();
        for (std::size_t i = 0; i < concurrency; ++i)
            asio::co_spawn(ioc, worker(client, b, opts), asio::detached);
        ioc.run(); // returns when the last worker is done: idle connections arm no timer
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        const auto counters = client.connection_counters();
        std::printf("\n%zu images, %zu failed, %.2f s (%.0f images/s), %llu connections, %llu TLS handshakes "
                    "(%llu resumed), %llu reuses\n",
                    b.images.size(), b.failed, seconds, static_cast<double>(b.images.size()) / seconds,
                    static_cast<unsigned long long>(counters.connects),
                    static_cast<unsigned long long>(counters.handshakes_full + counters.handshakes_resumed),
                    static_cast<unsigned long long>(counters.handshakes_resumed),
                    static_cast<unsigned long long>(counters.reuses));
    } catch (const carcheck::api_error& e) {
        std::fprintf(stderr, "cannot create the client: %s\n", e.what());
        return 2;
    }
    return b.failed == 0 ? 0 : 1;
}
