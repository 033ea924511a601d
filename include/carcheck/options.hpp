#ifndef CARCHECK_OPTIONS_HPP
#define CARCHECK_OPTIONS_HPP

#include <carcheck/base64_encoding.hpp>
#include <carcheck/config.hpp>
#include <carcheck/scheduler_options.hpp>

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>

namespace carcheck {

/// Deadlines of one request. Each expiry completes the operation with error::timeout.
struct timeout_options {
    /// Establishing a new connection, all of it: name resolution, TCP connect (every
    /// address tried), the proxy's CONNECT exchange and the TLS handshake.
    std::chrono::milliseconds connect{10'000};
    /// An attempt (writing the request, reading the reply) fails when no byte moved on its
    /// connection in either direction for this long: a transfer that keeps moving, however
    /// slowly, never times out. Detected within 1.25 x this time. 0 = off.
    std::chrono::milliseconds stall{30'000};
    /// Total deadline of an attempt (writing the request and reading the reply), whatever
    /// the progress. 0 = none (the default: a large upload on a slow link takes its time).
    std::chrono::milliseconds request{0};
    std::chrono::milliseconds pool_wait{30'000}; ///< waiting for a free pooled connection
    /// Idle pooled connections are closed after this: when the next request starts, or on
    /// time while client::async_run() runs (no timer keeps io_context::run() busy otherwise).
    std::chrono::milliseconds idle{50'000};
};

/// TLS settings. Verification of the certificate chain and host name is on by default.
struct tls_options {
    bool verify_peer = true;        ///< false disables verification (never do this in production)
    bool use_system_roots = true;   ///< trust the system's default CA store
    std::string ca_file;            ///< extra PEM file of trusted CAs
    std::string ca_pem;             ///< extra trusted CAs as PEM text
};

/// Settings of a carcheck::client.
struct client_options {
    /// The account's secret key. Sent only as the secret_key query parameter to the
    /// configured endpoint; never logged or put into an error message.
    std::string secret_key;
    /// Base URL of the API, "https://host[:port]/v3". "http://" is accepted only for
    /// loopback hosts unless allow_insecure_http is set.
    std::string endpoint = "https://api.openalpr.com/v3";
    /// Upper bound of simultaneously open connections to the endpoint, and so of requests
    /// in flight: the adaptive limit (scheduling.adaptive_concurrency) grows up to
    /// min(this, scheduling.max_adaptive_in_flight); without it, exactly this many.
    std::size_t max_connections = 64;
    /// Keep the client's state on a strand of the executor (the default), so operations may
    /// be started from any thread and a multi-threaded io_context may run it. Off: on the
    /// executor itself, for a client whose io_context one thread runs and whose member
    /// functions are called on that thread (asio::io_context{1}, the carcheck tool): no
    /// strand hand-offs, and none of the allocations Asio makes for a type-erased strand in
    /// every I/O operation. (Boost.MySQL's pool_params::thread_safe is the same choice.)
    bool thread_safe = true;
    timeout_options timeouts{};
    tls_options tls{};
    /// Allow plain HTTP to non-loopback hosts (the key then travels in clear text).
    bool allow_insecure_http = false;
    /// HTTP proxy, "http://[user:password@]host[:port]" (port 1080 when omitted, as curl);
    /// empty: connect directly. Every connection is a CONNECT tunnel through it, TLS end to
    /// end with the service for https endpoints. Not read from the environment: see
    /// carcheck::proxy_from_environment(). The password is never put into a message.
    std::string proxy{};
    /// Replies larger than this fail with error::response_too_large. With return_image=1
    /// the reply carries the whole image in base64, hence the generous default.
    std::size_t max_response_bytes = 64u * 1024u * 1024u;
    /// Admission of requests: rate-limit throttling, optional client-side caps, queue
    /// bound, retry policy (see carcheck::scheduler). The defaults follow the server's
    /// X-RateLimit-* headers and retry 403s and safe transport failures up to 3 attempts.
    scheduler_options scheduling{};
};

/// Per-request parameters of the recognize operations (query parameters of the API).
struct recognize_options {
    /// Training data: "us" North-American plates, "eu" European, ... (see get_config()).
    std::string country = "us";
    bool recognize_vehicle = false; ///< also classify the vehicle (one more credit)
    bool return_image = false;      ///< the reply carries the uploaded image in base64
    std::optional<int> topn;        ///< candidates per plate, 1..1000 (server default 10)
    bool is_cropped = false;        ///< image is a crop of a plate/vehicle (recognize_file only)
    /// Body of recognize_bytes / recognize_base64_file: the bare base64 text (default, what
    /// the live service accepts) or base64_encoding::json_string (see base64_encoding.hpp).
    base64_encoding base64 = base64_encoding::raw;
};

} // namespace carcheck

#endif
