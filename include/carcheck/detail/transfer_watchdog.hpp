#ifndef CARCHECK_DETAIL_TRANSFER_WATCHDOG_HPP
#define CARCHECK_DETAIL_TRANSFER_WATCHDOG_HPP

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace carcheck::detail {

/// The two limits of one exchange; zero or less switches a limit off.
struct exchange_limits {
    std::chrono::milliseconds stall{0}; ///< no byte moved in either direction for this long
    std::chrono::milliseconds total{0}; ///< the whole exchange
};

/// Bytes the peer acknowledged and bytes received on a TCP socket, from the kernel
/// (tcpi_bytes_acked / tcpi_bytes_received of TCP_INFO, Linux 4.1 and later). glibc's
/// struct tcp_info stops before them; the kernel's layout continues it with 64-bit fields.
struct tcp_byte_counters {
    std::uint64_t acked = 0;
    std::uint64_t received = 0;
    bool operator==(const tcp_byte_counters&) const = default;
};

inline bool read_tcp_byte_counters(int fd, tcp_byte_counters& out) noexcept
{
    struct kernel_tcp_info {
        ::tcp_info base;                 // up to tcpi_total_retrans
        std::uint64_t pacing_rate;       // tcpi_pacing_rate
        std::uint64_t max_pacing_rate;   // tcpi_max_pacing_rate
        std::uint64_t bytes_acked;       // tcpi_bytes_acked
        std::uint64_t bytes_received;    // tcpi_bytes_received
    };
    static_assert(sizeof(::tcp_info) == 104, "glibc's tcp_info is the kernel's prefix");
    static_assert(offsetof(kernel_tcp_info, bytes_received) == 128);
    kernel_tcp_info info{};
    socklen_t len = sizeof info;
    if (fd < 0 || ::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0 ||
        len < offsetof(kernel_tcp_info, bytes_received) + sizeof info.bytes_received)
        return false;
    out.acked = info.bytes_acked;
    out.received = info.bytes_received;
    return true;
}

/// Bounds an exchange on a TCP connection: ends it when no byte moved in either direction
/// for `stall`, or when its total deadline passed, by cancelling the socket's operations.
///
/// Progress is what the kernel counts on the socket (bytes the peer acknowledged, bytes
/// received), so the watchdog needs no hook in the layers above the socket (plain HTTP,
/// Beast's SSL stream, or any other TLS over it) and costs nothing per read or write. A
/// check every stall / 8 reads the counters; an exchange shorter than that (every ordinary
/// request) arms the timer once and cancels it once. A stall is reported after between
/// `stall` and `stall` + 2 checks (1.25 x stall) without progress, never before.
///
/// Runs on the socket's executor (the pool's serial executor), like the exchange it guards.
class transfer_watchdog {
public:
    enum class verdict { none, stalled, deadline };

    transfer_watchdog() = default;
    transfer_watchdog(const transfer_watchdog&) = delete;
    transfer_watchdog& operator=(const transfer_watchdog&) = delete;
    ~transfer_watchdog()
    {
        if (state_) {
            state_->socket = nullptr; // a handler still queued finds nothing to cancel
            state_->timer.cancel();
        }
    }

    /// Starts guarding an exchange on `socket` (which must outlive the watchdog or be
    /// detached by destroying the watchdog first).
    void start(boost::asio::ip::tcp::socket& socket, exchange_limits limits)
    {
        const bool stall_on = limits.stall.count() > 0;
        const bool total_on = limits.total.count() > 0;
        verdict_ = verdict::none;
        if (!stall_on && !total_on)
            return;
        if (!state_)
            state_ = std::make_shared<state>(socket.get_executor());
        state& s = *state_;
        s.socket = &socket;
        s.owner = this;
        ++s.generation;
        const auto now = clock::now();
        s.stall = stall_on ? std::chrono::duration_cast<clock::duration>(limits.stall) : clock::duration::max();
        s.period = stall_on ? std::max<clock::duration>(s.stall / 8, std::chrono::milliseconds(1))
                            : clock::duration::max();
        s.deadline = total_on ? saturating_add(now, limits.total) : clock::time_point::max();
        s.last_change = now;
        s.have_baseline = false;
        armed_ = true;
        arm(state_, std::min(saturating_add(now, s.period), s.deadline));
    }

    /// Ends the guard of the current exchange (a handler still queued is ignored).
    void stop() noexcept
    {
        if (!armed_)
            return;
        armed_ = false;
        ++state_->generation;
        state_->timer.cancel();
    }

    /// Why the guarded exchange was cancelled, if the watchdog did it.
    verdict expired() const noexcept { return verdict_; }

private:
    using clock = std::chrono::steady_clock;

    struct state {
        explicit state(const boost::asio::any_io_executor& ex) : timer(ex) {}
        boost::asio::steady_timer timer;
        boost::asio::ip::tcp::socket* socket = nullptr;
        transfer_watchdog* owner = nullptr;
        std::uint64_t generation = 0;
        clock::duration stall{}, period{};
        clock::time_point deadline{}, last_change{};
        tcp_byte_counters last{};
        bool have_baseline = false;
    };

    template <class Rep, class Period>
    static clock::time_point saturating_add(clock::time_point t, std::chrono::duration<Rep, Period> d) noexcept
    {
        const auto room = clock::time_point::max() - t;
        if (d >= std::chrono::duration_cast<std::chrono::duration<Rep, Period>>(room))
            return clock::time_point::max();
        return t + std::chrono::duration_cast<clock::duration>(d);
    }

    static void arm(const std::shared_ptr<state>& sp, clock::time_point at)
    {
        sp->timer.expires_at(at);
        sp->timer.async_wait([sp, gen = sp->generation](boost::system::error_code ec) { check(sp, gen, ec); });
    }

    static void check(const std::shared_ptr<state>& sp, std::uint64_t gen, boost::system::error_code ec)
    {
        state& s = *sp;
        if (ec || gen != s.generation || !s.socket)
            return;
        const auto now = clock::now();
        if (now >= s.deadline)
            return expire(s, verdict::deadline);
        tcp_byte_counters c;
        if (s.stall != clock::duration::max() && read_tcp_byte_counters(s.socket->native_handle(), c)) {
            if (!s.have_baseline || !(c == s.last)) {
                // Something moved since the last check (or this is the first one): the clock
                // of the stall starts again from now, never earlier than the last progress.
                s.last = c;
                s.last_change = now;
                s.have_baseline = true;
            } else if (now - s.last_change >= s.stall) {
                return expire(s, verdict::stalled);
            }
        }
        // Counters unavailable (socket closed under us): the exchange fails on its own.
        arm(sp, std::min(saturating_add(now, s.period), s.deadline));
    }

    static void expire(state& s, verdict v)
    {
        s.owner->verdict_ = v;
        boost::system::error_code ignored;
        s.socket->cancel(ignored);
    }

    std::shared_ptr<state> state_; // shared with the queued timer handler
    verdict verdict_ = verdict::none;
    bool armed_ = false;
};

} // namespace carcheck::detail

#endif
