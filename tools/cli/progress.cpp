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

std::string progress_reporter::line_text(const progress_snapshot& s)
{
    const double pct = s.total ? 100.0 * static_cast<double>(s.done) / static_cast<double>(s.total) : 100.0;
    return "carcheck: " + std::to_string(s.done) + "/" + std::to_string(s.total) + " done (" +
           fmt("%.0f", pct) + "%), " + fmt("%.1f", rate_of(s)) + " images/s, ETA " + eta_of(s) + ", " +
           std::to_string(s.failed) + " errors, throttled " +
           fmt("%.1f", std::chrono::duration<double>(s.throttled).count()) + " s\n";
}

std::string progress_reporter::bar_text(const progress_snapshot& s, std::size_t width)
{
    const std::string tail = std::string(" ") + std::to_string(s.done) + "/" + std::to_string(s.total) + "  " +
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
        std::fputs((std::string("\r") + bar_text(s, terminal_width(out_)) + "\x1b[K").c_str(), out_);
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
        bar_shown_ = false;
    }
}

double percentile(const std::vector<double>& sorted, double p)
{
    if (sorted.empty())
        return 0;
    auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
    rank = std::clamp<std::size_t>(rank, 1, sorted.size());
    return sorted[rank - 1];
}

std::string format_summary(summary_data s)
{
    std::sort(s.latencies_ms.begin(), s.latencies_ms.end());
    std::size_t failed = 0;
    for (const auto& [name, n] : s.failures)
        failed += n;
    const std::size_t processed = s.succeeded + failed;
    const double wall = seconds(s.wall);
    std::string out = "carcheck summary:\n";
    out += "  inputs      " + std::to_string(s.inputs);
    if (s.skipped)
        out += " (" + std::to_string(s.skipped) + " skipped: already in the output)";
    out += "\n  succeeded   " + std::to_string(s.succeeded);
    if (s.without_plate)
        out += " (" + std::to_string(s.without_plate) + " without a plate)";
    out += "\n  failed      " + std::to_string(failed);
    if (!s.failures.empty()) {
        out += " (";
        bool first = true;
        for (const auto& [name, n] : s.failures) {
            out += (first ? "" : ", ") + name + ": " + std::to_string(n);
            first = false;
        }
        out += ")";
    }
    out += "\n";
    if (s.not_processed)
        out += "  not processed " + std::to_string(s.not_processed) + " (no output line; --resume continues)\n";
    if (s.abandoned)
        out += "  abandoned   " + std::to_string(s.abandoned) + " (in flight at the second signal; no output line)\n";
    out += "  credits     ";
    if (s.credits_used) {
        out += "used " + std::to_string(*s.credits_used);
        if (s.credits_total)
            out += " of " + std::to_string(*s.credits_total);
        if (s.credits_remaining)
            out += ", remaining " + std::to_string(*s.credits_remaining);
        out += " (this month)";
    } else {
        out += "unknown (no successful reply)";
    }
    out += "\n  wall time   " + fmt("%.2f", wall) + " s (" +
           fmt("%.1f", wall > 0 ? static_cast<double>(processed) / wall : 0.0) + " images/s)";
    if (s.throttled.count() > 0)
        out += ", throttled by the rate limit " + fmt("%.1f", std::chrono::duration<double>(s.throttled).count()) + " s";
    out += "\n  latency     p50 " + fmt("%.1f", percentile(s.latencies_ms, 50)) + " ms, p99 " +
           fmt("%.1f", percentile(s.latencies_ms, 99)) + " ms\n";
    if (!s.stop_reason.empty())
        out += "  stopped     " + s.stop_reason + "\n";
    return out;
}

} // namespace carcheck_cli
