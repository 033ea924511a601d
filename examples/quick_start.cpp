// The README's quick start: recognize one image with co_await.
// Usage: CARCHECK_SECRET_KEY=... quick_start IMAGE [ENDPOINT [CA_FILE]]
#include <carcheck/carcheck.hpp>

#include <boost/asio.hpp>

#include <cstdio>
#include <cstdlib>

namespace asio = boost::asio;

asio::awaitable<void> run(carcheck::client& client, const char* image)
{
    carcheck::recognize_options opts{.country = "us", .recognize_vehicle = true, .topn = 5};
    try {
        carcheck::recognition r =
            co_await client.recognize_file(image, opts, carcheck::with_diagnostics(asio::deferred));
        for (const auto& plate : r.results)
            std::printf("%s  %.1f%%  region=%s\n", plate.plate.c_str(), plate.confidence, plate.region.c_str());
        std::printf("credits used this month: %lld\n", static_cast<long long>(r.credits_monthly_used));
    } catch (const carcheck::api_error& e) {
        // e.g. "monthly credit limit exceeded (HTTP 402) (HTTP 402: ...)"; never contains the key.
        std::fprintf(stderr, "recognition failed: %s\n", e.what());
    }
}

int main(int argc, char** argv)
{
    const char* key = std::getenv("CARCHECK_SECRET_KEY");
    if (argc < 2 || !key) {
        std::fprintf(stderr, "usage: CARCHECK_SECRET_KEY=... %s IMAGE [ENDPOINT [CA_FILE]]\n", argv[0]);
        return 2;
    }
    asio::io_context ioc;
    carcheck::client_options options{.secret_key = key};
    if (argc > 2)
        options.endpoint = argv[2];
    if (argc > 3)
        options.tls.ca_file = argv[3];
    carcheck::client client(ioc.get_executor(), options);
    asio::co_spawn(ioc, run(client, argv[1]), asio::detached);
    ioc.run();
}
