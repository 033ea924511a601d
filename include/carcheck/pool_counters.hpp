#ifndef CARCHECK_POOL_COUNTERS_HPP
#define CARCHECK_POOL_COUNTERS_HPP

#include <chrono>
#include <cstdint>

namespace carcheck {

/// Counters a service can export. Read them on the pool's executor (see client::connection_counters()).
struct pool_counters {
    std::uint64_t open = 0;          ///< connections currently open (idle + in use)
    std::uint64_t idle = 0;          ///< open and waiting for a request
    std::uint64_t in_use = 0;        ///< open and lent to a request
    std::uint64_t connecting = 0;    ///< being established in the background
    std::uint64_t connects = 0;      ///< TCP connections established (to the proxy when there is one)
    std::uint64_t connect_attempts = 0; ///< TCP connects started (several per connection when addresses fail)
    std::uint64_t proxy_tunnels = 0; ///< CONNECT tunnels the proxy opened
    std::uint64_t handshakes_full = 0;
    std::uint64_t handshakes_resumed = 0; ///< TLS handshakes that resumed an earlier session
    std::uint64_t reuses = 0;        ///< requests served by an already-open connection
    std::uint64_t waits = 0;         ///< acquisitions that had to wait
    std::chrono::nanoseconds wait_time{0}; ///< total time spent waiting for a connection
    std::uint64_t wait_timeouts = 0;
    std::uint64_t connect_errors = 0; ///< connections that could not be established (resolution, TCP, proxy)
    std::uint64_t handshake_errors = 0;
    std::uint64_t stale_discarded = 0;   ///< idle connections found closed by the server
    std::uint64_t expired_discarded = 0; ///< idle connections closed after the idle timeout
    std::uint64_t discarded = 0;         ///< connections closed after an unclean exchange
};

} // namespace carcheck

#endif
