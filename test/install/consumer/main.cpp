// A program outside the source tree that uses the installed package (either target).
#include <carcheck/carcheck.hpp>

#include <boost/asio/io_context.hpp>

#include <cstdio>

int main()
{
    boost::asio::io_context ioc;
    // Plain HTTP to a non-loopback host is refused before anything is sent.
    try {
        carcheck::client c(ioc.get_executor(), carcheck::client_options{.secret_key = "k", .endpoint = "http://example.com/v3"});
        std::puts("consumer: expected insecure_endpoint");
        return 1;
    } catch (const carcheck::api_error& e) {
        if (e.code() != carcheck::error::insecure_endpoint)
            return 1;
    }
    carcheck::client c(ioc.get_executor(), carcheck::client_options{.secret_key = "k", .endpoint = "https://127.0.0.1:1/v3"});
    std::puts("consumer: find_package(carcheck) works");
    return 0;
}
