// The TLS transport (detail::tls_socket: OpenSSL driven on the socket) against a scripted
// loopback TLS server: records split over many small TCP segments are read intact, a large
// upload arrives byte for byte, the records of one write leave in one segment, an
// EOF without close_notify reads as stream_truncated and a close_notify as eof, a
// certificate for another name fails the handshake saying so, a pending read is cancelled
// (socket cancel and cancellation slot), and no operation completes inside its initiating
// function. The client through a forwarder that cuts every segment
// into a few bytes still gets its replies.
#include "support/mock_fixture.hpp"
#include "support/throttled_forwarder.hpp"

#include "certificate.hpp"

#include <carcheck/detail/http_connection.hpp>
#include <carcheck/detail/tls_socket.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <future>
#include <thread>
#include <vector>

using namespace carcheck_test;
using namespace std::chrono_literals;
namespace http = boost::beast::http;
using carcheck::detail::tls_socket;
using tcp = asio::ip::tcp;

namespace {

std::uint64_t fnv1a(std::uint64_t h, const unsigned char* p, std::size_t n)
{
    for (std::size_t i = 0; i < n; ++i)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}
constexpr std::uint64_t fnv_start = 0xcbf29ce484222325ull;

/// Byte i of the test patterns.
unsigned char pattern(std::uint64_t i)
{
    return static_cast<unsigned char>((i * 131 + (i >> 9)) & 0xFF);
}

const carcheck::mock::generated_certificate& certificate()
{
    static const auto c = carcheck::mock::generate_certificate("localhost", false);
    return c;
}

// The server's BIO when its output is to be cut up: each send() carries at most `chunk`
// bytes (TCP_NODELAY, so a segment each) with a short pause every few, so that the client
// sees records arrive a few bytes at a time.
struct chunk_wire {
    int fd;
    std::size_t chunk;
    std::size_t sends = 0;
};

int chunk_write(BIO* b, const char* data, std::size_t size, std::size_t* written)
{
    auto& w = *static_cast<chunk_wire*>(BIO_get_data(b));
    const ssize_t n = ::send(w.fd, data, std::min(size, w.chunk), MSG_NOSIGNAL);
    if (n < 0)
        return 0;
    if (++w.sends % 8 == 0)
        std::this_thread::sleep_for(50us);
    *written = static_cast<std::size_t>(n);
    return 1;
}

int chunk_read(BIO* b, char* data, std::size_t size, std::size_t* got)
{
    auto& w = *static_cast<chunk_wire*>(BIO_get_data(b));
    const ssize_t n = ::recv(w.fd, data, size, 0);
    if (n <= 0)
        return 0;
    *got = static_cast<std::size_t>(n);
    return 1;
}

long chunk_ctrl(BIO*, int cmd, long, void*)
{
    return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

int chunk_create(BIO* b)
{
    BIO_set_init(b, 1);
    return 1;
}

BIO_METHOD* chunk_method()
{
    static BIO_METHOD* const m = [] {
        BIO_METHOD* bm = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "test chunks");
        BIO_meth_set_write_ex(bm, chunk_write);
        BIO_meth_set_read_ex(bm, chunk_read);
        BIO_meth_set_ctrl(bm, chunk_ctrl);
        BIO_meth_set_create(bm, chunk_create);
        return bm;
    }();
    return m;
}

/// A TLS server for one connection on 127.0.0.1 (blocking OpenSSL on its own thread):
/// accepts, makes the handshake, runs `script`, closes the socket (no close_notify unless
/// the script sends one).
class tls_peer {
public:
    using script = std::function<void(SSL*, int fd)>;

    explicit tls_peer(script s, std::size_t chunk = 0) : script_(std::move(s)), chunk_(chunk)
    {
        listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof a;
        if (::bind(listener_, reinterpret_cast<sockaddr*>(&a), len) != 0 || ::listen(listener_, 4) != 0 ||
            ::getsockname(listener_, reinterpret_cast<sockaddr*>(&a), &len) != 0)
            throw std::runtime_error("tls_peer: cannot listen");
        port_ = ntohs(a.sin_port);
        thread_ = std::thread([this] { serve(); });
    }

