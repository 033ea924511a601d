#ifndef CARCHECK_DETAIL_TLS_SOCKET_HPP
#define CARCHECK_DETAIL_TLS_SOCKET_HPP

#include <carcheck/config.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>

#include <openssl/ssl.h>

#include <algorithm>
#include <cstddef>
#include <type_traits>
#include <utility>

namespace carcheck::detail {

/// What one round of OpenSSL calls left to do: wait for the socket, or finish.
struct tls_step {
    enum class wait { none, read, write };
    wait next = wait::none;
    error_code ec;
};

/// A TLS client connection driven directly on its TCP socket: OpenSSL reads and writes the
/// (non-blocking) descriptor itself through a small socket BIO, and the socket's readiness
/// (async_wait) says when to call it again. No memory BIOs, no copy of the ciphertext, and
/// one write operation sends as many records as the socket takes.
///
/// A Beast/Asio AsyncReadStream and AsyncWriteStream: async_read_some reads into the first
/// non-empty buffer; async_write_some writes the whole buffer sequence (several records)
/// before it completes. Every operation completes through the executor, never inside its
/// initiating function; each honours its cancellation slot (terminal) and socket().cancel().
/// One read and one write may be outstanding at the same time; calls are made on one
/// strand. Error codes are those of Asio's SSL stream: ssl category for protocol errors
/// (ERR_get_error()), asio::error::eof after a close_notify, ssl::error::stream_truncated for
/// an EOF without one, system errors (connection_reset, ...) from the socket.
class tls_socket {
public:
    using executor_type = boost::asio::any_io_executor;
    using socket_type = boost::asio::ip::tcp::socket;

    /// Takes a connected socket; a new client SSL on it from `ctx`. Throws
    /// boost::system::system_error when OpenSSL cannot make one.
    CARCHECK_DECL tls_socket(socket_type socket, SSL_CTX* ctx);
    CARCHECK_DECL ~tls_socket();
    tls_socket(const tls_socket&) = delete;
    tls_socket& operator=(const tls_socket&) = delete;

    /// The largest plaintext of one TLS record (RFC 8446 5.1): one SSL_write_ex call with
    /// SSL_MODE_ENABLE_PARTIAL_WRITE sends at most this much.
    static constexpr std::size_t max_record = 16384;

    executor_type get_executor() noexcept { return socket_.get_executor(); }
    socket_type& socket() noexcept { return socket_; }
    SSL* native_handle() noexcept { return ssl_; }

    /// No byte is waiting, decrypted or not, inside OpenSSL, and nothing that arrived was
    /// application data or a close: an idle connection that may take a request. Processes
    /// non-application records (session tickets, key updates) it finds buffered.
    CARCHECK_DECL bool nothing_buffered() noexcept;

    /// The TLS client handshake (SNI, verification and the session to resume are set on
    /// native_handle() before). Handler: void(error_code).
    template <class Token>
    auto async_handshake(Token&& token)
    {
        return boost::asio::async_compose<Token, void(error_code)>(op<handshake_action>{*this, {}}, token,
                                                                   socket_);
    }

    /// Handler: void(error_code, std::size_t).
    template <class MutableBufferSequence, class Token>
    auto async_read_some(const MutableBufferSequence& buffers, Token&& token)
    {
        read_action a;
        for (auto it = boost::asio::buffer_sequence_begin(buffers); it != boost::asio::buffer_sequence_end(buffers);
             ++it) {
            boost::asio::mutable_buffer b(*it);
            if (b.size() != 0) {
                a.buffer = b;
                break;
            }
        }
        return boost::asio::async_compose<Token, void(error_code, std::size_t)>(op<read_action>{*this, a}, token,
                                                                                socket_);
    }

    /// Handler: void(error_code, std::size_t); completes when every byte was written (or
    /// on an error, with the bytes of the records sent before it).
    template <class ConstBufferSequence, class Token>
    auto async_write_some(const ConstBufferSequence& buffers, Token&& token)
    {
        return boost::asio::async_compose<Token, void(error_code, std::size_t)>(
            op<write_action<ConstBufferSequence>>{*this, write_action<ConstBufferSequence>{buffers}}, token,
            socket_);
    }

private:
    struct handshake_action {
        using result = void;
        tls_step operator()(tls_socket& s) { return s.handshake_step(); }
        std::size_t transferred() const noexcept { return 0; }
    };

