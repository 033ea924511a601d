#include "runner.hpp"

#include "inputs.hpp"
#include "name_index.hpp"
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
#include <deque>
#include <memory>

#include <sys/stat.h>
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
        case error::proxy_refused: return "proxy_refused";
        case error::proxy_auth_required: return "proxy_auth_required";
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

/// The first of the environment variables that is set and not empty, else "".
std::string first_env(const char* name, const char* fallback = nullptr)
{
    if (const char* v = std::getenv(name); v && *v)
        return v;
    if (const char* v = fallback ? std::getenv(fallback) : nullptr; v && *v)
        return v;
    return {};
}

/// The proxy as curl chooses it: --proxy, else the environment; none for a host in
/// --noproxy (else $no_proxy / $NO_PROXY), whichever way the proxy was given.
std::string proxy_for(const cli_options& o)
{
    std::string proxy;
    if (o.proxy) {
        proxy = *o.proxy;
    } else {
        // proxy_from_environment applies the environment's no_proxy itself; --noproxy
        // replaces that list, so read the variable here and match below.
        auto url = boost::urls::parse_uri(o.endpoint);
        if (!url)
            return {};
        if (url->scheme_id() == boost::urls::scheme::https)
            proxy = first_env("https_proxy", "HTTPS_PROXY");
        else
            proxy = first_env("http_proxy"); // lower case only, as curl
    }
    if (proxy.empty())
        return {};
    auto url = boost::urls::parse_uri(o.endpoint);
    if (!url)
        return proxy; // the client reports the unusable endpoint
    std::string list;
    if (o.noproxy)
        list = *o.noproxy;
    else
        list = first_env("no_proxy", "NO_PROXY");
    return carcheck::no_proxy_matches(url->host_address(), list) ? std::string{} : proxy;
}

carcheck::client_options make_client_options(const cli_options& o, const std::string& key)
{
    carcheck::client_options c;
    c.secret_key = key;
    c.endpoint = o.endpoint;
    c.max_connections = o.submitted_limit();
    // One thread runs the io_context and makes every call (signals and the read-ahead's
    // results arrive through it): the client needs no strand.
    c.thread_safe = false;
    if (o.concurrency)
        c.scheduling.max_in_flight = *o.concurrency; // pinned
    else
        c.scheduling.max_adaptive_in_flight = o.max_concurrency;
    if (o.timeout)
        c.timeouts.request = *o.timeout;
    if (o.stall_timeout)
        c.timeouts.stall = *o.stall_timeout;
    if (o.connect_timeout)
        c.timeouts.connect = *o.connect_timeout;
    c.proxy = proxy_for(o);
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
        throw usage_error("unusable endpoint, proxy or TLS settings: " + redact(e.what(), key));
    }
}

bool is_auth_error(const carcheck::error_code& ec)
{
    return ec == carcheck::error::invalid_secret_key || ec == carcheck::error::monthly_limit;
}

/// What a failure says about the service (as opposed to the input).
enum class failure_kind {
    input,      ///< the reply or a local problem of this input: it gets its line
    outage,     ///< the service cannot be reached at all: stop at once
    connection, ///< a connection failed: N of these in a row (no reply between) are an outage
};

failure_kind classify(const carcheck::error_code& ec)
{
    namespace ae = asio::error;
    if (ec == ae::connection_refused || ec == ae::host_not_found || ec == ae::host_not_found_try_again ||
        ec == ae::network_unreachable || ec == ae::host_unreachable || ec == ae::no_data)
        return failure_kind::outage;
    // A certificate the CA file (or the system store) does not vouch for: every connection
    // will fail the same way.
    if (carcheck::is_certificate_verification_failure(ec))
        return failure_kind::outage;
    // Every connection goes through the proxy: its refusal holds for the whole batch.
    if (ec == carcheck::error::proxy_auth_required || ec == carcheck::error::proxy_refused)
        return failure_kind::outage;
    if (std::strncmp(ec.category().name(), "asio.ssl", 8) == 0)
        return failure_kind::connection;
    if (ec == ae::connection_reset || ec == ae::connection_aborted || ec == ae::eof || ec == ae::timed_out ||
        ec == ae::broken_pipe || ec == carcheck::error::connection_closed || ec == carcheck::error::timeout)
        return failure_kind::connection;
    return failure_kind::input;
}

