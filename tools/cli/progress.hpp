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
    std::size_t total = 0;  ///< inputs to process in this run (after --resume skipped some)
    std::size_t failed = 0;
    std::chrono::nanoseconds throttled{}; ///< time requests were held by the rate limit
    std::chrono::steady_clock::duration elapsed{};
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

    mode get_mode() const { return mode_; }

    /// The texts (for tests).
    static std::string line_text(const progress_snapshot& s);
    static std::string bar_text(const progress_snapshot& s, std::size_t width);

private:
    std::FILE* out_;
    mode mode_;
    bool bar_shown_ = false;
};

/// The numbers of the end-of-run summary.
struct summary_data {
    std::size_t inputs = 0;          ///< discovered
    std::size_t skipped = 0;         ///< already in the output (--resume)
    std::size_t succeeded = 0;
    std::size_t without_plate = 0;   ///< of succeeded: no plate found
    std::map<std::string, std::size_t> failures; ///< by error code name
    std::size_t not_processed = 0;   ///< left when interrupted / stopped by 401/402
    std::size_t abandoned = 0;       ///< in flight when a second signal closed the client
    std::optional<std::int64_t> credits_used, credits_total, credits_remaining;
    std::chrono::steady_clock::duration wall{};
    std::chrono::nanoseconds throttled{};
    std::vector<double> latencies_ms; ///< of requests sent (any outcome)
    std::string stop_reason;          ///< empty, or why the batch stopped early
};

std::string format_summary(summary_data s);

/// The p-th percentile (0..100, nearest rank) of sorted values; 0 when empty.
double percentile(const std::vector<double>& sorted, double p);

} // namespace carcheck_cli

#endif