    ~tls_peer()
    {
        ::shutdown(listener_, SHUT_RDWR);
        thread_.join();
        ::close(listener_);
    }

    unsigned short port() const { return port_; }
    bool handshake_ok() const { return handshake_ok_; }

private:
    void serve()
    {
        const int fd = ::accept(listener_, nullptr, nullptr);
        if (fd < 0)
            return;
        int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
        BIO* chain = BIO_new_mem_buf(certificate().chain_pem.data(), static_cast<int>(certificate().chain_pem.size()));
        X509* leaf = PEM_read_bio_X509(chain, nullptr, nullptr, nullptr);
        SSL_CTX_use_certificate(ctx, leaf);
        X509_free(leaf);
        while (X509* ca = PEM_read_bio_X509(chain, nullptr, nullptr, nullptr))
            SSL_CTX_add0_chain_cert(ctx, ca);
        ERR_clear_error(); // the end of the PEM text
        BIO_free(chain);
        BIO* kb = BIO_new_mem_buf(certificate().key_pem.data(), static_cast<int>(certificate().key_pem.size()));
        EVP_PKEY* key = PEM_read_bio_PrivateKey(kb, nullptr, nullptr, nullptr);
        SSL_CTX_use_PrivateKey(ctx, key);
        EVP_PKEY_free(key);
        BIO_free(kb);
        SSL* ssl = SSL_new(ctx);
        chunk_wire wire{fd, chunk_};
        if (chunk_) {
            BIO* b = BIO_new(chunk_method());
            BIO_set_data(b, &wire);
            SSL_set_bio(ssl, b, b);
        } else {
            SSL_set_fd(ssl, fd);
        }
        if (SSL_accept(ssl) == 1) {
            handshake_ok_ = true;
            script_(ssl, fd);
        }
        SSL_free(ssl);
        SSL_CTX_free(ctx);
        ::close(fd);
        ERR_clear_error();
    }

    script script_;
    std::size_t chunk_;
    int listener_ = -1;
    unsigned short port_ = 0;
    std::atomic<bool> handshake_ok_{false};
    std::thread thread_;
};

/// Reads until the client closes (or `limit` bytes), returning the count and hash.
std::pair<std::uint64_t, std::uint64_t> drain(SSL* ssl, std::uint64_t limit = ~0ull)
{
    std::vector<unsigned char> buf(64 * 1024);
    std::uint64_t count = 0, hash = fnv_start;
    while (count < limit) {
        std::size_t n = 0;
        if (SSL_read_ex(ssl, buf.data(), std::min<std::uint64_t>(buf.size(), limit - count), &n) != 1)
            break;
        hash = fnv1a(hash, buf.data(), n);
        count += n;
    }
    return {count, hash};
}

void write_all(SSL* ssl, const std::string& s)
{
    std::size_t n = 0;
    SSL_write_ex(ssl, s.data(), s.size(), &n);
}

/// The client side: a connected tls_socket verifying `host` against the test CA.
struct tls_client {
    asio::io_context ioc;
    asio::ssl::context ctx{asio::ssl::context::tls_client};
    std::unique_ptr<tls_socket> s;

    explicit tls_client(unsigned short port, const std::string& host = "localhost")
    {
        ctx.set_verify_mode(asio::ssl::verify_peer);
        ctx.add_certificate_authority(asio::buffer(certificate().ca_pem));
        tcp::socket sock(ioc);
        sock.connect({asio::ip::make_address("127.0.0.1"), port});
        sock.set_option(tcp::no_delay(true));
        s = std::make_unique<tls_socket>(std::move(sock), ctx.native_handle());
        SSL_set_tlsext_host_name(s->native_handle(), host.c_str());
        X509_VERIFY_PARAM_set1_host(SSL_get0_param(s->native_handle()), host.c_str(), host.size());
    }

