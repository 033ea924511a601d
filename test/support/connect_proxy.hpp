#ifndef CARCHECK_TEST_SUPPORT_CONNECT_PROXY_HPP
#define CARCHECK_TEST_SUPPORT_CONNECT_PROXY_HPP

// A loopback HTTP CONNECT proxy for tests, on its own thread: opens tunnels to loopback
// targets only, counts them, records every byte the client sent it (the CONNECT heads in
// clear and what went through the tunnels), can require a Proxy-Authorization value (407
// otherwise), can refuse every tunnel with a status, and can be closed.

#include <boost/asio.hpp>

#include <atomic>
#include <cctype>
#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace carcheck_test {

struct connect_proxy_options {
    /// When not empty, CONNECT needs exactly this Proxy-Authorization value (else 407).
    std::string required_authorization{};
    /// When not 0, every CONNECT is answered with this status (403, 502, ...).
    unsigned refuse_status = 0;
};

class connect_proxy {
public:
    using options = connect_proxy_options;

    explicit connect_proxy(options o = {})
        : opts_(std::move(o)), acceptor_(ioc_, {boost::asio::ip::make_address("127.0.0.1"), 0})
    {
        port_ = acceptor_.local_endpoint().port();
        boost::asio::co_spawn(ioc_, accept_loop(), boost::asio::detached);
        thread_ = std::thread([this] { ioc_.run(); });
    }

    ~connect_proxy()
    {
        close();
        ioc_.stop();
        thread_.join();
    }

    unsigned short port() const { return port_; }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

    std::size_t tunnels() const { return tunnels_; }
    std::size_t connections() const { return connections_; }

    /// The CONNECT request heads, as received.
    std::string heads() const
    {
        std::lock_guard lock(mutex_);
        return heads_;
    }

    /// Every byte the clients sent: the heads and what they sent through the tunnels.
    std::string client_bytes() const
    {
        std::lock_guard lock(mutex_);
        return client_bytes_;
    }

    /// Stops accepting (the port then refuses connections) and closes every connection.
    void close()
    {
        std::promise<void> done;
        boost::asio::post(ioc_, [this, &done] {
            boost::system::error_code ignored;
            acceptor_.close(ignored);
            for (auto& weak : sockets_)
                if (auto s = weak.lock())
                    s->close(ignored);
            done.set_value();
        });
        if (!ioc_.stopped())
            done.get_future().wait_for(std::chrono::seconds(10));
    }

private:
    using tcp = boost::asio::ip::tcp;
    using socket_ptr = std::shared_ptr<tcp::socket>;

    void record(std::string_view bytes, bool head)
    {
        std::lock_guard lock(mutex_);
        if (head)
            heads_.append(bytes);
        if (client_bytes_.size() < (64u << 20))
            client_bytes_.append(bytes);
    }

    boost::asio::awaitable<void> accept_loop()
    {
        for (;;) {
            auto s = std::make_shared<tcp::socket>(ioc_);
            auto [ec] = co_await acceptor_.async_accept(*s, boost::asio::as_tuple(boost::asio::use_awaitable));
            if (ec)
                co_return;
            ++connections_;
            sockets_.push_back(s);
            boost::asio::co_spawn(ioc_, serve(s), boost::asio::detached);
        }
    }

    static std::string header_value(const std::string& head, std::string_view name)
    {
        // Header names are case-insensitive; the heads here are small.
        std::string lower = head;
        for (char& c : lower)
            c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        std::string key = "\r\n" + std::string(name) + ":";
        for (char& c : key)
            c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        auto pos = lower.find(key);
        if (pos == std::string::npos)
            return {};
        pos += key.size();
        auto end = head.find("\r\n", pos);
        std::string v = head.substr(pos, end - pos);
        while (!v.empty() && v.front() == ' ')
            v.erase(v.begin());
        while (!v.empty() && v.back() == ' ')
            v.pop_back();
        return v;
    }

    boost::asio::awaitable<void> answer(socket_ptr s, std::string text)
    {
        co_await boost::asio::async_write(*s, boost::asio::buffer(text),
                                          boost::asio::as_tuple(boost::asio::use_awaitable));
        boost::system::error_code ignored;
        s->shutdown(tcp::socket::shutdown_send, ignored);
        s->close(ignored);
    }

