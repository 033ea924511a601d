#include "args.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string_view>

namespace carcheck_cli {

namespace {

const char* const overview_help = R"(carcheck - command-line client of the OpenALPR CarCheck Cloud API v3

Usage:
  carcheck recognize [options] PATH...   recognize images (files, folders, - = paths on stdin)
  carcheck config [options]              print the service's /config (countries, vehicle labels)
  carcheck help [COMMAND]                this text, or the help of a command
  carcheck --version

The secret key is read from the environment variable CARCHECK_SECRET_KEY or from
--secret-key-file FILE (first line). It is never accepted as a command-line value (it
would show in `ps`) and never printed. `carcheck config` works without one.

Exit status:
  0  every input succeeded          2  usage error (bad option, no key, unusable endpoint)
  1  some inputs failed             3  authentication or credits (HTTP 401 / 402)
  4  service unreachable (connection refused, unknown host, TLS verification failed,
     or --max-connection-failures connection failures in a row)
  130  interrupted (SIGINT/SIGTERM) before every input was processed

Examples:
  export CARCHECK_SECRET_KEY=sk_...
  carcheck recognize --country eu --vehicle photos/ > plates.jsonl
  carcheck recognize --format csv --output plates.csv --resume photos/
  carcheck config | python3 -m json.tool

Run `carcheck COMMAND --help` for the options of a command.
)";

const char* const common_options_help = R"(Connection options:
  --endpoint URL          API base URL (default https://api.openalpr.com/v3, or
                          $CARCHECK_ENDPOINT). http:// is accepted for loopback hosts only.
  --secret-key-file FILE  read the secret key from FILE (default: $CARCHECK_SECRET_KEY)
  --ca-file FILE          trust only the CA certificates in this PEM file (like curl --cacert;
                          default: $CARCHECK_CA_FILE if set)
  --insecure-loopback     do not verify the TLS certificate; allowed only when the endpoint
                          host is a loopback address (127.0.0.0/8, ::1, localhost), e.g. a
                          local mock server whose certificate you do not have
  --stall-timeout SECONDS an attempt fails with a timeout when no byte moved on its connection
                          for this long, writing the request or reading the reply (default 30;
                          a slow upload that keeps moving never times out)
  --timeout SECONDS       total deadline of one attempt: writing the request and reading the
                          reply, however fast it moves (default: none; both at most 31536000 =
                          one year)
  --connect-timeout SECONDS
                          deadline of opening a connection: name resolution, TCP connect
                          (every address), the proxy's CONNECT and the TLS handshake (default 10)
  --proxy URL             HTTP proxy http://[user:password@]host[:port] (port 1080 if omitted);
                          the connection to the service is a CONNECT tunnel, TLS end to end.
                          Default: $https_proxy or $HTTPS_PROXY ($http_proxy for http://
                          endpoints); --proxy "" connects directly. Prefer the environment
                          for a password (the command line is visible to other users); it is
                          never printed
  --noproxy LIST          hosts reached without the proxy, as curl: comma-separated names
                          (each also matches its subdomains), IP addresses or CIDR ranges, or
                          * for all (default: $no_proxy or $NO_PROXY)
  --retries N             retries of a request lost on a connection before the server could
                          process it (default 2); 403s are retried for up to 5 minutes
  -h, --help              this help
)";

const char* const recognize_help = R"(Usage: carcheck recognize [options] PATH...

Recognizes the licence plates (and optionally the vehicles) of images. A PATH is an image
file, a folder (searched recursively for files with an image extension), or - to read one
path per line from standard input. With --url the arguments (and the stdin lines) are image
URLs the service downloads itself.

Every input gives exactly one line of output, in completion order, flushed at once:
  JSON Lines (default)  {"input":..,"ok":true,"plate":..,"confidence":..,"region":..,
                         "vehicle":{..}|null,"reply":{the full reply}}
                        {"input":..,"ok":false,"error":"<code>","message":"..","http_status":N}
  CSV (--format csv)    a header row, then input,ok,plate,confidence,region,vehicle_color,
                        vehicle_make,vehicle_make_model,vehicle_body_type,vehicle_year,
                        error,message,http_status (RFC 4180 quoting)

What to send:
  --country CODE          training data: us, eu, au, ... (default us; see `carcheck config`)
  --vehicle               also recognize the vehicle (costs one more credit)
  --topn N                plate candidates per result, 1..1000 (server default 10)
  --return-image          the reply carries the image in base64 (large output)
  --cropped               the images are crops of a plate / vehicle (not with --base64/--url)
  --base64                upload the base64 text (POST /recognize_bytes) instead of multipart
  --url                   the arguments are image URLs (POST /recognize_url)
  --ext LIST              image extensions searched in folders (default
                          jpg,jpeg,png,gif,bmp,webp,tif,tiff; case-insensitive)