    carcheck::error_code handshake()
    {
        carcheck::error_code r = asio::error::would_block;
        s->async_handshake([&](carcheck::error_code ec) { r = ec; });
        run();
        return r;
    }

    void run()
    {
        ioc.restart();
        ioc.run_for(30s);
    }
};

std::string response_head(std::size_t length)
{
    return "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: " + std::to_string(length) +
           "\r\n\r\n";
}

/// Forwards to a tls_socket, counting the reads.
struct counting_stream {
    tls_socket& s;
    std::size_t& n;
    using executor_type = tls_socket::executor_type;
    executor_type get_executor() { return s.get_executor(); }
    template <class B, class T>
    auto async_read_some(const B& b, T&& t)
    {
        ++n;
        return s.async_read_some(b, std::forward<T>(t));
    }
    template <class B, class T>
    auto async_write_some(const B& b, T&& t)
    {
        return s.async_write_some(b, std::forward<T>(t));
    }
};

} // namespace

BOOST_AUTO_TEST_SUITE(tls_transport_test)

BOOST_AUTO_TEST_CASE(reply_in_records_cut_into_small_segments)
{
    constexpr std::size_t body_size = 100'000;
    std::string body(body_size, '\0');
    for (std::size_t i = 0; i < body_size; ++i)
        body[i] = static_cast<char>(pattern(i));
    tls_peer peer(
        [&](SSL* ssl, int) {
            drain(ssl, 4); // "ping"
            const std::string reply = response_head(body_size) + body;
            // Records of many sizes, each sent a few bytes per segment.
            const std::size_t sizes[] = {1, 2, 5, 300, 16384, 7000, 1, 16384};
            std::size_t at = 0, k = 0;
            while (at < reply.size()) {
                const std::size_t n = std::min(sizes[k++ % std::size(sizes)], reply.size() - at);
                write_all(ssl, reply.substr(at, n));
                at += n;
            }
            drain(ssl);
        },
        /*chunk=*/7);
    tls_client c(peer.port());
    BOOST_REQUIRE_MESSAGE(!c.handshake(), "handshake");
    carcheck::error_code wec = asio::error::would_block;
    asio::async_write(*c.s, asio::buffer("ping", 4), [&](carcheck::error_code ec, std::size_t) { wec = ec; });
    boost::beast::flat_buffer buffer;
    http::response<http::string_body> res;
    carcheck::error_code rec = asio::error::would_block;
    std::size_t reads = 0;
    // Count the read_some calls Beast makes: far more than one per record.
    counting_stream counted{*c.s, reads};
    http::async_read(counted, buffer, res, [&](carcheck::error_code ec, std::size_t) { rec = ec; });
    c.run();
    BOOST_TEST(!wec, wec.message());
    BOOST_TEST(!rec, rec.message());
    BOOST_TEST(res.body().size() == body_size);
    BOOST_TEST((res.body() == body));
    BOOST_TEST(reads > 2u);
    c.s->socket().close();
}

BOOST_AUTO_TEST_CASE(large_upload_arrives_intact)
{
    const std::size_t total = 20u << 20; // 20 MiB in writes of uneven buffer sequences
    std::promise<std::pair<std::uint64_t, std::uint64_t>> got;
    tls_peer peer([&](SSL* ssl, int) { got.set_value(drain(ssl, total)); });
    tls_client c(peer.port());
    BOOST_REQUIRE(!c.handshake());
    std::vector<unsigned char> data(total);
    for (std::size_t i = 0; i < total; ++i)
        data[i] = pattern(i);
    const std::uint64_t expected = fnv1a(fnv_start, data.data(), total);

    std::size_t sent = 0, ops = 0;
    carcheck::error_code failed;
    std::function<void()> next = [&] {
        if (sent == total || failed)
            return;
        // Three buffers per write: 100 bytes, up to 1 MiB, up to 37 bytes.
        const std::size_t a = std::min<std::size_t>(100, total - sent);
        const std::size_t b = std::min<std::size_t>(1u << 20, total - sent - a);
        const std::size_t d = std::min<std::size_t>(37, total - sent - a - b);
        std::array<asio::const_buffer, 3> bufs{asio::buffer(data.data() + sent, a),
                                               asio::buffer(data.data() + sent + a, b),
                                               asio::buffer(data.data() + sent + a + b, d)};
        asio::async_write(*c.s, bufs, [&, n = a + b + d](carcheck::error_code ec, std::size_t w) {
            ++ops;
            if (ec)
                failed = ec;
            else
                BOOST_TEST(w == n);
            sent += w;
            next();
        });
    };
    next();
    c.run();
    BOOST_TEST(!failed, failed.message());
    BOOST_TEST(sent == total);
    auto fut = got.get_future();
    BOOST_REQUIRE(fut.wait_for(30s) == std::future_status::ready);
    const auto [count, hash] = fut.get();
    BOOST_TEST(count == total);
    BOOST_TEST(hash == expected);
    c.s->socket().close();
}

