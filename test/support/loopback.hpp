#ifndef CARCHECK_TEST_SUPPORT_LOOPBACK_HPP
#define CARCHECK_TEST_SUPPORT_LOOPBACK_HPP

// Small loopback and process helpers shared by the integration tests.

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

namespace carcheck_test {

/// A listener on 127.0.0.1 that accepts connections, reads the first `read_first` bytes of
/// each (default none) and then neither reads nor writes: a TLS handshake never completes,
/// a large upload blocks once the socket buffers are full, a request is never answered.
class silent_listener {
public:
    explicit silent_listener(boost::asio::io_context& ioc, std::size_t read_first = 0)
        : acceptor_(ioc, {boost::asio::ip::make_address("127.0.0.1"), 0}), read_first_(read_first)
    {
        accept_more();
    }

    unsigned short port() const { return acceptor_.local_endpoint().port(); }

    /// Bytes read from all connections so far.
    std::size_t bytes_read() const { return bytes_read_; }

private:
    struct held {
        explicit held(boost::asio::ip::tcp::socket s) : socket(std::move(s)) {}
        boost::asio::ip::tcp::socket socket;
        std::vector<char> buffer;
        std::size_t left = 0;
    };

    void accept_more()
    {
        acceptor_.async_accept([this](boost::system::error_code ec, boost::asio::ip::tcp::socket s) {
            if (ec)
                return;
            auto& h = *held_.emplace_back(std::make_unique<held>(std::move(s)));
            h.left = read_first_;
            read_some(h);
            accept_more();
        });
    }

    void read_some(held& h)
    {
        if (h.left == 0)
            return;
        h.buffer.resize(std::min<std::size_t>(h.left, 64 * 1024));
        h.socket.async_read_some(boost::asio::buffer(h.buffer), [this, &h](boost::system::error_code ec, std::size_t n) {
            if (ec)
                return;
            bytes_read_ += n;
            h.left -= n;
            read_some(h);
        });
    }

    boost::asio::ip::tcp::acceptor acceptor_;
    std::size_t read_first_;
    std::size_t bytes_read_ = 0;
    std::vector<std::unique_ptr<held>> held_;
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
