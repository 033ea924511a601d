#include "runner.hpp"

#include "inputs.hpp"
#include "output.hpp"
#include "progress.hpp"
#include "read_ahead.hpp"

#include <carcheck/carcheck.hpp>

#include <boost/asio.hpp>
#include <boost/url/parse.hpp>

#include <csignal>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>

#include <unistd.h>

// g++ 12 reports a false -Wmismatched-new-delete when an asio::awaitable coroutine frame
// (allocated by Asio's recycling allocator, freed by its matching operator delete) is
// inlined into its caller.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace carcheck_cli {

namespace asio = boost::asio;
using clock_type = std::chrono::steady_clock;

std::string redact(std::string text, const std::string& key)
{
    if (key.size() < 4)
        return text;
    for (auto pos = text.find(key); pos != std::string::npos; pos = text.find(key, pos))
        text.replace(pos, key.size(), "[redacted]");
    return text;
}

namespace {

void print_error(const std::string& text, const std::string& key)
{
    std::fputs(("carcheck: " + redact(text, key) + "\n").c_str(), stderr);
    std::fflush(stderr);
}

/// The name of an error for the output's "error" field.
std::string error_name(const carcheck::error_code& ec)
{
    using carcheck::error;
    if (ec.category() == carcheck::error_category()) {
        switch (static_cast<error>(ec.value())) {
        case error::invalid_parameter: return "invalid_parameter";
        case error::invalid_secret_key: return "invalid_secret_key";
        case error::monthly_limit: return "monthly_limit";
        case error::rate_limited: return "rate_limited";
        case error::unexpected_status: return "unexpected_status";
        case error::bad_response: return "bad_response";
        case error::timeout: return "timeout";
        case error::invalid_argument: return "invalid_argument";
        case error::insecure_endpoint: return "insecure_endpoint";
        case error::response_too_large: return "response_too_large";
        case error::file_changed: return "file_changed";
        case error::file_read_failed: return "file_read_failed";
        case error::queue_full: return "queue_full";
        case error::client_closed: return "client_closed";
        case error::connection_closed: return "connection_closed";
        default: return "carcheck_" + std::to_string(ec.value());
        }
    }
    namespace ae = asio::error;
    const std::pair<carcheck::error_code, const char*> known[] = {
        {ae::connection_refused, "connection_refused"}, {ae::connection_reset, "connection_reset"},
        {ae::connection_aborted, "connection_aborted"}, {ae::operation_aborted, "operation_aborted"},
        {ae::timed_out, "timed_out"},                   {ae::eof, "connection_closed"},
        {ae::host_not_found, "host_not_found"},         {ae::host_not_found_try_again, "host_not_found"},
        {ae::network_unreachable, "network_unreachable"}, {ae::host_unreachable, "host_unreachable"},
        {ae::broken_pipe, "broken_pipe"},
    };
    for (const auto& [code, name] : known)
        if (ec == code)
            return name;
    if (std::strncmp(ec.category().name(), "asio.ssl", 8) == 0)
        return "tls_error";
    return std::string(ec.category().name()) + "_" + std::to_string(ec.value());
}

bool is_loopback_host(const std::string& endpoint)
{
    auto url = boost::urls::parse_uri(endpoint);
    if (!url)
        return false;
    switch (url->host_type()) {
    case boost::urls::host_type::ipv4: return url->host_ipv4_address().to_bytes()[0] == 127;
    case boost::urls::host_type::ipv6: return url->host_ipv6_address().is_loopback();
    case boost::urls::host_type::name: {
        std::string h = url->host();
        return h == "localhost" || h == "localhost.";
    }
    default: return false;
    }
}

carcheck::client_options make_client_options(const cli_options& o, const std::string& key)
{
    carcheck::client_options c;
    c.secret_key = key;
    c.endpoint = o.endpoint;
    c.max_connections = o.concurrency;
    if (o.timeout)
        c.timeouts.request = *o.timeout;
    if (!o.ca_file.empty()) {
        if (::access(o.ca_file.c_str(), R_OK) != 0)
            throw usage_error("cannot read the CA file '" + o.ca_file + "': " + std::strerror(errno));
        c.tls.ca_file = o.ca_file;
        // Like curl --cacert: this file replaces the system store (which also spares parsing
        // a few hundred certificates at every start).
        c.tls.use_system_roots = false;
    }
    if (o.insecure_loopback) {
        if (!is_loopback_host(o.endpoint))
            throw usage_error("--insecure-loopback is only allowed for a loopback endpoint (127.0.0.0/8, ::1, "
                              "localhost), not '" + redact(o.endpoint, key) + "'");
        c.tls.verify_peer = false;
    }
    if (o.rate)
        c.scheduling.requests_per_second = *o.rate;
    if (o.retries) {
        carcheck::backoff_options backoff;
        backoff.max_attempts = *o.retries + 1;
        c.scheduling.retry = std::make_shared<carcheck::exponential_backoff>(backoff);
    }
    return c;
}

std::unique_ptr<carcheck::client> make_client(asio::io_context& ioc, const cli_options& o, const std::string& key)
{
    try {
        return std::make_unique<carcheck::client>(ioc.get_executor(), make_client_options(o, key));
    } catch (const carcheck::api_error& e) {
        if (e.code() == carcheck::error::insecure_endpoint)
            throw usage_error("plain http:// endpoints are accepted for loopback hosts only (the key would "
                              "travel in clear text): use https:// for '" + redact(o.endpoint, key) + "'");
        throw usage_error("unusable endpoint or TLS settings: " + redact(e.what(), key));
    }
}

bool is_auth_error(const carcheck::error_code& ec)
{
    return ec == carcheck::error::invalid_secret_key || ec == carcheck::error::monthly_limit;
}

/// One `carcheck recognize` run: `concurrency` workers take inputs from a shared list on a
/// single-threaded io_context (so no locks), each awaiting one operation at a time.
class batch {
public:
    batch(const cli_options& o, const std::string& key, std::vector<input> todo, output_writer& out,
          progress_reporter& progress, summary_data& summary)
        : o_(o), key_(key), todo_(std::move(todo)), out_(out), progress_(progress), sum_(summary),
          signals_(ioc_, SIGINT, SIGTERM), tick_(ioc_)
    {
        opts_.country = o.country;
        opts_.recognize_vehicle = o.vehicle;
        opts_.return_image = o.return_image;
        opts_.topn = o.topn;
        opts_.is_cropped = o.cropped;
    }