Batch options:
  --concurrency N         exactly N requests in flight at once (also the connection count).
                          Default: adaptive, the number in flight follows the allowed rate x
                          the observed latency (Little's law), up to --max-concurrency
  --max-concurrency N     cap of the adaptive number in flight and of connections (default 64)
  --rate R                at most R requests per second (client-side cap)
  --max-connection-failures N
                          stop the batch (exit 4) after N connection failures in a row
                          across different inputs, with no success between (default 10)
  --format jsonl|csv      output format (default jsonl)
  --output FILE           append the output to FILE instead of standard output
  --resume                with --output: skip the inputs FILE already has a line for
  --quiet                 no progress and no summary on standard error
  --progress-interval S   seconds between progress lines when stderr is not a terminal
                          (default 1)
  --read-ahead N          open the next N files and have the kernel read them in, on a
                          thread of its own, so a cold disk does not stall the requests
                          (default 2 x the requests in flight at most; 0: off)

Progress goes to standard error: a bar when it is a terminal, a plain line every interval
otherwise. At the end a summary: counts by outcome, credits used / remaining, wall time and
p50 / p99 latency.

Interrupting (Ctrl-C, SIGTERM) stops starting new inputs, lets the requests in flight
finish and be written, prints the summary and exits with 130; a second signal abandons the
requests in flight (they get no line). Run the same command with --resume to continue.
An HTTP 401 (bad key) or 402 (no credits left) stops the batch the same way and exits with
3; the inputs refused that way get no line, so --resume processes them later. An outage
(connection refused, unknown host, TLS verification failure, or N connection failures in a
row) stops it too, exits with 4, and the inputs it hit get no line either.

Examples:
  carcheck recognize car.jpg
  carcheck recognize --country eu --vehicle --concurrency 16 /data/frames > plates.jsonl
  find /data -name '*.jpg' -newer stamp | carcheck recognize --format csv --output new.csv -
  carcheck recognize --output plates.jsonl --resume /data/frames   # continue a batch
  carcheck recognize --url https://example.com/car1.jpg https://example.com/car2.jpg
  carcheck recognize --endpoint https://127.0.0.1:8443/v3 --ca-file mock-ca.pem images/

)";

const char* const config_help = R"(Usage: carcheck config [options]

Prints the reply of GET /config (the countries the service knows and the vehicle labels)
as JSON on standard output. /config is free and needs no secret key (one is sent when
set).

Examples:
  carcheck config
  carcheck config --endpoint https://127.0.0.1:8443/v3 --insecure-loopback

)";

const char* const exit_help = R"(
Exit status: 0 all succeeded, 1 some inputs failed, 2 usage error, 3 authentication or
credits (HTTP 401/402), 4 service unreachable, 130 interrupted.
)";

std::chrono::milliseconds parse_seconds(const std::string& name, const std::string& v)
{
    errno = 0;
    char* end = nullptr;
    const double s = std::strtod(v.c_str(), &end);
    if (v.empty() || *end != '\0' || std::isnan(s) || s <= 0)
        throw usage_error(name + " needs a positive number of seconds, got '" + v + "'");
    if (errno == ERANGE || s > max_timeout_seconds) {
        char limit[32];
        std::snprintf(limit, sizeof limit, "%.0f", max_timeout_seconds);
        throw usage_error(name + " is at most " + limit + " seconds (one year; longer deadlines overflow the " +
                          "clock), got '" + v + "'");
    }
    return std::chrono::milliseconds(std::max<long long>(1, std::llround(s * 1000)));
}

long long parse_integer(const std::string& name, const std::string& v, long long lo, long long hi)
{
    errno = 0;
    char* end = nullptr;
    const long long n = std::strtoll(v.c_str(), &end, 10);
    if (v.empty() || *end != '\0' || errno != 0 || n < lo || n > hi)
        throw usage_error(name + " needs an integer in " + std::to_string(lo) + ".." + std::to_string(hi) +
                          ", got '" + v + "'");
    return n;
}

double parse_rate(const std::string& name, const std::string& v)
{
    errno = 0;
    char* end = nullptr;
    const double r = std::strtod(v.c_str(), &end);
    if (v.empty() || *end != '\0' || errno != 0 || !std::isfinite(r) || r <= 0)
        throw usage_error(name + " needs a positive number of requests per second, got '" + v + "'");
    return r;
}

std::vector<std::string> parse_extensions(const std::string& v)
{
    std::vector<std::string> out;
    std::stringstream s(v);
    for (std::string e; std::getline(s, e, ',');) {
        if (!e.empty() && e.front() == '.')
            e.erase(0, 1);
        std::transform(e.begin(), e.end(), e.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        if (!e.empty())
            out.push_back(e);
    }
    if (out.empty())
        throw usage_error("--ext needs a comma-separated list of extensions, got '" + v + "'");
    return out;
}

} // namespace

