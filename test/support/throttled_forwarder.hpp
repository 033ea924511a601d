#ifndef CARCHECK_TEST_SUPPORT_THROTTLED_FORWARDER_HPP
#define CARCHECK_TEST_SUPPORT_THROTTLED_FORWARDER_HPP

// A loopback TCP forwarder that limits the bandwidth of each direction of each connection,
// for tests of slow links. It runs on its own thread and io_context, so the client under
// test and the mock server keep theirs.

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>
#include <memory>
#include <thread>
#include <vector>

namespace carcheck_test {

/// Accepts on 127.0.0.1 and forwards every connection to 127.0.0.1:`target_port`, at most
/// `bytes_per_second` in each direction (paced per chunk: a chunk is sent when the bytes
/// before it would have taken that long; idle time earns no burst).
///
/// stop_reading_after(n) turns it into a server that stops reading mid-upload: once n bytes
/// came from the client it neither reads from it nor forwards any more (the connection
/// stays open), so the client's writes block when the buffers are full.
class throttled_forwarder {
public:
    throttled_forwarder(unsigned short target_port, double bytes_per_second, std::size_t chunk = 16 * 1024)
        : acceptor_(ioc_, {boost::asio::ip::make_address("127.0.0.1"), 0}), target_port_(target_port),
          rate_(bytes_per_second), chunk_(chunk)
    {
        boost::asio::co_spawn(ioc_, accept_loop(), boost::asio::detached);
        thread_ = std::thread([this] { ioc_.run(); });
    }

    ~throttled_forwarder()
    {
        ioc_.stop();
        thread_.join();
    }

    throttled_forwarder(const throttled_forwarder&) = delete;
    throttled_forwarder& operator=(const throttled_forwarder&) = delete;

    unsigned short port() const { return acceptor_.local_endpoint().port(); }

    /// Each connection stops reading from its client after `n` bytes (see the class).
    void stop_reading_after(std::uint64_t n) { read_limit_ = n; }

    /// Bytes forwarded from clients to the target, all connections together.
    std::uint64_t bytes_up() const { return up_; }
    /// Bytes forwarded from the target to clients.
    std::uint64_t bytes_down() const { return down_; }
    std::size_t connections() const { return connections_; }

private:
    using tcp = boost::asio::ip::tcp;
    using clock = std::chrono::steady_clock;

    boost::asio::awaitable<void> accept_loop()
    {
        using boost::asio::as_tuple;
        using boost::asio::use_awaitable;
        for (;;) {
            auto [ec, client] = co_await acceptor_.async_accept(as_tuple(use_awaitable));
            if (ec)
                co_return;
            ++connections_;
            auto a = std::make_shared<tcp::socket>(std::move(client));
            auto b = std::make_shared<tcp::socket>(ioc_);
            auto [cec] = co_await b->async_connect({boost::asio::ip::make_address("127.0.0.1"), target_port_},
                                                   as_tuple(use_awaitable));
            if (cec)
                continue; // the client sees its connection closed
            boost::system::error_code ignored;
            a->set_option(tcp::no_delay(true), ignored);
            b->set_option(tcp::no_delay(true), ignored);
            boost::asio::co_spawn(ioc_, pump(a, b, up_, true), boost::asio::detached);
            boost::asio::co_spawn(ioc_, pump(b, a, down_, false), boost::asio::detached);
        }
    }

    boost::asio::awaitable<void> pump(std::shared_ptr<tcp::socket> from, std::shared_ptr<tcp::socket> to,
                                      std::atomic<std::uint64_t>& counter, bool from_client)
    {
        using boost::asio::as_tuple;
        using boost::asio::use_awaitable;
        std::vector<char> buf(chunk_);
        boost::asio::steady_timer pace(ioc_);
        auto next = clock::now();
        std::uint64_t moved = 0;
        for (;;) {
            std::size_t want = buf.size();
            if (from_client) {
                const std::uint64_t limit = read_limit_;
                if (moved >= limit) {
                    // A server that stopped reading: hold the connection, move nothing.
                    pace.expires_at(clock::time_point::max());
                    co_await pace.async_wait(as_tuple(use_awaitable));
                    co_return;
                }
                want = static_cast<std::size_t>(std::min<std::uint64_t>(want, limit - moved));
            }
            auto [ec, n] = co_await from->async_read_some(boost::asio::buffer(buf.data(), want), as_tuple(use_awaitable));
            if (ec) {
                boost::system::error_code ignored;
                if (ec == boost::asio::error::eof)
                    to->shutdown(tcp::socket::shutdown_send, ignored);
                else
                    to->close(ignored);
                co_return;
            }
            const auto now = clock::now();
            if (next < now)
                next = now;
            next += std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(n / rate_));
            pace.expires_at(next);
            co_await pace.async_wait(as_tuple(use_awaitable));
            auto [wec, w] = co_await boost::asio::async_write(*to, boost::asio::buffer(buf.data(), n),
                                                              as_tuple(use_awaitable));
            if (wec) {
                boost::system::error_code ignored;
                from->close(ignored);
                co_return;
            }
            moved += w;
            counter += w;
        }
    }

    boost::asio::io_context ioc_;
    tcp::acceptor acceptor_;
    unsigned short target_port_;
    double rate_;
    std::size_t chunk_;
    std::atomic<std::uint64_t> read_limit_{std::numeric_limits<std::uint64_t>::max()};
    std::atomic<std::uint64_t> up_{0}, down_{0};
    std::atomic<std::size_t> connections_{0};
    std::thread thread_;
};

} // namespace carcheck_test

#endif