// The records of one write leave together: each but the last is sent with MSG_MORE, so the
// kernel builds one segment of them instead of one per 16 KiB record. Observable as the
// client's count of segments sent (TCP_INFO): two records over loopback (MSS ~64 KiB) go in
// one segment.
BOOST_AUTO_TEST_CASE(records_of_one_write_leave_in_one_segment)
{
    constexpr std::size_t total = tls_socket::max_record + 4000; // two records
    std::promise<std::pair<std::uint64_t, std::uint64_t>> got;
    tls_peer peer([&](SSL* ssl, int) {
        drain(ssl, 4); // "ping"
        write_all(ssl, "pong");
        got.set_value(drain(ssl, total));
    });
    tls_client c(peer.port());
    BOOST_REQUIRE(!c.handshake());
    // A round trip first: the server's session tickets are read and acknowledged, so that
    // no ACK of the client's falls into the count below.
    carcheck::error_code ec = asio::error::would_block;
    asio::async_write(*c.s, asio::buffer("ping", 4), [&](carcheck::error_code e, std::size_t) { ec = e; });
    c.run();
    BOOST_REQUIRE(!ec);
    std::array<char, 4> pong{};
    ec = asio::error::would_block;
    asio::async_read(*c.s, asio::buffer(pong), [&](carcheck::error_code e, std::size_t) { ec = e; });
    c.run();
    BOOST_REQUIRE(!ec);
    std::this_thread::sleep_for(100ms); // past a delayed ACK of the pong

    // tcpi_segs_out (Linux 4.2) follows the fields glibc's struct tcp_info knows.
    struct kernel_tcp_info {
        ::tcp_info base;
        std::uint64_t pacing_rate, max_pacing_rate, bytes_acked, bytes_received;
        std::uint32_t segs_out, segs_in;
    };
    auto segments_out = [&] {
        kernel_tcp_info info{};
        socklen_t len = sizeof info;
        BOOST_REQUIRE(::getsockopt(c.s->socket().native_handle(), IPPROTO_TCP, TCP_INFO, &info, &len) == 0);
        BOOST_REQUIRE(len >= offsetof(kernel_tcp_info, segs_in));
        return info.segs_out;
    };
    std::vector<unsigned char> data(total);
    for (std::size_t i = 0; i < total; ++i)
        data[i] = pattern(i);
    const auto before = segments_out();
    ec = asio::error::would_block;
    std::size_t written = 0;
    c.s->async_write_some(asio::buffer(data), [&](carcheck::error_code e, std::size_t n) {
        ec = e;
        written = n;
    });
    c.run();
    const auto after = segments_out();
    BOOST_TEST(!ec, ec.message());
    BOOST_TEST(written == total);
    BOOST_TEST(after - before == 1u); // a segment per record would be two
    auto fut = got.get_future();
    BOOST_REQUIRE(fut.wait_for(30s) == std::future_status::ready);
    const auto [count, hash] = fut.get();
    BOOST_TEST(count == total);
    BOOST_TEST(hash == fnv1a(fnv_start, data.data(), total));
    c.s->socket().close();
}

