#ifndef CARCHECK_IMPL_TLS_SOCKET_IPP
#define CARCHECK_IMPL_TLS_SOCKET_IPP

#include <carcheck/detail/tls_socket.hpp>

#include <boost/asio/ssl/error.hpp>
#include <boost/system/system_error.hpp>

#include <openssl/bio.h>
#include <openssl/err.h>

#include <sys/socket.h>
#include <sys/types.h>

#include <cerrno>

namespace carcheck::detail {

namespace tls_wire {

// OpenSSL's own socket BIO writes with write(2), which raises SIGPIPE on a connection the
// peer closed; a library must not. This one sends with MSG_NOSIGNAL and otherwise does what
// the socket BIO does: retry flags on would-block, EOF remembered for BIO_eof.

inline tls_socket::wire& wire_of(BIO* b) noexcept
{
    return *static_cast<tls_socket::wire*>(BIO_get_data(b));
}

inline int write_ex(BIO* b, const char* data, std::size_t size, std::size_t* written)
{
    BIO_clear_retry_flags(b);
    *written = 0;
    for (;;) {
        const ssize_t n = ::send(wire_of(b).fd, data, size, MSG_NOSIGNAL | (wire_of(b).more ? MSG_MORE : 0));
        if (n >= 0) {
            *written = static_cast<std::size_t>(n);
            return 1;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            BIO_set_retry_write(b);
        return 0; // errno stays for SSL_ERROR_SYSCALL
    }
}

inline int read_ex(BIO* b, char* data, std::size_t size, std::size_t* got)
{
    BIO_clear_retry_flags(b);
    *got = 0;
    for (;;) {
        const ssize_t n = ::recv(wire_of(b).fd, data, size, 0);
        if (n > 0) {
            *got = static_cast<std::size_t>(n);
            return 1;
        }
        if (n == 0) {
            wire_of(b).eof = true;
            return 0;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            BIO_set_retry_read(b);
        return 0;
    }
}

inline long ctrl(BIO* b, int cmd, long, void*)
{
    switch (cmd) {
    case BIO_CTRL_FLUSH:
    case BIO_CTRL_DUP:
        return 1;
    case BIO_CTRL_EOF:
        return wire_of(b).eof ? 1 : 0;
    default:
        return 0;
    }
}

inline int create(BIO* b)
{
    BIO_set_init(b, 1);
    return 1;
}

inline int destroy(BIO*)
{
    return 1;
}

/// Made once, kept for the life of the process.
inline BIO_METHOD* method()
{
    static BIO_METHOD* const m = [] {
        BIO_METHOD* bm = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "carcheck socket");
        if (bm) {
            BIO_meth_set_write_ex(bm, write_ex);
            BIO_meth_set_read_ex(bm, read_ex);
            BIO_meth_set_ctrl(bm, ctrl);
            BIO_meth_set_create(bm, create);
            BIO_meth_set_destroy(bm, destroy);
        }
        return bm;
    }();
    return m;
}

// SSL_get_error() reads the thread's error queue, so it must be empty before each call into
// OpenSSL. ERR_clear_error() rewrites all of its slots (~100 ns, several times a request);
// looking first costs a sixth of that and the queue is almost always empty already.
inline void empty_error_queue() noexcept
{
    if (ERR_peek_error() != 0)
        ERR_clear_error();
}

[[noreturn]] inline void fail(const char* what)
{
    const unsigned long e = ERR_get_error();
    throw boost::system::system_error(
        e ? error_code(static_cast<int>(e), boost::asio::error::get_ssl_category())
          : error_code(boost::asio::error::no_memory),
        what);
}

} // namespace tls_wire

CARCHECK_DECL tls_socket::tls_socket(socket_type socket, SSL_CTX* ctx) : socket_(std::move(socket))
{
    socket_.non_blocking(true); // throws as Asio does
    wire_.fd = socket_.native_handle();
    BIO_METHOD* m = tls_wire::method();
    if (!m)
        tls_wire::fail("tls_socket: BIO_meth_new");
    tls_wire::empty_error_queue();
    ssl_ = SSL_new(ctx);
    if (!ssl_)
        tls_wire::fail("tls_socket: SSL_new");
    BIO* bio = BIO_new(m);
    if (!bio) {
        SSL_free(ssl_);
        ssl_ = nullptr;
        tls_wire::fail("tls_socket: BIO_new");
    }
    BIO_set_data(bio, &wire_);
    SSL_set_bio(ssl_, bio, bio); // one reference, owned by the SSL
    // Several records per write (each call may return after one); a retried write may come
    // from another address holding the same bytes.
    SSL_set_mode(ssl_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    // A record is read with one recv(), together with whatever follows it.
    SSL_set_read_ahead(ssl_, 1);
    SSL_set_connect_state(ssl_);
}

CARCHECK_DECL tls_socket::~tls_socket()
{
    if (ssl_)
        SSL_free(ssl_); // and the BIO; no close_notify is sent
}

CARCHECK_DECL tls_step tls_socket::outcome(int ret, int sys)
{
    namespace net = boost::asio;
    tls_step st;
    switch (SSL_get_error(ssl_, ret)) {
    case SSL_ERROR_WANT_READ:
        st.next = tls_step::wait::read;
        break;
    case SSL_ERROR_WANT_WRITE:
        st.next = tls_step::wait::write;
        break;
    case SSL_ERROR_ZERO_RETURN: // close_notify
        st.ec = net::error::eof;
        break;
    case SSL_ERROR_SYSCALL:
        if (const unsigned long e = ERR_get_error())
            st.ec = error_code(static_cast<int>(e), net::error::get_ssl_category());
        else if (sys != 0)
            st.ec = error_code(sys, net::error::get_system_category());
        else
            st.ec = net::ssl::error::stream_truncated; // EOF without close_notify
        break;
    case SSL_ERROR_SSL:
        if (const unsigned long e = ERR_get_error()) {
            if (ERR_GET_LIB(e) == ERR_LIB_SSL && ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
                st.ec = net::ssl::error::stream_truncated;
            else
                st.ec = error_code(static_cast<int>(e), net::error::get_ssl_category());
        } else {
            st.ec = net::ssl::error::unexpected_result;
        }
        break;
    default:
        st.ec = net::ssl::error::unexpected_result;
        break;
    }
    tls_wire::empty_error_queue();
    return st;
}

CARCHECK_DECL tls_step tls_socket::handshake_step()
{
    tls_wire::empty_error_queue();
    errno = 0;
    const int r = SSL_do_handshake(ssl_);
    const int sys = errno;
    if (r == 1)
        return {};
    return outcome(r, sys);
}

CARCHECK_DECL tls_step tls_socket::read_step(void* data, std::size_t size, std::size_t& done)
{
    tls_wire::empty_error_queue();
    errno = 0;
    std::size_t n = 0;
    const int r = SSL_read_ex(ssl_, data, size, &n);
    const int sys = errno;
    if (r == 1) {
        done = n;
        return {};
    }
    return outcome(r, sys);
}

CARCHECK_DECL tls_step tls_socket::write_step(const void* data, std::size_t size, std::size_t& written, bool more)
{
    tls_wire::empty_error_queue();
    errno = 0;
    std::size_t n = 0;
    wire_.more = more;
    const int r = SSL_write_ex(ssl_, data, size, &n);
    const int sys = errno;
    wire_.more = false; // handshake messages and alerts are never held back
    if (r == 1) {
        written = n;
        return {};
    }
    written = 0;
    return outcome(r, sys);
}

CARCHECK_DECL bool tls_socket::nothing_buffered() noexcept
{
    if (!SSL_has_pending(ssl_))
        return true;
    // Bytes inside OpenSSL (read ahead with the last record): a session ticket or a key
    // update is processed and forgotten; data or a close_notify means not idle.
    tls_wire::empty_error_queue();
    unsigned char c = 0;
    std::size_t n = 0;
    const int r = SSL_peek_ex(ssl_, &c, 1, &n);
    if (r == 1)
        return false;
    const int e = SSL_get_error(ssl_, r);
    tls_wire::empty_error_queue();
    return e == SSL_ERROR_WANT_READ && !SSL_has_pending(ssl_);
}

} // namespace carcheck::detail

#endif