    boost::asio::awaitable<void> serve(socket_ptr client)
    {
        using boost::asio::as_tuple;
        using boost::asio::use_awaitable;
        std::string buffer;
        auto [rec, n] = co_await boost::asio::async_read_until(*client, boost::asio::dynamic_buffer(buffer),
                                                               "\r\n\r\n", as_tuple(use_awaitable));
        if (rec)
            co_return;
        const std::string head = buffer.substr(0, n);
        record(head, true);
        buffer.erase(0, n);
        // "CONNECT host:port HTTP/1.1"
        const auto sp1 = head.find(' '), sp2 = head.find(' ', sp1 + 1);
        if (head.compare(0, sp1, "CONNECT") != 0 || sp2 == std::string::npos) {
            co_await answer(client, "HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n");
            co_return;
        }
        if (!opts_.required_authorization.empty() &&
            header_value(head, "Proxy-Authorization") != opts_.required_authorization) {
            co_await answer(client, "HTTP/1.1 407 Proxy Authentication Required\r\n"
                                    "Proxy-Authenticate: Basic realm=\"test\"\r\nContent-Length: 0\r\n\r\n");
            co_return;
        }
        if (opts_.refuse_status) {
            co_await answer(client, "HTTP/1.1 " + std::to_string(opts_.refuse_status) +
                                        " Refused By Test\r\nContent-Length: 0\r\n\r\n");
            co_return;
        }
        std::string authority = head.substr(sp1 + 1, sp2 - sp1 - 1);
        const auto colon = authority.rfind(':');
        std::string host = authority.substr(0, colon), port = authority.substr(colon + 1);
        if (host.size() > 2 && host.front() == '[')
            host = host.substr(1, host.size() - 2);
        tcp::resolver resolver(ioc_);
        auto [dec, results] = co_await resolver.async_resolve(host, port, as_tuple(use_awaitable));
        auto target = std::make_shared<tcp::socket>(ioc_);
        boost::system::error_code cec = dec ? dec : boost::asio::error::host_not_found;
        for (const auto& r : results) {
            if (!r.endpoint().address().is_loopback())
                continue; // loopback targets only
            target->close();
            std::tie(cec) = co_await target->async_connect(r.endpoint(), as_tuple(use_awaitable));
            if (!cec)
                break;
        }
        if (cec) {
            co_await answer(client, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
            co_return;
        }
        sockets_.push_back(target);
        std::string ok = "HTTP/1.1 200 Connection established\r\n\r\n";
        auto [wec, w] = co_await boost::asio::async_write(*client, boost::asio::buffer(ok), as_tuple(use_awaitable));
        if (wec)
            co_return;
        ++tunnels_;
        if (!buffer.empty()) {
            record(buffer, false);
            co_await boost::asio::async_write(*target, boost::asio::buffer(buffer), as_tuple(use_awaitable));
        }
        boost::asio::co_spawn(ioc_, pipe(target, client, false), boost::asio::detached);
        co_await pipe(client, target, true);
    }

    boost::asio::awaitable<void> pipe(socket_ptr from, socket_ptr to, bool from_client)
    {
        std::vector<char> chunk(64 * 1024);
        for (;;) {
            auto [rec, n] = co_await from->async_read_some(boost::asio::buffer(chunk),
                                                           boost::asio::as_tuple(boost::asio::use_awaitable));
            if (n && from_client)
                record(std::string_view(chunk.data(), n), false);
            if (n) {
                auto [wec, w] = co_await boost::asio::async_write(*to, boost::asio::buffer(chunk.data(), n),
                                                                  boost::asio::as_tuple(boost::asio::use_awaitable));
                if (wec)
                    rec = wec;
            }
            if (rec) {
                boost::system::error_code ignored;
                to->shutdown(tcp::socket::shutdown_send, ignored);
                if (rec != boost::asio::error::eof) {
                    from->close(ignored);
                    to->close(ignored);
                }
                co_return;
            }
        }
    }

    options opts_;
    boost::asio::io_context ioc_;
    tcp::acceptor acceptor_;
    unsigned short port_ = 0;
    std::thread thread_;
    std::vector<std::weak_ptr<tcp::socket>> sockets_; // on the proxy's thread only
    std::atomic<std::size_t> tunnels_{0}, connections_{0};
    mutable std::mutex mutex_;
    std::string heads_, client_bytes_;
};

/// A listener whose backlog is full: further connects to it get no answer at all (the
/// kernel drops their SYNs), like an address that black-holes packets.
class blackhole_listener {
public:
    explicit blackhole_listener(boost::asio::io_context& ioc)
        : acceptor_(ioc, {boost::asio::ip::make_address("127.0.0.1"), 0}, false), filler_(ioc)
    {
        acceptor_.listen(0); // room for one connection that is never accepted
        filler_.connect(acceptor_.local_endpoint());
    }
    unsigned short port() const { return acceptor_.local_endpoint().port(); }
    boost::asio::ip::tcp::endpoint endpoint() const { return acceptor_.local_endpoint(); }

private:
    boost::asio::ip::tcp::acceptor acceptor_;
    boost::asio::ip::tcp::socket filler_;
};

} // namespace carcheck_test

#endif
