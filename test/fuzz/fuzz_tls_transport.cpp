// Fuzz target: the TLS transport (detail::tls_socket) against a peer the input controls.
// The client runs on one end of a socketpair; on the other end sits an in-process OpenSSL
// server on memory BIOs. Each input byte is an action: deliver the server's pending output
// in a chunk of the given size, feed it what the client wrote, let the server make its
// handshake or send records of input-chosen plaintext and sizes, write raw input bytes to the
// client (a forged or corrupted flight/record), send close_notify or a key update, half-close
// or close the connection, start client reads and writes of given sizes, cancel them (socket
// cancel or cancellation slot), run the client's handlers. Every operation the client starts
// must complete, with some code, once the connection is closed at the end; nothing may crash,
// hang or leak.
#include "certificate.hpp"

#include <carcheck/detail/tls_socket.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <vector>

namespace {

namespace net = boost::asio;
using carcheck::detail::tls_socket;

struct contexts {
    SSL_CTX* server = nullptr;
    SSL_CTX* client = nullptr;
};

const contexts& shared_contexts()
{
    static const contexts c = [] {
        contexts out;
        const auto cert = carcheck::mock::generate_certificate("localhost", false);
        out.server = SSL_CTX_new(TLS_server_method());
        BIO* chain = BIO_new_mem_buf(cert.chain_pem.data(), static_cast<int>(cert.chain_pem.size()));
        X509* leaf = PEM_read_bio_X509(chain, nullptr, nullptr, nullptr);
        SSL_CTX_use_certificate(out.server, leaf);
        X509_free(leaf);
        BIO_free(chain);
        BIO* kb = BIO_new_mem_buf(cert.key_pem.data(), static_cast<int>(cert.key_pem.size()));
        EVP_PKEY* key = PEM_read_bio_PrivateKey(kb, nullptr, nullptr, nullptr);
        SSL_CTX_use_PrivateKey(out.server, key);
        EVP_PKEY_free(key);
        BIO_free(kb);
        SSL_CTX_set_num_tickets(out.server, 2);
        out.client = SSL_CTX_new(TLS_client_method());
        SSL_CTX_set_verify(out.client, SSL_VERIFY_NONE, nullptr);
        ERR_clear_error();
        return out;
    }();
    return c;
}

struct input {
    const std::uint8_t* p;
    std::size_t n;
    bool empty() const { return n == 0; }
    unsigned byte()
    {
        if (n == 0)
            return 0;
        --n;
        return *p++;
    }
    /// Up to `max` bytes of the input as data.
    std::pair<const std::uint8_t*, std::size_t> take(std::size_t max)
    {
        const std::size_t k = std::min(max, n);
        auto r = std::make_pair(p, k);
        p += k;
        n -= k;
        return r;
    }
};

struct session {
    net::io_context ioc;
    int peer_fd = -1;
    std::unique_ptr<tls_socket> client;
    SSL* server = nullptr;
    BIO* server_in = nullptr;  // what the client sent, for the server to read
    BIO* server_out = nullptr; // what the server produced, to be delivered
    bool peer_closed = false;
    bool handshake_done = false;
    int pending = 0;
    unsigned reads_ok = 0, writes_ok = 0;
    boost::system::error_code last_read;
    bool reading = false, writing = false;
    std::vector<unsigned char> read_buf = std::vector<unsigned char>(64 * 1024);
    std::vector<unsigned char> write_buf = std::vector<unsigned char>(64 * 1024, 'w');
    net::cancellation_signal read_cancel;

    bool open()
    {
        int fds[2];
        if (::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0)
            return false;
        peer_fd = fds[1];
        ::fcntl(peer_fd, F_SETFL, ::fcntl(peer_fd, F_GETFL) | O_NONBLOCK);
        net::ip::tcp::socket s(ioc);
        boost::system::error_code ec;
        s.assign(net::ip::tcp::v4(), fds[0], ec);
        if (ec) {
            ::close(fds[0]);
            return false;
        }
        client = std::make_unique<tls_socket>(std::move(s), shared_contexts().client);
        SSL_set_tlsext_host_name(client->native_handle(), "localhost");
        server = SSL_new(shared_contexts().server);
        server_in = BIO_new(BIO_s_mem());
        server_out = BIO_new(BIO_s_mem());
        SSL_set_bio(server, server_in, server_out); // owned by the server SSL now
        SSL_set_accept_state(server);
        ++pending;
        client->async_handshake([this](boost::system::error_code ec) {
            --pending;
            handshake_done = !ec;
        });
        return true;
    }

    ~session()
    {
        if (server)
            SSL_free(server);
        if (peer_fd >= 0)
            ::close(peer_fd);
        client.reset();
        ERR_clear_error();
    }

    void deliver(std::size_t max)
    {
        if (peer_closed)
            return;
        unsigned char buf[4096];
        const int k = BIO_read(server_out, buf, static_cast<int>(std::min(max, sizeof buf)));
        if (k <= 0)
            return;
        const ssize_t w = ::send(peer_fd, buf, static_cast<std::size_t>(k), MSG_NOSIGNAL);
        // What the socket did not take goes back in front of the rest (kept simple: dropped
        // bytes would only make a corrupted stream, which the raw action makes anyway).
        (void)w;
    }