std::string help_text(command cmd)
{
    switch (cmd) {
    case command::recognize: return std::string(recognize_help) + common_options_help + exit_help;
    case command::config: return std::string(config_help) + common_options_help + exit_help;
    default: return overview_help;
    }
}

std::string usage_hint(command cmd)
{
    switch (cmd) {
    case command::recognize: return "Usage: carcheck recognize [options] PATH...\nTry 'carcheck recognize --help'.\n";
    case command::config: return "Usage: carcheck config [options]\nTry 'carcheck config --help'.\n";
    default: return "Usage: carcheck recognize|config [options] ...\nTry 'carcheck --help'.\n";
    }
}

cli_options parse_command_line(const std::vector<std::string>& args)
{
    cli_options o;
    if (const char* ep = std::getenv("CARCHECK_ENDPOINT"); ep && *ep)
        o.endpoint = ep;
    if (const char* ca = std::getenv("CARCHECK_CA_FILE"); ca && *ca)
        o.ca_file = ca;
    if (args.empty())
        throw usage_error("no command given");

    const std::string& first = args.front();
    if (first == "-h" || first == "--help" || first == "help") {
        o.cmd = command::help;
        if (first == "help" && args.size() > 1) {
            if (args[1] == "recognize")
                o.cmd = command::recognize, o.help = true;
            else if (args[1] == "config")
                o.cmd = command::config, o.help = true;
            else
                throw usage_error("unknown command '" + args[1] + "'");
        }
        return o;
    }
    if (first == "--version" || first == "version") {
        o.cmd = command::version;
        return o;
    }
    if (first == "recognize")
        o.cmd = command::recognize;
    else if (first == "config")
        o.cmd = command::config;
    else if (!first.empty() && first[0] == '-')
        throw usage_error("expected a command before '" + first + "'");
    else
        throw usage_error("unknown command '" + first + "'");
    const bool rec = o.cmd == command::recognize;

    // Options with a value, and flags; some only for `recognize`.
    using setter = std::function<void(const std::string&)>;
    const std::map<std::string, std::pair<bool, setter>> with_value{
        {"--endpoint", {false, [&](const std::string& v) { o.endpoint = v; }}},
        {"--secret-key-file", {false, [&](const std::string& v) { o.secret_key_file = v; }}},
        {"--ca-file", {false, [&](const std::string& v) { o.ca_file = v; }}},
        {"--timeout", {false, [&](const std::string& v) { o.timeout = parse_seconds("--timeout", v); }}},
        {"--stall-timeout", {false, [&](const std::string& v) { o.stall_timeout = parse_seconds("--stall-timeout", v); }}},
        {"--connect-timeout", {false, [&](const std::string& v) { o.connect_timeout = parse_seconds("--connect-timeout", v); }}},
        {"--proxy", {false, [&](const std::string& v) { o.proxy = v; }}},
        {"--noproxy", {false, [&](const std::string& v) { o.noproxy = v; }}},
        {"--retries", {false, [&](const std::string& v) { o.retries = static_cast<unsigned>(parse_integer("--retries", v, 0, 100)); }}},
        {"--rate", {true, [&](const std::string& v) { o.rate = parse_rate("--rate", v); }}},
        {"--max-connection-failures", {true, [&](const std::string& v) { o.max_connection_failures = static_cast<std::size_t>(parse_integer("--max-connection-failures", v, 1, 1000000)); }}},
        {"--concurrency", {true, [&](const std::string& v) { o.concurrency = static_cast<std::size_t>(parse_integer("--concurrency", v, 1, 4096)); }}},
        {"--max-concurrency", {true, [&](const std::string& v) { o.max_concurrency = static_cast<std::size_t>(parse_integer("--max-concurrency", v, 1, 4096)); }}},
        {"--country", {true, [&](const std::string& v) {
             if (v.empty())
                 throw usage_error("--country needs a country code such as us or eu");
             o.country = v;
         }}},
        {"--topn", {true, [&](const std::string& v) { o.topn = static_cast<int>(parse_integer("--topn", v, 1, 1000)); }}},
        {"--ext", {true, [&](const std::string& v) { o.extensions = parse_extensions(v); }}},
        {"--format", {true, [&](const std::string& v) {
             o.format_given = true;
             if (v == "jsonl" || v == "json" || v == "jsonlines")
                 o.format = output_format::jsonl;
             else if (v == "csv")
                 o.format = output_format::csv;
             else
                 throw usage_error("--format must be jsonl or csv, got '" + v + "'");
         }}},
        {"--output", {true, [&](const std::string& v) {
             if (v.empty())
                 throw usage_error("--output needs a file name");
             o.output = v;
         }}},
        {"--progress-interval", {true, [&](const std::string& v) { o.progress_interval = parse_seconds("--progress-interval", v); }}},
        {"--read-ahead", {true, [&](const std::string& v) { o.read_ahead = static_cast<std::size_t>(parse_integer("--read-ahead", v, 0, 1000000)); }}},
    };
    const std::map<std::string, std::pair<bool, bool*>> flags{
        {"--insecure-loopback", {false, &o.insecure_loopback}},
        {"--help", {false, &o.help}},
        {"-h", {false, &o.help}},
        {"--vehicle", {true, &o.vehicle}},
        {"--return-image", {true, &o.return_image}},
        {"--cropped", {true, &o.cropped}},
        {"--base64", {true, &o.base64}},
        {"--url", {true, &o.urls}},
        {"--resume", {true, &o.resume}},
        {"--quiet", {true, &o.quiet}},
        {"-q", {true, &o.quiet}},
    };

    bool options_done = false;
    for (std::size_t i = 1; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (options_done || a == "-" || a.empty() || a[0] != '-') {
            if (!rec)
                throw usage_error("unexpected argument '" + a + "'");
            o.inputs.push_back(a);
            continue;
        }
        if (a == "--") {
            options_done = true;
            continue;
        }
        std::string name = a;
        std::optional<std::string> value;
        if (auto eq = a.find('='); eq != std::string::npos && a.rfind("--", 0) == 0) {
            name = a.substr(0, eq);
            value = a.substr(eq + 1);
        }
        if (name == "--secret-key" || name == "--key")
            throw usage_error(name + " is not accepted: a key on the command line is visible to every user "
                                     "(ps); set CARCHECK_SECRET_KEY or use --secret-key-file FILE");
        if (auto it = with_value.find(name); it != with_value.end()) {
            if (it->second.first && !rec)
                throw usage_error("option " + name + " is only for `carcheck recognize`");
            if (!value) {
                if (i + 1 >= args.size())
                    throw usage_error("option " + name + " needs a value");
                value = args[++i];
            }
            it->second.second(*value);
            continue;
        }
        if (auto it = flags.find(name); it != flags.end()) {
            if (it->second.first && !rec)
                throw usage_error("option " + name + " is only for `carcheck recognize`");
            if (value)
                throw usage_error("option " + name + " takes no value");
            *it->second.second = true;
            continue;
        }
        throw usage_error("unknown option '" + name + "'");
    }
    if (o.help)
        return o;

    if (rec) {
        if (o.inputs.empty())
            throw usage_error("no input given (PATH..., or - to read paths from standard input)");
        if (o.urls && o.base64)
            throw usage_error("--url and --base64 exclude each other");
        if (o.cropped && (o.urls || o.base64))
            throw usage_error("--cropped works only for multipart uploads (not with --url or --base64)");
        if (o.resume && o.output.empty())
            throw usage_error("--resume needs --output FILE (the file whose inputs are skipped)");
        if (std::count(o.inputs.begin(), o.inputs.end(), "-") > 1)
            throw usage_error("- (standard input) given more than once");
    }
    return o;
}

