#include "progress.hpp"

#include <algorithm>
#include <cmath>

#include <sys/ioctl.h>
#include <unistd.h>

namespace carcheck_cli {

namespace {

double seconds(std::chrono::steady_clock::duration d)
{
    return std::chrono::duration<double>(d).count();
}

std::string fmt(const char* f, double v)
{
    char buf[64];
    std::snprintf(buf, sizeof buf, f, v);
    return buf;
}

std::string duration_text(double s)
{
    if (!std::isfinite(s) || s < 0)
        return "?";
    const auto total = static_cast<long long>(std::llround(s));
    char buf[32];
    if (total >= 3600)
        std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", total / 3600, total / 60 % 60, total % 60);
    else
        std::snprintf(buf, sizeof buf, "%lld:%02lld", total / 60, total % 60);
    return buf;
}

double rate_of(const progress_snapshot& s)
{
    const double el = seconds(s.elapsed);
    return el > 0 ? static_cast<double>(s.done) / el : 0.0;
}

std::string eta_of(const progress_snapshot& s)
{
    const double r = rate_of(s);
    if (!s.total_known)
        return "?";
    if (s.done >= s.total)
        return "0:00";
    if (r <= 0)
        return "?";
    return duration_text(static_cast<double>(s.total - s.done) / r);
}

std::size_t terminal_width(std::FILE* f)
{
    winsize ws{};
    if (::ioctl(::fileno(f), TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 40)
        return ws.ws_col;
    return 80;
}

} // namespace

progress_reporter::progress_reporter(std::FILE* out, mode m) : out_(out), mode_(m) {}

progress_reporter::mode progress_reporter::choose(bool quiet, int fd)
{
    if (quiet)
        return mode::none;
    return ::isatty(fd) ? mode::bar : mode::lines;
}

std::chrono::milliseconds progress_reporter::period(std::chrono::milliseconds line_interval) const
{
    return mode_ == mode::bar ? std::chrono::milliseconds(200) : line_interval;
}

namespace {
// "20/31": in flight now and the limit ("20" when there is none). Appended piece by piece:
// g++ 12 at -O3 warns (-Wrestrict, a false positive) on "/" + std::to_string(...).
std::string in_flight_of(const progress_snapshot& s)
{
    std::string out = std::to_string(s.in_flight);
    if (s.in_flight_limit) {
        out += '/';
        out += std::to_string(s.in_flight_limit);
    }
    return out;
}
} // namespace

std::string progress_reporter::line_text(const progress_snapshot& s)
{
    const double pct = s.total ? 100.0 * static_cast<double>(s.done) / static_cast<double>(s.total) : 100.0;
    return "carcheck: " + std::to_string(s.done) + "/" + std::to_string(s.total) + (s.total_known ? "" : "+") +
           " done (" + fmt("%.0f", pct) + "%), " + fmt("%.1f", rate_of(s)) + " images/s, ETA " + eta_of(s) +
           ", in flight " + in_flight_of(s) + ", " + std::to_string(s.failed) + " errors, throttled " +
           fmt("%.1f", std::chrono::duration<double>(s.throttled).count()) + " s\n";
}

std::string progress_reporter::bar_text(const progress_snapshot& s, std::size_t width)
{
    const std::string tail = std::string(" ") + std::to_string(s.done) + "/" + std::to_string(s.total) +
                             (s.total_known ? "" : "+") + "  " +
                             fmt("%.1f", rate_of(s)) + " img/s  ETA " + eta_of(s) + "  err " +
                             std::to_string(s.failed) + "  throttled " +
                             fmt("%.1f", std::chrono::duration<double>(s.throttled).count()) + "s";
    const std::size_t bar = width > tail.size() + 12 ? std::min<std::size_t>(40, width - tail.size() - 3) : 10;
    const double frac = s.total ? static_cast<double>(s.done) / static_cast<double>(s.total) : 1.0;
    const auto filled = static_cast<std::size_t>(frac * static_cast<double>(bar));
    std::string out = std::string("[") + std::string(filled, '#') + std::string(bar - std::min(filled, bar), '.') + "]" + tail;
    if (out.size() >= width)
        out.resize(width - 1);
    return out;
}

void progress_reporter::update(const progress_snapshot& s)
{
    switch (mode_) {
    case mode::none: return;
    case mode::lines: std::fputs(line_text(s).c_str(), out_); break;
    case mode::bar:
        last_bar_ = bar_text(s, terminal_width(out_));
        std::fputs((std::string("\r") + last_bar_ + "\x1b[K").c_str(), out_);
        bar_shown_ = true;
        break;
    }
    std::fflush(out_);
}

void progress_reporter::finish(const progress_snapshot& s)
{
    if (mode_ == mode::none)
        return;
    update(s);
    if (mode_ == mode::bar) {
        std::fputc('\n', out_);
        bar_shown_ = false;
    }
    std::fflush(out_);
}

void progress_reporter::clear()
{
    if (mode_ == mode::bar && bar_shown_) {
        std::fputs("\r\x1b[K", out_);
        std::fflush(out_);
        bar_shown_ = false;
    }
}

void progress_reporter::redraw()
{
    if (mode_ == mode::bar && !bar_shown_ && !last_bar_.empty()) {
        std::fputs((std::string("\r") + last_bar_ + "\x1b[K").c_str(), out_);
        std::fflush(out_);
        bar_shown_ = true;
    }
}

namespace {
constexpr double histogram_min_ms = 0.01;
constexpr double histogram_ratio = 1.01;
constexpr std::size_t histogram_buckets = 2200; // 0.01 ms * 1.01^2200: about 20 minutes
} // namespace

std::size_t latency_histogram::bucket_of(double ms)
{
    if (!(ms > histogram_min_ms))
        return 0;
    const auto b = static_cast<std::size_t>(std::log(ms / histogram_min_ms) / std::log(histogram_ratio)) + 1;
    return std::min(b, histogram_buckets - 1);
}

double latency_histogram::value_of(std::size_t bucket)
{
    // The middle of the bucket (its bounds are min * ratio^(b-1) and min * ratio^b).
    return bucket == 0 ? histogram_min_ms
                       : histogram_min_ms * std::pow(histogram_ratio, static_cast<double>(bucket) - 0.5);
}

void latency_histogram::add(double ms)
{
    if (buckets_.empty())
        buckets_.resize(histogram_buckets);
    ++buckets_[bucket_of(ms)];
    ++count_;
}

double latency_histogram::percentile(double p) const
{
    if (!count_)
        return 0;
    auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(count_)));
    rank = std::clamp<std::size_t>(rank, 1, count_);
    std::size_t seen = 0;
    for (std::size_t b = 0; b < buckets_.size(); ++b) {
        seen += buckets_[b];
        if (seen >= rank)
            return value_of(b);
    }
    return value_of(buckets_.size() - 1);
}

