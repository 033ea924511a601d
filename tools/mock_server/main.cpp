// carcheck-mock: runs the mock server until SIGINT/SIGTERM. Prints one line with its ports
// to stdout (scripts read it), then one line per request to stderr, never the query string
// (it holds the secret key).

#include "mock_server.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace mock = carcheck::mock;
namespace json = boost::json;

namespace {

constexpr const char* usage = R"(usage: carcheck-mock [options]
  --http-port N            plain HTTP port (0 = pick a free one; default 0)
  --https-port N           TLS port (0 = pick a free one; default 0)
  --no-http, --no-https    disable a port (it is then reported as 0)
  --key KEY[:CREDITS[:RATE[:WINDOW_S]]]
                           accept this secret key: monthly credits (default 1000000), requests
                           per window (0 = unlimited), window seconds (default 60); repeatable;
                           without any --key the key "test-key" is accepted
  --config FILE            JSON file with the same settings (see README.md); later options win
  --cert FILE --key-file FILE
                           serve this certificate chain and private key (PEM)
  --write-cert FILE        write the certificate clients must trust (PEM) to FILE
  --hostname NAME          name in the generated certificate (default localhost)
  --bind ADDR              loopback address to listen on (default 127.0.0.1)
  --max-requests-per-connection N   close keep-alive connections after N requests
  --idle-close-ms N        close connections idle this long
  --fault-rate P           inject a random fault into this fraction of requests (0..1)
  --seed N                 seed of the random faults
  --slow-delay-ms N        delay of the slow_* faults (default 2000)
  --latency-ms N[-M]       server processing time of each recognition (not /config, not
                           401/402/403 refusals), on a timer: N ms, or uniform in N..M
  --latency-jitter-ms J    with --latency-ms N: uniform in N-J..N+J (seeded by --seed)
  --max-body-bytes N       larger request bodies get 413 (default 2147483648, 2 GiB)
  --threads N              server threads (default 1)
  --quiet                  no per-request log
  --help
)";

struct usage_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

std::uint64_t number(std::string_view option, const std::string& text)
{
    std::size_t used = 0;
    unsigned long long v = 0;
    try {
        v = std::stoull(text, &used);
    } catch (const std::exception&) {
        used = 0;
    }
    if (used != text.size() || text.empty() || text[0] == '-')
        throw usage_error(std::string(option) + ": not a number: " + text);
    return v;
}

unsigned short port(std::string_view option, const std::string& text)
{
    auto v = number(option, text);
    if (v > 65535)
        throw usage_error(std::string(option) + ": not a port: " + text);
    return static_cast<unsigned short>(v);
}

mock::key_config parse_key(const std::string& spec)
{
    // KEY[:CREDITS[:RATE[:WINDOW]]]; such keys cannot contain a colon.
    std::vector<std::string> parts;
    std::stringstream s(spec);
    for (std::string part; std::getline(s, part, ':');)
        parts.push_back(part);
    if (parts.empty() || parts[0].empty() || parts.size() > 4)
        throw usage_error("--key: expected KEY[:monthly_credits[:rate_limit[:window_seconds]]]");
    mock::key_config k{.key = parts[0]};
    if (parts.size() > 1)
        k.monthly_credits = static_cast<std::int64_t>(number("--key", parts[1]));
    if (parts.size() > 2)
        k.rate_limit = static_cast<std::int64_t>(number("--key", parts[2]));
    if (parts.size() > 3)
        k.window = std::chrono::seconds(number("--key", parts[3]));
    if (k.window.count() == 0)
        throw usage_error("--key: the window must be at least one second");
    return k;
}

struct settings {
    mock::server_options options;
    std::string write_cert;
    bool quiet = false;
};

void apply_config_file(const std::string& path, settings& st)
{
    std::ifstream in(path);
    if (!in)
        throw usage_error("--config: cannot read " + path);
    std::stringstream text;
    text << in.rdbuf();
    boost::system::error_code ec;
    auto doc = json::parse(text.str(), ec);
    if (ec || !doc.is_object())
        throw usage_error("--config: " + path + " is not a JSON object");
    auto& o = st.options;
    for (const auto& member : doc.as_object()) {
        // Not a structured binding: clang 14 cannot capture those in the lambda below.
        const auto name = member.key();
        const json::value& value = member.value();
        auto integer = [&] { return value.to_number<std::int64_t>(); };
        if (name == "http_port") o.http_port = static_cast<unsigned short>(integer());
        else if (name == "https_port") o.https_port = static_cast<unsigned short>(integer());
        else if (name == "no_http") o.enable_http = !value.as_bool();
        else if (name == "no_https") o.enable_https = !value.as_bool();
        else if (name == "cert") o.cert_file = value.as_string().c_str();
        else if (name == "key_file") o.key_file = value.as_string().c_str();
        else if (name == "write_cert") st.write_cert = value.as_string().c_str();
        else if (name == "hostname") o.tls_hostname = value.as_string().c_str();
        else if (name == "bind") o.bind_address = value.as_string().c_str();
        else if (name == "max_requests_per_connection") o.max_requests_per_connection = static_cast<std::size_t>(integer());
        else if (name == "idle_close_ms") o.idle_close = std::chrono::milliseconds(integer());
        else if (name == "fault_rate") o.random_fault_rate = value.to_number<double>();
        else if (name == "seed") o.seed = static_cast<std::uint64_t>(integer());
        else if (name == "slow_delay_ms") o.slow_delay = std::chrono::milliseconds(integer());
        else if (name == "latency_ms") o.latency = std::chrono::milliseconds(integer());
        else if (name == "latency_jitter_ms") o.latency_jitter = std::chrono::milliseconds(integer());
        else if (name == "huge_reply_bytes") o.huge_reply_bytes = static_cast<std::size_t>(integer());
        else if (name == "max_body_bytes") o.max_body_bytes = static_cast<std::uint64_t>(integer());
        else if (name == "threads") o.threads = static_cast<unsigned>(integer());
        else if (name == "quiet") st.quiet = value.as_bool();
        else if (name == "keys") {
            for (const auto& k : value.as_array()) {
                const auto& ko = k.as_object();
                mock::key_config kc{.key = ko.at("key").as_string().c_str()};
                if (auto* v = ko.if_contains("monthly_credits")) kc.monthly_credits = v->to_number<std::int64_t>();
                if (auto* v = ko.if_contains("credits_used")) kc.credits_used = v->to_number<std::int64_t>();
                if (auto* v = ko.if_contains("rate_limit")) kc.rate_limit = v->to_number<std::int64_t>();
                if (auto* v = ko.if_contains("window_seconds")) kc.window = std::chrono::seconds(v->to_number<std::int64_t>());
                o.keys.push_back(std::move(kc));
            }
        } else {
            throw usage_error("--config: unknown setting \"" + std::string(name) + "\"");
        }
    }
}