BOOST_AUTO_TEST_CASE(eof_without_close_notify_mid_response_is_truncation)
{
    tls_peer peer([](SSL* ssl, int fd) {
        write_all(ssl, response_head(1000) + "only the start");
        ::shutdown(fd, SHUT_RDWR); // a TCP close, no close_notify
    });
    tls_client c(peer.port());
    BOOST_REQUIRE(!c.handshake());
    boost::beast::flat_buffer buffer;
    http::response<http::string_body> res;
    carcheck::error_code rec;
    http::async_read(*c.s, buffer, res, [&](carcheck::error_code ec, std::size_t) { rec = ec; });
    c.run();
    BOOST_TEST((rec == asio::ssl::error::stream_truncated), rec.message());
    BOOST_TEST(carcheck::detail::is_closed_by_peer(rec));
    // What the exchange makes of it once part of the reply came: a truncated response.
    carcheck::detail::exchange_result r;
    r.response_started = true;
    carcheck::detail::fail_exchange(r, rec, "reading the response");
    BOOST_TEST((r.ec == carcheck::error::bad_response));
    // Before any byte of the reply: the server closed the connection.
    carcheck::detail::exchange_result early;
    carcheck::detail::fail_exchange(early, rec, "reading the response");
    BOOST_TEST((early.ec == carcheck::error::connection_closed));
}

BOOST_AUTO_TEST_CASE(close_notify_reads_as_eof)
{
    tls_peer peer([](SSL* ssl, int) {
        write_all(ssl, "partial");
        SSL_shutdown(ssl); // close_notify
    });
    tls_client c(peer.port());
    BOOST_REQUIRE(!c.handshake());
    std::string got;
    char buf[64];
    carcheck::error_code last;
    std::function<void()> read = [&] {
        c.s->async_read_some(asio::buffer(buf), [&](carcheck::error_code ec, std::size_t n) {
            got.append(buf, n);
            if (ec)
                last = ec;
            else
                read();
        });
    };
    read();
    c.run();
    BOOST_TEST(got == "partial");
    BOOST_TEST((last == asio::error::eof), last.message());
    // Through Beast: a message cut short by close_notify is a partial message.
    tls_peer peer2([](SSL* ssl, int) {
        write_all(ssl, response_head(100) + "abc");
        SSL_shutdown(ssl);
    });
    tls_client c2(peer2.port());
    BOOST_REQUIRE(!c2.handshake());
    boost::beast::flat_buffer buffer;
    http::response<http::string_body> res;
    carcheck::error_code rec;
    http::async_read(*c2.s, buffer, res, [&](carcheck::error_code ec, std::size_t) { rec = ec; });
    c2.run();
    BOOST_TEST((rec == http::error::partial_message), rec.message());
    BOOST_TEST(carcheck::detail::is_closed_by_peer(rec));
}