    int run()
    {
        client_ = make_client(ioc_, o_, key_);
        started_ = clock_type::now();
        signals_.async_wait([this](const carcheck::error_code& ec, int sig) { on_signal(ec, sig); });
        start_read_ahead();
        workers_ = std::min(o_.concurrency, todo_.size());
        for (std::size_t i = 0; i < workers_; ++i)
            asio::co_spawn(ioc_, worker(), asio::detached);
        if (workers_ == 0)
            finished();
        else if (progress_.get_mode() != progress_reporter::mode::none)
            asio::co_spawn(ioc_, ticker(), asio::detached);
        ioc_.run();
        ahead_.reset();
        out_.flush(); // the last lines, if the stop came before their posted flush

        // The io_context is stopped: the client's counters may be read from here.
        const auto counters = client_->scheduling_counters();
        sum_.credits_used = counters.credits_used;
        sum_.credits_total = counters.credits_total;
        sum_.credits_remaining = counters.credits_remaining;
        sum_.throttled = counters.throttled_time;
        sum_.wall = clock_type::now() - started_;
        sum_.not_processed += todo_.size() - next_;
        progress_.finish(snapshot(counters.throttled_time));

        if (auth_failed_)
            return exit_auth;
        if (interrupted_ && (sum_.not_processed || sum_.abandoned))
            return exit_interrupted;
        if (!out_.failure().empty())
            return exit_failures;
        return failed_ ? exit_failures : exit_ok;
    }

private:
    void start_read_ahead()
    {
        const std::size_t window = o_.read_ahead.value_or(2 * o_.concurrency);
        if (window == 0 || o_.urls || todo_.empty())
            return;
        std::vector<std::string> paths;
        paths.reserve(todo_.size());
        for (const auto& in : todo_)
            paths.push_back(in.is_url || !in.error.empty() ? std::string() : in.name);
        try {
            ahead_ = std::make_unique<read_ahead>(std::move(paths), window);
        } catch (const std::system_error&) {
            // No thread to be had (resource limits): the batch works without read-ahead.
        }
    }