namespace {

/// "  label          value\n": every value starts in the same column.
void row(std::string& out, const char* label, const std::string& value)
{
    char buf[32];
    std::snprintf(buf, sizeof buf, "  %-15s", label);
    out += buf;
    out += value;
    out += '\n';
}

std::string by_name(const std::map<std::string, std::size_t>& counts)
{
    std::string out;
    for (const auto& [name, n] : counts)
        out += (out.empty() ? "" : ", ") + name + ": " + std::to_string(n);
    return out;
}

} // namespace

std::string format_summary(const summary_data& s)
{
    std::size_t failed = 0;
    for (const auto& [name, n] : s.failures)
        failed += n;
    const std::size_t processed = s.succeeded + failed;
    const double wall = seconds(s.wall);
    std::string out = "carcheck summary:\n";
    std::string v = std::to_string(s.inputs);
    if (s.skipped || s.duplicates) {
        v += " (";
        if (s.skipped)
            v += std::to_string(s.skipped) + " skipped: already in the output";
        if (s.duplicates)
            v += std::string(s.skipped ? "; " : "") + std::to_string(s.duplicates) + " duplicate names processed once";
        v += ")";
    }
    row(out, "inputs", v);
    v = std::to_string(s.succeeded);
    if (s.without_plate)
        v += " (" + std::to_string(s.without_plate) + " without a plate)";
    row(out, "succeeded", v);
    v = std::to_string(failed);
    if (!s.failures.empty())
        v += " (" + by_name(s.failures) + ")";
    row(out, "failed", v);
    if (s.not_processed || s.unread_inputs)
        row(out, "not processed", std::to_string(s.not_processed) + (s.unread_inputs ? " and the inputs not yet read" : "") +
                                      " (no output line; --resume continues)");
    if (s.not_written)
        row(out, "not written", std::to_string(s.not_written) +
                                    " (answered, but the output could not be written; --resume sends them again)");
    if (s.abandoned)
        row(out, "abandoned", std::to_string(s.abandoned) + " (in flight at the second signal; no output line)");
    if (!s.skipped_entries.empty()) {
        std::size_t n = 0;
        for (const auto& [reason, count] : s.skipped_entries)
            n += count;
        row(out, "not images", std::to_string(n) + " folder entries skipped (" + by_name(s.skipped_entries) + ")");
    }
    v = "used by this run " + std::to_string(s.credits_this_run) + "; this month ";
    if (s.credits_used) {
        v += std::to_string(*s.credits_used);
        if (s.credits_total)
            v += " of " + std::to_string(*s.credits_total);
        if (s.credits_remaining)
            v += ", remaining " + std::to_string(*s.credits_remaining);
    } else {
        v += "unknown (no successful reply)";
    }
    row(out, "credits", v);
    row(out, "wall time", fmt("%.2f", wall) + " s (" +
                              fmt("%.1f", wall > 0 ? static_cast<double>(processed) / wall : 0.0) + " images/s)");
    if (s.throttled.count() > 0)
        row(out, "throttled", fmt("%.1f", std::chrono::duration<double>(s.throttled).count()) +
                                  " s (wall-clock time with requests held by the rate limit or --rate)");
    if (s.succeeded && s.latencies.count())
        row(out, "latency", "p50 " + fmt("%.1f", s.latencies.percentile(50)) + " ms, p99 " +
                                fmt("%.1f", s.latencies.percentile(99)) + " ms");
    if (s.in_flight_peak) {
        v = "peak " + std::to_string(s.in_flight_peak) + ", limit " +
            (s.in_flight_adaptive ? "adaptive, reached " + std::to_string(s.in_flight_limit_peak)
                                  : std::to_string(s.in_flight_limit_peak) + " (--concurrency)");
        if (s.in_flight_adaptive && s.allowed_rate)
            v += "; allowed rate " + fmt("%.1f", *s.allowed_rate) + "/s";
        row(out, "in flight", v);
    }
    if (!s.stop_reason.empty())
        row(out, "stopped", s.stop_reason);
    return out;
}

} // namespace carcheck_cli
