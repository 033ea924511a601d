#ifndef CARCHECK_TEST_SUPPORT_LOOPBACK_HPP
#define CARCHECK_TEST_SUPPORT_LOOPBACK_HPP

// Small loopback and process helpers shared by the integration tests.

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace carcheck_test {

/// A listener on 127.0.0.1 that accepts connections and then neither reads nor writes:
/// a TLS handshake never completes, a large upload blocks once the socket buffers are full.
class silent_listener {
public:
    explicit silent_listener(boost::asio::io_context& ioc)
        : acceptor_(ioc, {boost::asio::ip::make_address("127.0.0.1"), 0})
    {
        accept_more();
    }

    unsigned short port() const { return acceptor_.local_endpoint().port(); }

private:
    void accept_more()
    {
        acceptor_.async_accept([this](boost::system::error_code ec, boost::asio::ip::tcp::socket s) {
            if (ec)
                return;
            held_.push_back(std::move(s));
            accept_more();
        });
    }

    boost::asio::ip::tcp::acceptor acceptor_;
    std::vector<boost::asio::ip::tcp::socket> held_;
};

/// Resident set size of this process in KiB (VmRSS of /proc/self/status).
inline std::size_t rss_kib()
{
    std::ifstream in("/proc/self/status");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind("VmRSS:", 0) == 0)
            return std::strtoull(line.c_str() + 6, nullptr, 10);
    return 0;
}

/// Open file descriptors of this process.
inline std::size_t open_fds()
{
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd"))
        ++n;
    return n;
}

} // namespace carcheck_test

#endif