// "N" (fixed) or "N-M" (uniform in N..M, kept as its midpoint +- half the span).
void parse_latency(const std::string& text, mock::server_options& o)
{
    const auto dash = text.find('-');
    if (dash == std::string::npos) {
        o.latency = std::chrono::milliseconds(number("--latency-ms", text));
        return;
    }
    const auto low = number("--latency-ms", text.substr(0, dash));
    const auto high = number("--latency-ms", text.substr(dash + 1));
    if (high < low)
        throw usage_error("--latency-ms: the range " + text + " ends below its start");
    o.latency = std::chrono::milliseconds((low + high) / 2);
    o.latency_jitter = std::chrono::milliseconds((high - low) / 2);
}

settings parse_arguments(int argc, char** argv)
{
    settings st;
    auto& o = st.options;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc)
                throw usage_error(std::string(arg) + " needs a value");
            return argv[++i];
        };
        if (arg == "--help" || arg == "-h") {
            std::cout << usage;
            std::exit(0);
        }
        else if (arg == "--http-port") o.http_port = port(arg, value());
        else if (arg == "--https-port") o.https_port = port(arg, value());
        else if (arg == "--no-http") o.enable_http = false;
        else if (arg == "--no-https") o.enable_https = false;
        else if (arg == "--key") o.keys.push_back(parse_key(value()));
        else if (arg == "--config") apply_config_file(value(), st);
        else if (arg == "--cert") o.cert_file = value();
        else if (arg == "--key-file") o.key_file = value();
        else if (arg == "--write-cert") st.write_cert = value();
        else if (arg == "--hostname") o.tls_hostname = value();
        else if (arg == "--bind") o.bind_address = value();
        else if (arg == "--max-requests-per-connection") o.max_requests_per_connection = number(arg, value());
        else if (arg == "--idle-close-ms") o.idle_close = std::chrono::milliseconds(number(arg, value()));
        else if (arg == "--slow-delay-ms") o.slow_delay = std::chrono::milliseconds(number(arg, value()));
        else if (arg == "--seed") o.seed = number(arg, value());
        else if (arg == "--latency-ms") parse_latency(value(), o);
        else if (arg == "--latency-jitter-ms") o.latency_jitter = std::chrono::milliseconds(number(arg, value()));
        else if (arg == "--max-body-bytes") o.max_body_bytes = number(arg, value());
        else if (arg == "--threads") o.threads = static_cast<unsigned>(std::max<std::uint64_t>(1, number(arg, value())));
        else if (arg == "--quiet") st.quiet = true;
        else if (arg == "--fault-rate") {
            const auto text = value();
            try {
                std::size_t used = 0;
                o.random_fault_rate = std::stod(text, &used);
                if (used != text.size())
                    throw std::invalid_argument(text);
            } catch (const std::exception&) {
                throw usage_error("--fault-rate: not a number: " + text);
            }
            if (!(o.random_fault_rate >= 0 && o.random_fault_rate <= 1))
                throw usage_error("--fault-rate: must be between 0 and 1");
        } else {
            throw usage_error("unknown option " + std::string(arg));
        }
    }
    if (!o.enable_http && !o.enable_https)
        throw usage_error("--no-http and --no-https together leave nothing to serve");
    return st;
}

} // namespace

int main(int argc, char** argv)
{
    settings st;
    try {
        st = parse_arguments(argc, argv);
    } catch (const std::exception& e) {
        std::cerr << "carcheck-mock: " << e.what() << "\n" << usage;
        return 2;
    }

    // Block the stop signals in every thread (the server's inherit the mask); main waits.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

    try {
        mock::server server(st.options);
        if (!st.quiet)
            server.set_request_logger([](const mock::server::request_record& r) {
                // Method, path, status, fault: never the query (secret_key) or bodies.
                std::fprintf(stderr, "carcheck-mock: %s %s %u fault=%s\n", r.method.c_str(), r.path.c_str(), r.status,
                             mock::to_string(r.applied));
            });
        server.start();
        if (!st.write_cert.empty()) {
            std::ofstream out(st.write_cert, std::ios::binary | std::ios::trunc);
            out << server.certificate_pem();
            if (!out.flush())
                throw std::runtime_error("cannot write " + st.write_cert);
        }
        std::cout << "carcheck-mock listening http=" << server.http_port() << " https=" << server.https_port()
                  << std::endl;
        int received = 0;
        sigwait(&stop_signals, &received);
        server.stop();
    } catch (const std::exception& e) {
        std::cerr << "carcheck-mock: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
