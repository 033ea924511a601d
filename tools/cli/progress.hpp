#ifndef CARCHECK_CLI_PROGRESS_HPP
#define CARCHECK_CLI_PROGRESS_HPP

// Progress reporting on standard error (a bar on a terminal, plain periodic lines
// otherwise, nothing with --quiet) and the end-of-run summary.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace carcheck_cli {

struct progress_snapshot {
    std::size_t done = 0;   ///< inputs finished in this run (success or error)
    std::size_t total = 0;  ///< inputs to process in this run (after --resume skipped some), found so far
    bool total_known = true; ///< false while standard input is still being read
    std::size_t failed = 0;
    /// Wall-clock time during which at least one request was held (rate limit, --rate).
    std::chrono::nanoseconds throttled{};
    std::chrono::steady_clock::duration elapsed{};
    std::size_t in_flight = 0;       ///< requests sent and not yet answered
    std::size_t in_flight_limit = 0; ///< the scheduler's current limit (0: none)
};

class progress_reporter {
public:
    enum class mode { none, bar, lines };

    progress_reporter(std::FILE* out, mode m);

    /// The mode for stderr: none when quiet, bar when it is a terminal, else lines.
    static mode choose(bool quiet, int fd);

    /// How often update() should be called.
    std::chrono::milliseconds period(std::chrono::milliseconds line_interval) const;

    void update(const progress_snapshot& s);
    /// Last state: the bar is completed and ended with a newline; lines mode prints a last line.
    void finish(const progress_snapshot& s);
    /// Before printing anything else on the same stream: erases the bar.
    void clear();
    /// Draws the bar again after clear() (when one was shown), e.g. after a result line was
    /// written to the same terminal.
    void redraw();

    mode get_mode() const { return mode_; }

    /// The texts (for tests).
    static std::string line_text(const progress_snapshot& s);
    static std::string bar_text(const progress_snapshot& s, std::size_t width);

private:
    std::FILE* out_;
    mode mode_;
    bool bar_shown_ = false;
    std::string last_bar_; ///< the text of the last bar drawn, for redraw()
};

/// Percentiles of latencies in constant memory: counts in buckets 1% wide (0.01 ms .. ~20 min).
class latency_histogram {
public:
    void add(double ms);
    std::size_t count() const noexcept { return count_; }
    /// The p-th percentile (0..100, nearest rank), within 1%; 0 when empty.
    double percentile(double p) const;

private:
    static std::size_t bucket_of(double ms);
    static double value_of(std::size_t bucket);
    std::vector<std::uint64_t> buckets_;
    std::size_t count_ = 0;
};

/// The numbers of the end-of-run summary.
struct summary_data {
    std::size_t inputs = 0;          ///< discovered
    std::size_t skipped = 0;         ///< already in the output (--resume)
    std::size_t duplicates = 0;      ///< named again after their first position (processed once)
    std::map<std::string, std::size_t> skipped_entries; ///< folder entries passed over, by reason
    std::size_t succeeded = 0;
    std::size_t without_plate = 0;   ///< of succeeded: no plate found
    std::map<std::string, std::size_t> failures; ///< by error code name
    std::size_t not_processed = 0;   ///< left when interrupted / stopped by 401/402 / an outage
    bool unread_inputs = false;      ///< stopped before the inputs were all read (their number is unknown)
    std::size_t not_written = 0;     ///< answered, but the output could not be written
    std::size_t abandoned = 0;       ///< in flight when a second signal closed the client
    std::int64_t credits_this_run = 0; ///< sum of the replies' credit_cost
    std::optional<std::int64_t> credits_used, credits_total, credits_remaining; ///< month to date
    std::chrono::steady_clock::duration wall{};
    std::chrono::nanoseconds throttled{}; ///< wall-clock time with at least one request held
    latency_histogram latencies;      ///< of requests sent (any outcome)
    std::size_t in_flight_peak = 0;   ///< most requests in flight at once
    std::size_t in_flight_limit_peak = 0; ///< highest limit of requests in flight
    bool in_flight_adaptive = false;  ///< the limit was adaptive (no --concurrency)
    std::optional<double> allowed_rate; ///< requests/s the adaptive limit was sized to
    std::string stop_reason;          ///< empty, or why the batch stopped early
};

std::string format_summary(const summary_data& s);

} // namespace carcheck_cli

#endif