namespace {

// Surrounding blanks and line ends are not part of a key (an `echo key > file` or a
// variable set from such a file adds a newline).
std::string trim_key(std::string_view text)
{
    constexpr std::string_view blanks = " \t\r\n\v\f";
    const auto first = text.find_first_not_of(blanks);
    if (first == std::string_view::npos)
        return {};
    return std::string(text.substr(first, text.find_last_not_of(blanks) - first + 1));
}

} // namespace

std::string load_secret_key(const cli_options& o, bool optional)
{
    if (!o.secret_key_file.empty()) {
        const std::string& file = o.secret_key_file;
        std::error_code fec;
        if (std::filesystem::is_directory(file, fec))
            throw usage_error("the secret key file '" + file + "' is a directory");
        std::ifstream in(file, std::ios::binary);
        if (!in)
            throw usage_error("cannot read the secret key file '" + file + "': " + std::strerror(errno));
        std::string line;
        if (!std::getline(in, line) && line.empty())
            throw usage_error("the secret key file '" + file + "' is empty");
        std::string key = trim_key(line);
        if (key.empty())
            throw usage_error("the first line of the secret key file '" + file +
                              "' is blank (the key must be on the first line)");
        return key;
    }
    if (const char* env = std::getenv("CARCHECK_SECRET_KEY"); env && *env) {
        std::string key = trim_key(env);
        if (key.empty())
            throw usage_error("CARCHECK_SECRET_KEY holds only white space");
        return key;
    }
    if (optional)
        return {};
    throw usage_error("no secret key: set CARCHECK_SECRET_KEY or use --secret-key-file FILE");
}

} // namespace carcheck_cli