/// Is stdout the terminal stderr is on (then result lines and the progress bar share it)?
bool same_terminal(int a, int b)
{
    struct stat sa{}, sb{};
    return ::isatty(a) && ::isatty(b) && ::fstat(a, &sa) == 0 && ::fstat(b, &sb) == 0 && sa.st_rdev == sb.st_rdev;
}

/// One `carcheck recognize` run on a single-threaded io_context (so no locks). Inputs are
/// taken from the source as requests complete: at most `concurrency` in flight and a
/// look-ahead of the read-ahead window, whatever the number of inputs.
class batch {
public:
    batch(const cli_options& o, const std::string& key, input_source& source, name_index& seen,
          output_writer& out, progress_reporter& progress, summary_data& summary)
        : o_(o), key_(key), source_(source), seen_(seen), out_(out), progress_(progress), sum_(summary),
          signals_(ioc_, SIGINT, SIGTERM), tick_(ioc_), stdin_wait_(ioc_),
          share_terminal_(progress.get_mode() == progress_reporter::mode::bar && same_terminal(STDOUT_FILENO, STDERR_FILENO))
    {
        opts_.country = o.country;
        opts_.recognize_vehicle = o.vehicle;
        opts_.return_image = o.return_image;
        opts_.topn = o.topn;
        opts_.is_cropped = o.cropped;
        window_ = o_.urls ? 0 : o_.read_ahead.value_or(2 * o_.submitted_limit());
        lookahead_ = std::max<std::size_t>(window_, 1);
    }

    int run()
    {
        client_ = make_client(ioc_, o_, key_);
        started_ = clock_type::now();
        signals_.async_wait([this](const carcheck::error_code& ec, int sig) { on_signal(ec, sig); });
        if (window_) {
            try {
                ahead_ = std::make_unique<read_ahead>(std::vector<std::string>{}, window_);
            } catch (const std::system_error&) {
                // No thread to be had (resource limits): the batch works without read-ahead.
            }
        }
        if (!out_.failure().empty()) // the CSV header could not be written
            output_failed();
        pump();
        if (progress_.get_mode() != progress_reporter::mode::none && !done_all_)
            asio::co_spawn(ioc_, ticker(), asio::detached);
        if (!done_all_)
            ioc_.run();
        ahead_.reset();
        sum_.not_processed += ahead_inputs_.size();
        sum_.unread_inputs = !source_done_;

        // The io_context is stopped: the client's counters may be read from here.
        const auto counters = client_->scheduling_counters();
        sum_.credits_used = counters.credits_used;
        sum_.credits_total = counters.credits_total;
        sum_.credits_remaining = counters.credits_remaining;
        sum_.throttled = counters.throttled_wall_time;
        sum_.in_flight_peak = counters.in_flight_peak;
        sum_.in_flight_limit_peak = counters.in_flight_limit_peak;
        sum_.in_flight_adaptive = !o_.concurrency.has_value();
        sum_.allowed_rate = counters.allowed_rate;
        sum_.wall = clock_type::now() - started_;
        progress_.finish(snapshot(counters));

        if (stop_status_ == exit_auth || stop_status_ == exit_unreachable)
            return stop_status_;
        if (interrupted_ && (sum_.not_processed || sum_.abandoned || more_inputs_))
            return exit_interrupted;
        if (!out_.failure().empty())
            return exit_failures;
        return failed_ ? exit_failures : exit_ok;
    }

private:
    progress_snapshot snapshot(const carcheck::scheduler_counters& counters) const
    {
        // The total so far: inputs found, and the rest of a listed folder (names that
        // --resume or duplicates pass over are taken off when they are reached).
        return {.done = done_, .total = total_ + (source_done_ ? 0 : source_.listed()),
                .total_known = source_done_ || !source_.more_unlisted(), .failed = failed_,
                .throttled = counters.throttled_wall_time, .elapsed = clock_type::now() - started_,
                .in_flight = counters.in_flight, .in_flight_limit = counters.in_flight_limit.value_or(0)};
    }