    struct read_action {
        using result = std::size_t;
        boost::asio::mutable_buffer buffer;
        std::size_t done = 0;
        tls_step operator()(tls_socket& s)
        {
            if (buffer.size() == 0)
                return {};
            return s.read_step(buffer.data(), buffer.size(), done);
        }
        std::size_t transferred() const noexcept { return done; }
    };

    template <class ConstBufferSequence>
    struct write_action {
        using result = std::size_t;
        ConstBufferSequence buffers;
        std::size_t done = 0;
        tls_step operator()(tls_socket& s)
        {
            // The position is found again from the start each round (the op is moved
            // between rounds, so no iterator into `buffers` is kept); rounds are few.
            std::size_t left = boost::asio::buffer_size(buffers) - done;
            std::size_t skip = done;
            for (auto it = boost::asio::buffer_sequence_begin(buffers); it != boost::asio::buffer_sequence_end(buffers);
                 ++it) {
                boost::asio::const_buffer b(*it);
                if (skip >= b.size()) {
                    skip -= b.size();
                    continue;
                }
                b += skip;
                skip = 0;
                while (b.size() != 0) {
                    std::size_t n = 0;
                    tls_step st = s.write_step(b.data(), b.size(), n, left > std::min(b.size(), max_record));
                    done += n;
                    left -= n;
                    b += n;
                    if (st.ec || st.next != tls_step::wait::none)
                        return st;
                }
            }
            return {};
        }
        std::size_t transferred() const noexcept { return done; }
    };

    /// Runs an action until it needs no more waiting; the first completion is posted.
    template <class Action>
    struct op {
        tls_socket& s;
        Action action;
        enum class phase { start, waiting, posted } at = phase::start;
        error_code result{};

        template <class Self>
        void operator()(Self& self, error_code ec = {})
        {
            switch (at) {
            case phase::posted:
                return finish(self, result);
            case phase::waiting:
                if (ec)
                    return finish(self, ec);
                if (self.cancelled() != boost::asio::cancellation_type::none)
                    return finish(self, boost::asio::error::operation_aborted);
                break;
            case phase::start:
                break;
            }
            const bool first = at == phase::start;
            tls_step st;
            if (!s.socket_.is_open())
                st.ec = boost::asio::error::bad_descriptor; // the descriptor number may be reused
            else
                st = action(s);
            if (st.ec || st.next == tls_step::wait::none) {
                if (!first)
                    return finish(self, st.ec);
                at = phase::posted;
                result = st.ec;
                return boost::asio::post(std::move(self));
            }
            at = phase::waiting;
            s.socket_.async_wait(st.next == tls_step::wait::read ? socket_type::wait_read : socket_type::wait_write,
                                 std::move(self));
        }

        template <class Self>
        void finish(Self& self, error_code ec)
        {
            if constexpr (std::is_void_v<typename Action::result>)
                self.complete(ec);
            else
                self.complete(ec, action.transferred());
        }
    };

    // One round of SSL calls each, in impl/tls_socket.ipp.
    CARCHECK_DECL tls_step handshake_step();
    CARCHECK_DECL tls_step read_step(void* data, std::size_t size, std::size_t& done);
    /// `more`: further records of the same write follow this one, so the kernel may hold the
    /// record back (MSG_MORE) and send it together with them in full-sized segments.
    CARCHECK_DECL tls_step write_step(const void* data, std::size_t size, std::size_t& written, bool more);
    /// After an SSL call that returned `ret` with errno `sys`: what to wait for, or the error.
    CARCHECK_DECL tls_step outcome(int ret, int sys);

public:
    /// The BIO's view of the socket (see impl/tls_socket.ipp).
    struct wire {
        int fd = -1;
        bool eof = false;
        bool more = false; // set by write_step for the record it writes
    };

private:
    socket_type socket_;
    wire wire_;
    SSL* ssl_ = nullptr;
};

} // namespace carcheck::detail

#ifdef CARCHECK_HEADER_ONLY
#include <carcheck/impl/tls_socket.ipp>
#endif

#endif