    progress_snapshot snapshot(std::chrono::nanoseconds throttled) const
    {
        return {.done = done_, .total = todo_.size(), .failed = failed_, .throttled = throttled,
                .elapsed = clock_type::now() - started_};
    }

    void stop(std::string reason)
    {
        if (stopping_)
            return;
        stopping_ = true;
        sum_.stop_reason = std::move(reason);
    }

    void on_signal(const carcheck::error_code& ec, int sig)
    {
        if (ec)
            return;
        progress_.clear();
        if (!interrupted_) {
            interrupted_ = true;
            stop(sig == SIGINT ? "interrupted (SIGINT)" : "terminated (SIGTERM)");
            std::fprintf(stderr,
                         "carcheck: %s: finishing the requests in flight; signal again to abandon them\n",
                         sig == SIGINT ? "interrupted" : "terminated");
            std::fflush(stderr);
            signals_.async_wait([this](const carcheck::error_code& e, int s) { on_signal(e, s); });
        } else if (!abandon_) {
            std::fputs("carcheck: abandoning the requests in flight\n", stderr);
            std::fflush(stderr);
            abandon_ = true;
            client_->close();
            signals_.async_wait([this](const carcheck::error_code& e, int s) { on_signal(e, s); });
        } else {
            out_.flush(); // a third signal: leave at once, with every line reported so far
            std::_Exit(exit_interrupted);
        }
    }

    asio::awaitable<void> ticker()
    {
        const auto period = progress_.period(o_.progress_interval);
        while (!done_all_) {
            tick_.expires_after(period);
            co_await tick_.async_wait(asio::as_tuple(asio::deferred));
            if (done_all_)
                break;
            progress_.update(snapshot(client_->scheduling_counters().throttled_time));
        }
    }

    asio::awaitable<void> worker()
    {
        while (!stopping_ && next_ < todo_.size()) {
            const input& in = todo_[next_++];
            if (ahead_)
                ahead_->advance(next_);
            if (!in.error.empty()) {
                record_error(in.name, in.error, in.message, 0);
                continue;
            }
            carcheck::diagnostics diag;
            const auto t0 = clock_type::now();
            carcheck::error_code ec;
            carcheck::recognition r;
            auto token = asio::as_tuple(asio::deferred);
            if (in.is_url)
                std::tie(ec, r) = co_await client_->recognize_url(in.name, opts_, diag, token);
            else if (o_.base64)
                std::tie(ec, r) = co_await client_->recognize_base64_file(in.name, opts_, diag, token);
            else
                std::tie(ec, r) = co_await client_->recognize_file(in.name, opts_, diag, token);
            sum_.latencies_ms.push_back(std::chrono::duration<double, std::milli>(clock_type::now() - t0).count());
            completed(in, ec, r, diag);
        }
        if (--workers_ == 0)
            finished();
    }

    void completed(const input& in, const carcheck::error_code& ec, const carcheck::recognition& r,
                   const carcheck::diagnostics& diag)
    {
        if (!ec) {
            ++done_;
            ++sum_.succeeded;
            if (r.results.empty())
                ++sum_.without_plate;
            out_.write_success(in.name, r);
            schedule_flush();
            return;
        }
        if (abandon_ && (ec == carcheck::error::client_closed || ec == asio::error::operation_aborted)) {
            ++sum_.abandoned;
            return;
        }
        if (is_auth_error(ec)) {
            // Nothing was processed: no line, so that --resume sends it again later.
            ++sum_.not_processed;
            if (!auth_failed_) {
                auth_failed_ = true;
                progress_.clear();
                print_error((ec == carcheck::error::invalid_secret_key ? "authentication failed: "
                                                                       : "no credits left: ") +
                                diag.describe(ec) + "; stopping (inputs without a line can be resumed)",
                            key_);
                stop(ec == carcheck::error::invalid_secret_key ? "HTTP 401: invalid secret key"
                                                               : "HTTP 402: monthly credits spent");
            }
            return;
        }
        record_error(in.name, error_name(ec), diag.describe(ec), diag.http_status);
    }