    void feed_server(std::size_t max)
    {
        if (peer_closed)
            return;
        unsigned char buf[4096];
        const ssize_t k = ::recv(peer_fd, buf, std::min(max, sizeof buf), 0);
        if (k > 0)
            BIO_write(server_in, buf, static_cast<int>(k));
    }

    void server_step(input& in)
    {
        ERR_clear_error();
        if (!SSL_is_init_finished(server)) {
            SSL_do_handshake(server);
        } else {
            auto [data, len] = in.take(1 + in.byte() * 64);
            std::size_t written = 0;
            if (len)
                SSL_write_ex(server, data, len, &written);
            else
                SSL_read_ex(server, read_buf.data(), 16, &written); // drains what the client sent
        }
        ERR_clear_error();
    }

    void raw(input& in)
    {
        if (peer_closed)
            return;
        auto [data, len] = in.take(1 + in.byte());
        if (len)
            (void)::send(peer_fd, data, len, MSG_NOSIGNAL);
    }

    void start_read(unsigned size, bool with_slot)
    {
        if (reading)
            return;
        reading = true;
        ++pending;
        auto handler = [this](boost::system::error_code ec, std::size_t) {
            reads_ok += !ec;
            last_read = ec;
            reading = false;
            --pending;
        };
        const auto buffer = net::buffer(read_buf.data(), std::min<std::size_t>(size, read_buf.size()));
        if (with_slot)
            client->async_read_some(buffer, net::bind_cancellation_slot(read_cancel.slot(), handler));
        else
            client->async_read_some(buffer, handler);
    }

    void start_write(std::size_t size)
    {
        if (writing)
            return;
        writing = true;
        ++pending;
        // Two buffers, so the op walks a sequence.
        const std::size_t a = std::min<std::size_t>(size / 3, write_buf.size());
        const std::size_t b = std::min<std::size_t>(size - a, write_buf.size() - a);
        std::array<net::const_buffer, 2> bufs{net::buffer(write_buf.data(), a), net::buffer(write_buf.data() + a, b)};
        client->async_write_some(bufs, [this](boost::system::error_code ec, std::size_t) {
            writes_ok += !ec;
            writing = false;
            --pending;
        });
    }

    void special(unsigned what)
    {
        boost::system::error_code ignored;
        ERR_clear_error();
        switch (what % 7) {
        case 0:
            SSL_shutdown(server); // close_notify
            break;
        case 1:
            if (SSL_is_init_finished(server))
                SSL_key_update(server, SSL_KEY_UPDATE_REQUESTED);
            break;
        case 2:
            client->socket().cancel(ignored);
            break;
        case 3:
            read_cancel.emit(net::cancellation_type::terminal);
            break;
        case 4:
            if (!peer_closed)
                ::shutdown(peer_fd, SHUT_WR); // EOF, no close_notify
            break;
        case 5:
            if (!peer_closed) {
                ::close(peer_fd); // the peer goes away (a reset if unread data)
                peer_fd = -1;
                peer_closed = true;
            }
            break;
        case 6:
            (void)client->nothing_buffered();
            break;
        }
        ERR_clear_error();
    }
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    input in{data, size};
    session s;
    if (!s.open())
        return 0;
    for (int step = 0; step < 4000 && !in.empty(); ++step) {
        const unsigned op = in.byte();
        switch (op % 9) {
        case 0:
            s.deliver(1 + (op >> 4) * 97 + in.byte());
            break;
        case 1:
        case 2:
            s.ioc.poll();
            s.ioc.restart();
            break;
        case 3:
            s.feed_server(1 + in.byte() * 16);
            break;
        case 4:
            s.server_step(in);
            break;
        case 5:
            s.raw(in);
            break;
        case 6:
            if (s.handshake_done)
                s.start_read(1 + in.byte() * 64, (op & 0x10) != 0);
            break;
        case 7:
            if (s.handshake_done)
                s.start_write(1 + in.byte() * 256);
            break;
        case 8:
            s.special(in.byte());
            break;
        }
    }
    s.ioc.poll();
    s.ioc.restart();
    // The end of the connection: everything still pending must complete.
    boost::system::error_code ignored;
    s.client->socket().close(ignored);
    for (int i = 0; i < 100 && s.pending > 0; ++i) {
        s.ioc.poll();
        s.ioc.restart();
    }
    if (s.pending != 0)
        std::abort(); // an operation that never completed
    if (std::getenv("CARCHECK_FUZZ_TRACE")) // for making seeds: how far the input got
        std::fprintf(stderr, "handshake %s, reads ok %u (last: %s), writes ok %u\n", s.handshake_done ? "done" : "not done",
                     s.reads_ok, s.last_read.message().c_str(), s.writes_ok);
    return 0;
}