    void stop(std::string reason, int status = 0)
    {
        if (stopping_)
            return;
        stopping_ = true;
        stop_status_ = status;
        sum_.stop_reason = std::move(reason);
        carcheck::error_code ignored;
        stdin_wait_.cancel(ignored);
    }

    /// Discovers inputs until the look-ahead is full (or, with `wait` false, until standard
    /// input has no complete line ready). Names already in the output or already taken
    /// are counted and passed over.
    void refill(bool wait)
    {
        while (!source_done_ && !stopping_ && ahead_inputs_.size() < lookahead_) {
            input in;
            const auto st = source_.next(in, wait);
            if (st == input_source::status::end) {
                source_done_ = true;
                break;
            }
            if (st == input_source::status::would_block) {
                wait_for_stdin();
                break;
            }
            if (const auto prior = seen_.find_or_insert(in.name, name_index::origin::this_run)) {
                if (*prior == name_index::origin::output_file) {
                    ++sum_.inputs;
                    ++sum_.skipped;
                } else {
                    ++sum_.duplicates;
                }
                continue;
            }
            ++sum_.inputs;
            ++total_;
            if (ahead_)
                ahead_->add(in.is_url || !in.error.empty() ? std::string() : in.name);
            ahead_inputs_.push_back(std::move(in));
        }
    }

    void wait_for_stdin()
    {
        if (stdin_waiting_)
            return;
        if (!stdin_wait_.is_open()) {
            carcheck::error_code ec;
            stdin_wait_.assign(::dup(source_.stdin_fd()), ec);
            if (ec) { // not pollable (cannot happen for a descriptor poll() said would block)
                refill(true);
                return;
            }
        }
        stdin_waiting_ = true;
        stdin_wait_.async_wait(asio::posix::stream_descriptor::wait_read, [this](const carcheck::error_code& ec) {
            stdin_waiting_ = false;
            if (!ec)
                pump();
        });
    }

    /// Starts inputs while there is room, then ends the batch when nothing is left to do.
    void pump()
    {
        // Adaptive: up to the cap is submitted, and the scheduler holds what its limit does
        // not admit yet (a bounded number of inputs open at once either way).
        while (!stopping_ && in_flight_ < o_.submitted_limit()) {
            if (ahead_inputs_.empty())
                refill(false); // standard input is waited for by the event loop, signals included
            if (ahead_inputs_.empty())
                break;
            input in = std::move(ahead_inputs_.front());
            ahead_inputs_.pop_front();
            ++taken_;
            if (ahead_)
                ahead_->advance(taken_);
            refill(false);
            if (!in.error.empty()) {
                record_error(in.name, in.error, in.message, 0);
                continue;
            }
            start(std::move(in));
        }
        more_inputs_ = !ahead_inputs_.empty() || !source_done_;
        if (in_flight_ == 0 && (stopping_ || (ahead_inputs_.empty() && source_done_)))
            finished();
    }

    struct operation {
        input in;
        carcheck::diagnostics diag;
        clock_type::time_point t0 = clock_type::now();
    };

