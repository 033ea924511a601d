// Recognizes one image. The secret key, the endpoint and an optional CA file come from the
// environment (CARCHECK_SECRET_KEY, CARCHECK_ENDPOINT, CARCHECK_CA_FILE), the image from argv[1].
#include <carcheck/carcheck.hpp>
#include <boost/asio.hpp>
#include <cstdio>
#include <cstdlib>
namespace asio = boost::asio;

asio::awaitable<int> recognize(carcheck::client& client, const char* image)
{
    carcheck::recognize_options opts{.country = "us", .recognize_vehicle = true, .topn = 5};
    try {
        carcheck::recognition r = co_await client.recognize_file(
            image, opts, carcheck::with_diagnostics(asio::deferred));
        for (const auto& plate : r.results)
            std::printf("%s %.1f%% %s\n", plate.plate.c_str(), plate.confidence, plate.region.c_str());
        co_return 0;
    } catch (const carcheck::api_error& e) {   // HTTP status, server text, rate limit
        std::fprintf(stderr, "%s: %s\n", image, e.what()); // never contains the secret key
        co_return 1;
    }
}

int main(int argc, char** argv)
{
    auto env = [](const char* name) { const char* v = std::getenv(name); return v ? v : ""; };
    carcheck::client_options options{.secret_key = env("CARCHECK_SECRET_KEY")};
    if (options.secret_key.empty()) {
        std::fputs("quick_start: set CARCHECK_SECRET_KEY to your secret key\n", stderr);
        return 1;
    }
    if (*env("CARCHECK_ENDPOINT"))                     // default: https://api.openalpr.com/v3
        options.endpoint = env("CARCHECK_ENDPOINT");
    if (*env("CARCHECK_CA_FILE")) {                    // trust only this CA, like curl --cacert
        options.tls.ca_file = env("CARCHECK_CA_FILE");
        options.tls.use_system_roots = false;
    }

    asio::io_context ioc;
    int status = 1;
    try {
        carcheck::client client(ioc.get_executor(), options);
        asio::co_spawn(ioc, recognize(client, argc > 1 ? argv[1] : "car.jpg"),
                       [&](std::exception_ptr e, int s) { status = e ? 1 : s; });
        ioc.run(); // returns as soon as the recognition is done
    } catch (const carcheck::api_error& e) { // unusable endpoint or CA file
        std::fprintf(stderr, "quick_start: %s\n", e.what());
    }
    return status;
}
