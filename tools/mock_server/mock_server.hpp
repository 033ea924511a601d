#ifndef CARCHECK_MOCK_SERVER_HPP
#define CARCHECK_MOCK_SERVER_HPP

// carcheck-mock: a local implementation of the CarCheck Cloud API v3 for tests, the demo and
// the benchmarks. Plain HTTP and TLS on loopback, per-key credits and rate windows,
// deterministic recognition results and opt-in fault injection (see README.md).
//
// This header is deliberately light (standard library only) so that test files and
// main.cpp do not pay for Beast/Asio/OpenSSL; everything else lives in the .cpp files.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace carcheck::mock {

struct key_config {
    std::string key;
    std::int64_t monthly_credits = 1'000'000;
    std::int64_t credits_used = 0;
    std::int64_t rate_limit = 0; ///< requests per window, 0 = unlimited
    std::chrono::seconds window{60};
};

enum class fault {
    none,
    close_before_response,
    close_mid_headers,
    close_mid_body,
    truncated_body, ///< Content-Length larger than what is sent, then close
    malformed_json,
    non_json_body,
    html_200,
    status_500,
    status_502,
    status_503,
    status_500_empty,
    slow_headers,
    slow_body, ///< trickle
    stall,     ///< never answer
    huge_reply,
    chunked_truncated,
    wrong_content_length,
    reset_during_request, ///< RST while request body is arriving
    close_delimited       ///< a whole reply without a length, ended by closing (TLS: with close_notify)
};

/// The enumerator's name ("close_mid_body"), for logs.
const char* to_string(fault f) noexcept;
/// Writes to_string(f) (Boost.Test prints faults in failed assertions).
std::ostream& operator<<(std::ostream& os, fault f);

struct server_options {
    std::string bind_address = "127.0.0.1"; ///< loopback only; anything else is refused
    unsigned short http_port = 0, https_port = 0;
    bool enable_http = true, enable_https = true;
    std::vector<key_config> keys;   ///< empty => one key "test-key" with defaults
    std::string cert_file, key_file; ///< empty => self-signed CA + leaf generated at start-up (EC P-256)
    std::string tls_hostname = "localhost"; ///< CN + SAN DNS of the generated leaf (and IP SANs for localhost)
    bool expired_certificate = false;       ///< generated leaf already expired (for TLS tests)
    std::size_t max_requests_per_connection = 0; ///< 0 = unlimited; else the Nth gets Connection: close
    std::chrono::milliseconds idle_close{0};     ///< close keep-alive connections idle this long (0 = never)
    double random_fault_rate = 0;                ///< soak mode: random faults (never stall)
    std::uint64_t seed = 1;
    std::chrono::milliseconds slow_delay{2000}; ///< used by slow_* faults
    /// Server processing time of each recognition (recognize, recognize_bytes, recognize_url)
    /// that is processed, i.e. not refused with 401/402/403: the reply waits this long on a
    /// timer (never blocking a thread), drawn uniformly from latency +- latency_jitter
    /// (never below 0). /config and early errors are answered at once.
    std::chrono::milliseconds latency{0};
    std::chrono::milliseconds latency_jitter{0};
    std::size_t huge_reply_bytes = 128u << 20;
    /// Request bodies larger than this are answered with 413 and a JSON error body, then
    /// the connection is closed: at once, without reading the body, when Content-Length
    /// says so; when the limit is crossed for a chunked body.
    std::uint64_t max_body_bytes = 2ull << 30;
    unsigned threads = 1;
};

class server {
public:
    explicit server(server_options);
    ~server(); ///< stops and joins
    server(const server&) = delete;
    server& operator=(const server&) = delete;

    /// Binds, then runs the io_context on its own thread(s). Throws on bind failure or a
    /// non-loopback bind address.
    void start();
    /// Stops accepting and answering, joins the threads. Idempotent.
    void stop();

    unsigned short http_port() const;  ///< 0 when disabled
    unsigned short https_port() const; ///< 0 when disabled
    std::string certificate_pem() const; ///< the CA/cert clients must trust

    /// The next `count` requests get this fault (FIFO, ahead of random faults).
    void inject(fault f, std::size_t count = 1);

    struct stats {
        std::uint64_t connections_accepted = 0, tls_handshakes = 0, tls_resumed = 0, requests = 0,
                      faults_injected = 0;
        std::map<unsigned, std::uint64_t> responses_by_status; ///< responses whose status line was sent
        std::uint64_t connections_open = 0;
    };
    stats get_stats() const;

    struct request_record {
        std::string method, path;
        std::map<std::string, std::string> query; ///< decoded; secret_key included
        std::string content_type;
        std::uint64_t body_size = 0;
        std::string body_sha256;
        std::string image_field_name, image_filename, image_content_type;
        std::uint64_t image_size = 0;
        std::string image_sha256;
        unsigned status = 0; ///< the status the mock decided on (0: none, e.g. reset_during_request)
        fault applied = fault::none;
    };
    std::vector<request_record> requests() const; ///< last 10,000 kept, oldest first

    /// Credits used this month by `key`; -1 when the key is unknown.
    std::int64_t credits_used(const std::string& key) const;
    /// Adds or replaces a key at run time (its rate window restarts).
    void set_key(key_config);

    /// Called (on a server thread) after each request has been answered or faulted.
    /// Set before start(). The record holds the secret key: never print `query` as is.
    void set_request_logger(std::function<void(const request_record&)>);

    struct impl;

private:
    std::unique_ptr<impl> impl_;
};

} // namespace carcheck::mock

#endif