    void start(input in)
    {
        auto op = std::make_shared<operation>();
        op->in = std::move(in);
        ++in_flight_;
        auto done = [this, op](carcheck::error_code ec, carcheck::recognition r) {
            --in_flight_;
            sum_.latencies.add(std::chrono::duration<double, std::milli>(clock_type::now() - op->t0).count());
            completed(op->in, ec, r, op->diag);
            pump();
        };
        if (op->in.is_url)
            client_->recognize_url(op->in.name, opts_, op->diag, std::move(done));
        else if (o_.base64)
            client_->recognize_base64_file(op->in.name, opts_, op->diag, std::move(done));
        else
            client_->recognize_file(op->in.name, opts_, op->diag, std::move(done));
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
            pump();
        } else if (!abandon_) {
            std::fputs("carcheck: abandoning the requests in flight\n", stderr);
            std::fflush(stderr);
            abandon_ = true;
            client_->close();
            signals_.async_wait([this](const carcheck::error_code& e, int s) { on_signal(e, s); });
        } else {
            std::_Exit(exit_interrupted); // a third signal: leave at once (every line is written)
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
            progress_.update(snapshot(client_->scheduling_counters()));
        }
    }

    void completed(const input& in, const carcheck::error_code& ec, const carcheck::recognition& r,
                   const carcheck::diagnostics& diag)
    {
        if (!ec) {
            write_held(); // the service answered: the connection failures before were not an outage
            sum_.credits_this_run += r.credit_cost;
            line_start();
            const bool written = out_.write_success(in.name, r);
            line_end();
            if (!written) {
                ++sum_.not_written;
                output_failed();
                return;
            }
            ++done_;
            ++sum_.succeeded;
            if (r.results.empty())
                ++sum_.without_plate;
            return;
        }
        if (abandon_ && (ec == carcheck::error::client_closed || ec == asio::error::operation_aborted)) {
            ++sum_.abandoned;
            return;
        }
        if (is_auth_error(ec)) {
            // Nothing was processed: no line, so that --resume sends it again later.
            ++sum_.not_processed;
            if (stop_status_ == 0) {
                report(std::string(ec == carcheck::error::invalid_secret_key ? "authentication failed: "
                                                                              : "no credits left: ") +
                       diag.describe(ec) + "; stopping (inputs without a line can be resumed)");
                stop(ec == carcheck::error::invalid_secret_key ? "HTTP 401: invalid secret key"
                                                               : "HTTP 402: monthly credits spent",
                     exit_auth);
            }
            return;
        }
        switch (classify(ec)) {
        case failure_kind::outage:
            ++sum_.not_processed;
            unreachable(diag.describe(ec));
            return;
        case failure_kind::connection:
            if (stop_status_ == exit_unreachable) {
                ++sum_.not_processed;
                return;
            }
            // Held back: if more follow without a reply between, it is an outage and these
            // inputs get no line (--resume sends them); a reply first, and they get theirs.
            held_.push_back({in.name, error_name(ec), diag.describe(ec), diag.http_status});
            if (held_.size() >= o_.max_connection_failures) {
                unreachable(std::to_string(o_.max_connection_failures) +
                            " connection failures in a row (--max-connection-failures), the last: " +
                            diag.describe(ec));
            }
            return;
        case failure_kind::input:
            write_held();
            record_error(in.name, error_name(ec), diag.describe(ec), diag.http_status);
            return;
        }
    }

    void unreachable(const std::string& why)
    {
        // The connection failures held back were the outage too: no line for them either.
        sum_.not_processed += held_.size();
        held_.clear();
        if (stop_status_ != 0)
            return;
        report("service unreachable: " + why + "; stopping (inputs without a line can be resumed)");
        stop("service unreachable", exit_unreachable);
    }

    void report(const std::string& text)
    {
        progress_.clear();
        print_error(text, key_);
        progress_.redraw();
    }

    struct held_failure {
        std::string name, code, message;
        unsigned status;
    };

    void write_held()
    {
        auto held = std::move(held_);
        held_.clear();
        for (auto& h : held)
            record_error(h.name, h.code, h.message, h.status);
    }

    void record_error(const std::string& name, const std::string& code, const std::string& message, unsigned status)
    {
        line_start();
        const bool written = out_.write_error(name, code, redact(message, key_), status);
        line_end();
        if (!written) {
            ++sum_.not_written;
            output_failed();
            return;
        }
        ++done_;
        ++failed_;
        ++sum_.failures[code];
    }

    // A result line on the terminal that shows the bar: erase the bar first, draw it after.
    void line_start()
    {
        if (share_terminal_)
            progress_.clear();
    }
    void line_end()
    {
        if (share_terminal_)
            progress_.redraw();
    }

    void output_failed()
    {
        if (stopping_ && stop_reason_is_output_)
            return;
        stop_reason_is_output_ = true;
        report("cannot write the output: " + out_.failure() + "; stopping");
        stop("output write failed");
    }

    void finished()
    {
        if (done_all_)
            return;
        write_held(); // connection failures the batch ended with (no outage): their lines
        done_all_ = true;
        carcheck::error_code ignored;
        signals_.cancel(ignored);
        stdin_wait_.cancel(ignored);
        tick_.cancel();
        // Idle pooled connections keep timers queued: stop instead of waiting for them.
        ioc_.stop();
    }

    const cli_options& o_;
    const std::string& key_;
    input_source& source_;
    name_index& seen_;
    output_writer& out_;
    progress_reporter& progress_;
    summary_data& sum_;

    asio::io_context ioc_{1};
    asio::signal_set signals_;
    asio::steady_timer tick_;
    asio::posix::stream_descriptor stdin_wait_;
    const bool share_terminal_;
    std::unique_ptr<carcheck::client> client_;
    std::unique_ptr<read_ahead> ahead_;
    carcheck::recognize_options opts_;
    clock_type::time_point started_;

    std::deque<input> ahead_inputs_;
    std::vector<held_failure> held_;
    std::size_t window_ = 0, lookahead_ = 1;
    std::size_t taken_ = 0, total_ = 0, in_flight_ = 0, done_ = 0, failed_ = 0;
    int stop_status_ = 0;
    bool source_done_ = false, stdin_waiting_ = false, more_inputs_ = false;
    bool stopping_ = false, interrupted_ = false, abandon_ = false, done_all_ = false;
    bool stop_reason_is_output_ = false;
};

} // namespace