BOOST_AUTO_TEST_CASE(certificate_for_another_name_fails_the_handshake)
{
    tls_peer peer([](SSL*, int) {});
    tls_client c(peer.port(), "api.example.org");
    const carcheck::error_code ec = c.handshake();
    BOOST_TEST(ec.failed());
    BOOST_TEST(carcheck::is_certificate_verification_failure(ec), ec.message());
    BOOST_TEST(ec.message().find("certificate verify failed") != std::string::npos, ec.message());
    const long verify = SSL_get_verify_result(c.s->native_handle());
    BOOST_TEST(std::string(X509_verify_cert_error_string(verify)).find("mismatch") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(pending_read_is_cancelled)
{
    std::promise<void> client_done;
    auto done = client_done.get_future().share();
    tls_peer peer([done](SSL*, int) { done.wait_for(30s); });
    tls_client c(peer.port());
    BOOST_REQUIRE(!c.handshake());
    char buf[16];

    // socket().cancel(), as the watchdog and the client do.
    carcheck::error_code first = asio::error::would_block;
    c.s->async_read_some(asio::buffer(buf), [&](carcheck::error_code ec, std::size_t) { first = ec; });
    asio::steady_timer t(c.ioc, 50ms);
    t.async_wait([&](carcheck::error_code) { c.s->socket().cancel(); });
    c.run();
    BOOST_TEST((first == asio::error::operation_aborted), first.message());

    // The operation's cancellation slot.
    asio::cancellation_signal signal;
    carcheck::error_code second = asio::error::would_block;
    c.s->async_read_some(asio::buffer(buf), asio::bind_cancellation_slot(signal.slot(), [&](carcheck::error_code ec,
                                                                                            std::size_t) {
                             second = ec;
                         }));
    t.expires_after(50ms);
    t.async_wait([&](carcheck::error_code) { signal.emit(asio::cancellation_type::terminal); });
    c.run();
    BOOST_TEST((second == asio::error::operation_aborted), second.message());

    // A read on a closed socket fails at once (the descriptor number may be another's now).
    c.s->socket().close();
    carcheck::error_code third = asio::error::would_block;
    c.s->async_read_some(asio::buffer(buf), [&](carcheck::error_code ec, std::size_t) { third = ec; });
    c.run();
    BOOST_TEST((third == asio::error::bad_descriptor), third.message());
    client_done.set_value();
}

BOOST_AUTO_TEST_CASE(operations_never_complete_inside_their_initiation)
{
    std::promise<void> client_done;
    auto done = client_done.get_future().share();
    tls_peer peer([done](SSL* ssl, int) {
        drain(ssl, 5);
        write_all(ssl, "hello world");
        done.wait_for(30s);
    });
    tls_client c(peer.port());
    BOOST_REQUIRE(!c.handshake());

    // A small write on a writable socket succeeds at the first SSL_write_ex.
    bool initiating = true, inline_completion = false, completed = false;
    c.s->async_write_some(asio::buffer("hello", 5), [&](carcheck::error_code ec, std::size_t n) {
        inline_completion = initiating;
        completed = !ec && n == 5;
    });
    initiating = false;
    BOOST_TEST(!completed);
    c.run();
    BOOST_TEST(completed);
    BOOST_TEST(!inline_completion);

    // A read of one byte waits; the rest of the record is then inside OpenSSL, and the
    // next read finds it at once -- and still completes later.
    char one = 0;
    c.s->async_read_some(asio::buffer(&one, 1), [&](carcheck::error_code, std::size_t) {});
    c.run();
    BOOST_TEST(one == 'h');
    BOOST_TEST(!c.s->nothing_buffered()); // "ello world" waits there
    char rest[32];
    std::size_t got = 0;
    initiating = true;
    inline_completion = false;
    c.s->async_read_some(asio::buffer(rest), [&](carcheck::error_code, std::size_t n) {
        inline_completion = initiating;
        got = n;
    });
    initiating = false;
    c.run();
    BOOST_TEST(!inline_completion);
    BOOST_TEST(std::string(rest, got) == "ello world");
    BOOST_TEST(c.s->nothing_buffered());
    client_done.set_value();
    c.s->socket().close();
}

BOOST_AUTO_TEST_CASE(client_through_segments_of_a_few_bytes)
{
    mock_fixture f;
    // Every chunk forwarded is 5 bytes: records arrive over many reads, in both directions.
    throttled_forwarder fwd(f.server.https_port(), 1e9, 5);
    auto o = f.options();
    o.endpoint = "https://127.0.0.1:" + std::to_string(fwd.port()) + "/v3";
    carcheck::client c(f.ioc.get_executor(), o);
    BOOST_TEST(!f.run(c.get_config()).countries.empty());
    const carcheck::recognize_options opts;
    auto r = f.run(c.recognize_file(f.image("SEG5", 20'000), opts));
    BOOST_REQUIRE(!r.results.empty());
    BOOST_TEST(r.results[0].plate == "SEG5");
    BOOST_TEST(c.connection_counters().reuses >= 1u); // the idle connection looked alive
}

BOOST_AUTO_TEST_SUITE_END()
