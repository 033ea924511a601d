#ifndef CARCHECK_CLI_ARGS_HPP
#define CARCHECK_CLI_ARGS_HPP

// Command-line parsing of the `carcheck` tool: commands, options, help texts.
// No Asio here: this unit is cheap to compile and easy to reason about.

#include <chrono>
#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace carcheck_cli {

/// Exit statuses (documented in --help and tools/cli/README.md).
enum exit_status : int {
    exit_ok = 0,          ///< every input succeeded
    exit_failures = 1,    ///< at least one input failed
    exit_usage = 2,       ///< bad command line, unusable endpoint / key / output file
    exit_auth = 3,        ///< HTTP 401 (secret key) or 402 (monthly credits)
    exit_unreachable = 4, ///< service unreachable: refused, no such host, TLS verification, N connection failures
    exit_interrupted = 130, ///< SIGINT / SIGTERM before every input was processed
};

/// A bad command line: main prints "carcheck: <what>" and the short usage, exits 2.
struct usage_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

enum class command { none, recognize, config, help, version };
enum class output_format { jsonl, csv };

/// Everything the command line (and the environment) says.
struct cli_options {
    command cmd = command::none;
    bool help = false; ///< `carcheck CMD --help`

    // Connection (shared by every command).
    std::string endpoint = "https://api.openalpr.com/v3";
    std::string secret_key_file; ///< --secret-key-file; else CARCHECK_SECRET_KEY
    std::string ca_file;
    bool insecure_loopback = false;
    std::optional<std::chrono::milliseconds> timeout;       ///< --timeout: total per attempt (default none)
    std::optional<std::chrono::milliseconds> stall_timeout; ///< --stall-timeout (default: the library's 30 s)
    std::optional<std::chrono::milliseconds> connect_timeout; ///< --connect-timeout
    /// --proxy URL ("" = none); unset: $https_proxy / $HTTPS_PROXY (http_proxy for http://).
    std::optional<std::string> proxy;
    /// --noproxy LIST; unset: $no_proxy / $NO_PROXY. Applies to --proxy too, as in curl.
    std::optional<std::string> noproxy;
    std::optional<unsigned> retries;
    std::optional<double> rate;
    /// --concurrency N: exactly N requests in flight (and connections). Unset: adaptive, the
    /// library sizes the number in flight to the latency and the allowed rate, up to
    /// max_concurrency.
    std::optional<std::size_t> concurrency;
    std::size_t max_concurrency = 64; ///< --max-concurrency: cap of the adaptive limit
    /// Requests the tool keeps submitted at once: the pinned count or the adaptive cap.
    std::size_t submitted_limit() const { return concurrency.value_or(max_concurrency); }
    /// Connection failures in a row (across inputs, no success between) that stop the batch.
    std::size_t max_connection_failures = 10;

    // recognize: what to send.
    std::string country = "us";
    bool vehicle = false;
    std::optional<int> topn;
    bool return_image = false;
    bool cropped = false;
    bool base64 = false;
    bool urls = false; ///< positional arguments (and stdin lines) are image URLs
    std::vector<std::string> extensions{"jpg", "jpeg", "png", "gif", "bmp", "webp", "tif", "tiff"};

    // recognize: inputs and output.
    std::vector<std::string> inputs; ///< as given; "-" = read from stdin
    output_format format = output_format::jsonl;
    bool format_given = false; ///< --format was on the command line (else an existing file's format wins)
    std::string output; ///< empty = stdout
    bool resume = false;
    bool quiet = false;
    std::chrono::milliseconds progress_interval{1000};
    std::optional<std::size_t> read_ahead; ///< files read ahead; unset = 2 x submitted_limit(), 0 = off
};

/// Parses argv (argv[0] excluded). Throws usage_error.
cli_options parse_command_line(const std::vector<std::string>& args);

/// The full help of a command (command::none: the overview).
std::string help_text(command cmd);

/// Two-line hint printed after a usage error.
std::string usage_hint(command cmd);

/// The secret key: the first line of --secret-key-file, else $CARCHECK_SECRET_KEY.
/// Throws usage_error when there is none (the message never contains a key), unless
/// `optional` (carcheck config: GET /config takes no key), which returns "" then.
std::string load_secret_key(const cli_options& o, bool optional = false);

/// The longest --timeout / --stall-timeout accepted, in seconds (a year; longer deadlines overflow the clock).
inline constexpr double max_timeout_seconds = 86400.0 * 365;

} // namespace carcheck_cli

#endif