int run_recognize(const cli_options& o, const std::string& key)
{
    // (SIGINT during discovery, before the batch installs its handler, just ends the
    // program: nothing has been written yet.)
    // A reader that goes away (`| head`) is a failed write reported like any other, with
    // the summary, instead of a silent death by SIGPIPE.
    std::signal(SIGPIPE, SIG_IGN);
    name_index seen;
    const existing_output existing =
        o.output.empty() ? existing_output{} : read_existing_output(o.output, o.resume ? &seen : nullptr);
    output_format format = o.format;
    if (existing.format) {
        // Appending to a file: its lines decide the format; never mix two in one file.
        if (o.format_given && *existing.format != o.format)
            throw usage_error("the output file '" + o.output + "' holds " +
                              (*existing.format == output_format::csv ? "CSV" : "JSON Lines") + ", not " +
                              (o.format == output_format::csv ? "CSV" : "JSON Lines") +
                              "; drop --format to continue it, or choose another --output");
        format = *existing.format;
    }
    const discovery_options discovery{.extensions = o.extensions, .urls = o.urls};
    input_source source(o.inputs, discovery, STDIN_FILENO);

    // The first input is looked for before anything is written: none at all is a usage error.
    {
        input first;
        if (source.next(first) == input_source::status::end)
            throw usage_error("no input found (folders are searched for the extensions " + [&] {
                std::string l;
                for (const auto& e : o.extensions)
                    l += (l.empty() ? "" : ",") + e;
                return l;
            }() + ")");
        source.put_back(std::move(first));
    }

    summary_data summary;
    auto out = open_output(o.output, format, existing);
    progress_reporter progress(stderr, progress_reporter::choose(o.quiet, STDERR_FILENO));
    int status;
    {
        batch b(o, key, source, seen, *out, progress, summary);
        status = b.run();
    }
    summary.skipped_entries = source.skipped();
    if (!out->close() && summary.not_written == 0) {
        // Only the close failed (an NFS write-back error, say): the lines may not have reached the file.
        print_error("cannot write the output: " + out->failure(), key);
    }
    if (!out->failure().empty() && status == exit_ok)
        status = exit_failures;
    if (!o.quiet)
        std::fputs(format_summary(summary).c_str(), stderr);
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
            status = is_auth_error(ec) ? exit_auth
                     : classify(ec) == failure_kind::outage ? exit_unreachable
                                                            : exit_failures;
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