    void record_error(const std::string& name, const std::string& code, const std::string& message, unsigned status)
    {
        ++done_;
        ++failed_;
        ++sum_.failures[code];
        out_.write_error(name, code, redact(message, key_), status);
        schedule_flush();
    }

    /// Lines are flushed once the handlers that are ready now have run: replies completing
    /// together share one write, and no line waits longer than that.
    void schedule_flush()
    {
        if (flush_posted_)
            return;
        flush_posted_ = true;
        asio::post(ioc_, [this] {
            flush_posted_ = false;
            out_.flush();
            check_output();
        });
    }

    void check_output()
    {
        if (!out_.failure().empty() && !stopping_) {
            progress_.clear();
            print_error("cannot write the output: " + out_.failure() + "; stopping", key_);
            stop("output write failed");
        }
    }

    void finished()
    {
        done_all_ = true;
        carcheck::error_code ignored;
        signals_.cancel(ignored);
        tick_.cancel();
        // Idle pooled connections keep timers queued: stop instead of waiting for them.
        ioc_.stop();
    }

    const cli_options& o_;
    const std::string& key_;
    std::vector<input> todo_;
    output_writer& out_;
    progress_reporter& progress_;
    summary_data& sum_;

    asio::io_context ioc_{1};
    asio::signal_set signals_;
    asio::steady_timer tick_;
    std::unique_ptr<carcheck::client> client_;
    std::unique_ptr<read_ahead> ahead_;
    carcheck::recognize_options opts_;
    clock_type::time_point started_;

    std::size_t next_ = 0, workers_ = 0, done_ = 0, failed_ = 0;
    bool stopping_ = false, interrupted_ = false, abandon_ = false, auth_failed_ = false, done_all_ = false;
    bool flush_posted_ = false;
};

} // namespace

int run_recognize(const cli_options& o, const std::string& key)
{
    // (SIGINT during discovery, before the batch installs its handler, just ends the
    // program: nothing has been written yet.)
    const existing_output existing = o.output.empty() ? existing_output{}
                                                      : read_existing_output(o.output, o.format, o.resume);
    std::vector<input> inputs = discover_inputs(o.inputs, {.extensions = o.extensions, .urls = o.urls}, std::cin);

    summary_data summary;
    summary.inputs = inputs.size();
    std::vector<input> todo;
    todo.reserve(inputs.size());
    for (auto& in : inputs) {
        if (o.resume && existing.inputs.count(in.name))
            ++summary.skipped;
        else
            todo.push_back(std::move(in));
    }
    if (summary.inputs == 0)
        throw usage_error("no input found (folders are searched for the extensions " + [&] {
            std::string l;
            for (const auto& e : o.extensions)
                l += (l.empty() ? "" : ",") + e;
            return l;
        }() + ")");

    auto out = open_output(o.output, o.format, existing);
    progress_reporter progress(stderr, progress_reporter::choose(o.quiet, STDERR_FILENO));
    batch b(o, key, std::move(todo), *out, progress, summary);
    const int status = b.run();
    out.reset(); // flush and close before the summary
    if (!o.quiet)
        std::fputs(format_summary(std::move(summary)).c_str(), stderr);
    return status;
}

int run_config(const cli_options& o, const std::string& key)
{
    asio::io_context ioc{1};
    auto client = make_client(ioc, o, key);
    carcheck::diagnostics diag;
    int status = exit_failures;
    bool interrupted = false;
    client->get_config(diag, [&](carcheck::error_code ec, carcheck::config cfg) {
        if (interrupted) {
            status = exit_interrupted;
        } else if (!ec) {
            std::fputs((cfg.raw_json + "\n").c_str(), stdout);
            std::fflush(stdout);
            status = exit_ok;
        } else {
            print_error("config failed: " + diag.describe(ec), key);
            status = is_auth_error(ec) ? exit_auth : exit_failures;
        }
        ioc.stop();
    });
    asio::signal_set signals(ioc, SIGINT, SIGTERM);
    signals.async_wait([&](const carcheck::error_code& ec, int) {
        if (!ec) {
            interrupted = true;
            client->close();
        }
    });
    ioc.run();
    return status;
}

} // namespace carcheck_cli
