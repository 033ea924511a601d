// The networking half of the mock: acceptors, plain and TLS sessions (C++20 coroutines),
// keep-alive, fault injection on the wire, and the loopback fetch of /recognize_url.
// The API semantics are in service.cpp; this is the one heavy (Beast + SSL) translation unit.

#include "mock_server.hpp"

#include "certificate.hpp"
#include "service.hpp"
#include "upload_body.hpp"

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/url/parse.hpp>

#include <openssl/ssl.h>

#include <atomic>
#include <ctime>
#include <deque>
#include <fstream>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace carcheck::mock {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using beast::error_code;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr std::uint64_t fetch_body_limit = 2ull << 30; // images fetched for /recognize_url
constexpr std::size_t records_kept = 10'000;
constexpr auto write_timeout = std::chrono::seconds(60);

std::string http_date()
{
    const std::time_t now = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&now, &tm);
    char buf[64];
    std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    return buf;
}

std::string read_file(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw std::runtime_error("carcheck-mock: cannot read " + path);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

/// Faults that answer instead of the API (the request is not processed, nothing is charged).
bool replaces_answer(fault f)
{
    switch (f) {
    case fault::status_500:
    case fault::status_502:
    case fault::status_503:
    case fault::status_500_empty:
    case fault::html_200:
    case fault::non_json_body: return true;
    default: return false;
    }
}

reply fault_reply(fault f)
{
    reply r;
    switch (f) {
    case fault::status_500:
        r.status = 500;
        r.body = R"({"error_code":500,"error":"Internal server error"})";
        break;
    case fault::status_502:
        r.status = 502;
        r.content_type = "text/html";
        r.body = "<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>\n";
        break;
    case fault::status_503:
        r.status = 503;
        r.body = R"({"error_code":503,"error":"Service temporarily unavailable"})";
        r.headers.emplace_back("Retry-After", "1");
        break;
    case fault::status_500_empty:
        r.status = 500;
        r.content_type.clear();
        break;
    case fault::html_200:
        r.content_type = "text/html; charset=utf-8";
        r.body = "<!DOCTYPE html><html><head><title>Sign in</title></head><body><p>Captive portal</p></body></html>\n";
        break;
    case fault::non_json_body:
        r.content_type = "text/plain";
        r.body = "upstream connect error or disconnect/reset before headers\n";
        break;
    default: break;
    }
    return r;
}

std::string serialize_head(const http::response<http::string_body>& res)
{
    std::string head = "HTTP/1.1 " + std::to_string(res.result_int()) + " " + std::string(res.reason()) + "\r\n";
    for (const auto& field : res)
        head.append(field.name_string()).append(": ").append(field.value()).append("\r\n");
    head += "\r\n";
    return head;
}

template <class Stream>
tcp::socket& socket_of(Stream& stream)
{
    return beast::get_lowest_layer(stream).socket();
}

} // namespace

struct server::impl {
    server_options opts;
    service api;
    std::string ca_pem, chain_pem, key_pem;
    ssl::context tls{ssl::context::tls_server};

    std::atomic<std::uint64_t> latency_draws{0}; // processing_time() draws
    mutable std::mutex mutex; // everything below up to `ioc`
    stats counters;
    std::deque<request_record> records;
    std::deque<fault> queued;
    std::mt19937_64 rng;
    std::function<void(const request_record&)> logger;

    unsigned short bound_http = 0, bound_https = 0;
    bool started = false, stopped = false;

    // Declared last: destroyed first, taking the sessions with it while the rest is alive.
    std::unique_ptr<asio::io_context> ioc;
    std::optional<tcp::acceptor> http_acceptor, https_acceptor;
    std::vector<std::thread> threads;

    explicit impl(server_options o) : opts(std::move(o)), api(opts.keys), rng(opts.seed) {}

    /// How long a processed recognition takes (server_options::latency); zero for /config
    /// and refusals. Lock-free: the draw hashes a counter with the seed.
    std::chrono::milliseconds processing_time(const prepared_request& req, const reply& r)
    {
        if (opts.latency.count() <= 0 && opts.latency_jitter.count() <= 0)
            return {};
        if (req.which == route::none || req.which == route::config || r.status == 401 || r.status == 402 ||
            r.status == 403)
            return {};
        const std::int64_t jitter = opts.latency_jitter.count();
        std::int64_t ms = opts.latency.count();
        if (jitter > 0) {
            std::uint64_t x = opts.seed + 0x9e3779b97f4a7c15ull * (latency_draws.fetch_add(1) + 1);
            x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull; // splitmix64 finaliser
            x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
            x ^= x >> 31;
            ms += static_cast<std::int64_t>(x % static_cast<std::uint64_t>(2 * jitter + 1)) - jitter;
        }
        return std::chrono::milliseconds(std::max<std::int64_t>(ms, 0));
    }

    fault next_fault()
    {
        std::lock_guard lock(mutex);
        ++counters.requests;
        fault f = fault::none;
        if (!queued.empty()) {
            f = queued.front();
            queued.pop_front();
        } else if (opts.random_fault_rate > 0 &&
                   std::uniform_real_distribution<double>(0, 1)(rng) < opts.random_fault_rate) {
            // Any fault but none and stall (a soak must finish).
            static constexpr fault pool[] = {
                fault::close_before_response, fault::close_mid_headers, fault::close_mid_body,
                fault::truncated_body, fault::malformed_json, fault::non_json_body, fault::html_200,
                fault::status_500, fault::status_502, fault::status_503, fault::status_500_empty,
                fault::slow_headers, fault::slow_body, fault::huge_reply, fault::chunked_truncated,
                fault::wrong_content_length, fault::reset_during_request};
            f = pool[std::uniform_int_distribution<std::size_t>(0, std::size(pool) - 1)(rng)];
        }
        if (f != fault::none)
            ++counters.faults_injected;
        return f;
    }

    // Recorded before the reply is written, so a client that has the reply sees the record.
    void record(const request_record& r, bool status_line_sent)
    {
        std::function<void(const request_record&)> log;
        {
            std::lock_guard lock(mutex);
            records.push_back(r);
            if (records.size() > records_kept)
                records.pop_front();
            if (status_line_sent)
                ++counters.responses_by_status[r.status];
            log = logger;
        }
        if (log)
            log(r);
    }

    void setup_tls()
    {
        if (!opts.cert_file.empty() || !opts.key_file.empty()) {
            if (opts.cert_file.empty() || opts.key_file.empty())
                throw std::invalid_argument("carcheck-mock: cert_file and key_file go together");
            chain_pem = read_file(opts.cert_file);
            key_pem = read_file(opts.key_file);
            ca_pem = chain_pem;
        } else {
            auto generated = generate_certificate(opts.tls_hostname, opts.expired_certificate);
            ca_pem = std::move(generated.ca_pem);
            chain_pem = std::move(generated.chain_pem);
            key_pem = std::move(generated.key_pem);
        }
        tls.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                        ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
        SSL_CTX_set_min_proto_version(tls.native_handle(), TLS1_2_VERSION);
        tls.use_certificate_chain(asio::buffer(chain_pem));
        tls.use_private_key(asio::buffer(key_pem), ssl::context::pem);
        // Resumption: session IDs need a context; tickets (TLS 1.2 and 1.3) are on by default
        // and deliberately left so (no SSL_OP_NO_TICKET).
        static constexpr unsigned char sid_ctx[] = "carcheck-mock";
        SSL_CTX_set_session_id_context(tls.native_handle(), sid_ctx, sizeof sid_ctx - 1);
        SSL_CTX_set_session_cache_mode(tls.native_handle(), SSL_SESS_CACHE_SERVER);
    }

    tcp::acceptor listen(const asio::ip::address& address, unsigned short port)
    {
        tcp::acceptor a(*ioc);
        const tcp::endpoint ep(address, port);
        a.open(ep.protocol());
        a.set_option(asio::socket_base::reuse_address(true));
        a.bind(ep);
        a.listen(asio::socket_base::max_listen_connections);
        return a;
    }

    asio::awaitable<void> accept_loop(tcp::acceptor& acceptor, bool with_tls);
    asio::awaitable<void> session(tcp::socket socket, bool with_tls);
    template <class Stream>
    asio::awaitable<void> serve(Stream& stream);
    template <class Stream>
    asio::awaitable<bool> write_reply(Stream& stream, http::response<http::string_body>& res, fault f);
    template <class Stream>
    asio::awaitable<void> close_gracefully(Stream& stream);
    struct fetch_result {
        std::string error;
        std::unique_ptr<http::response_parser<upload_body>> parser;
    };
    asio::awaitable<fetch_result> fetch(const std::string& url, bool keep_full);
};

asio::awaitable<void> server::impl::accept_loop(tcp::acceptor& acceptor, bool with_tls)
{
    for (;;) {
        auto [ec, socket] = co_await acceptor.async_accept(asio::make_strand(*ioc), use_tuple);
        if (ec == asio::error::operation_aborted || !acceptor.is_open())
            co_return;
        if (ec) {
            // Out of descriptors or similar: back off briefly instead of spinning.
            asio::steady_timer t(acceptor.get_executor(), std::chrono::milliseconds(50));
            co_await t.async_wait(use_tuple);
            continue;
        }
        {
            std::lock_guard lock(mutex);
            ++counters.connections_accepted;
            ++counters.connections_open;
        }
        auto executor = socket.get_executor();
        asio::co_spawn(executor, session(std::move(socket), with_tls), asio::detached);
    }
}

asio::awaitable<void> server::impl::session(tcp::socket socket, bool with_tls)
{
    struct open_guard {
        impl& self;
        ~open_guard()
        {
            std::lock_guard lock(self.mutex);
            --self.counters.connections_open;
        }
    } guard{*this};

    error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    beast::tcp_stream plain(std::move(socket));
    if (!with_tls) {
        co_await serve(plain);
        co_return;
    }
    beast::ssl_stream<beast::tcp_stream> stream(std::move(plain), tls);
    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(30));
    auto [ec] = co_await stream.async_handshake(ssl::stream_base::server, use_tuple);
    if (ec)
        co_return; // e.g. the client refused our certificate
    {
        std::lock_guard lock(mutex);
        ++counters.tls_handshakes;
        if (SSL_session_reused(stream.native_handle()))
            ++counters.tls_resumed;
    }
    co_await serve(stream);
}

template <class Stream>
asio::awaitable<void> server::impl::serve(Stream& stream)
{
    beast::flat_buffer buffer;
    std::size_t served = 0;
    for (;;) {
        http::request_parser<upload_body> parser;
        parser.header_limit(64 * 1024);
        // No limit while reading the header, so that a Content-Length above max_body_bytes
        // gets its 413 below instead of a parse error; the chunked body is limited later.
        parser.body_limit(boost::none);
        auto& lowest = beast::get_lowest_layer(stream);
        if (opts.idle_close.count() > 0)
            lowest.expires_after(opts.idle_close);
        else
            lowest.expires_never();
        {
            auto [ec, n] = co_await http::async_read_header(stream, buffer, parser, use_tuple);
            if (ec == beast::error::timeout)
                co_return; // idle close: the timeout already closed the socket
            if (ec == http::error::end_of_stream || ec == asio::error::eof)
                co_return co_await close_gracefully(stream);
            if (ec)
                co_return;
        }
        ++served;
        const fault f = next_fault();
        auto& header = parser.get();
        const auto req = api.prepare(header.method_string(), header.target(), header[http::field::content_type]);

        request_record rec;
        rec.method = req.method;
        rec.path = req.path;
        rec.query = req.query;
        rec.content_type = req.content_type;
        rec.applied = f;

        if (f == fault::reset_during_request) {
            // RST while the body is still arriving: linger 0 makes close() abort.
            record(rec, false);
            error_code ignored;
            socket_of(stream).set_option(asio::socket_base::linger(true, 0), ignored);
            socket_of(stream).close(ignored);
            co_return;
        }

        bool keep_alive = header.keep_alive();
        if (req.early)
            header.body().configure(upload_mode::discard);
        else
            header.body().configure(req.mode, req.boundary, req.keep_full);

        reply r;
        bool read_body = true, too_large = false;
        if (parser.content_length() && *parser.content_length() > opts.max_body_bytes) {
            // Answered at once, without reading the body, and the connection closed: as a
            // real front end does, so a client sees its upload cut short by the reply.
            too_large = true;
            read_body = false;
        } else if (beast::iequals(header[http::field::expect], "100-continue")) {
            if (req.early) {
                read_body = false; // answer now; the unread body means the connection must close
            } else {
                http::response<http::empty_body> cont{http::status::continue_, 11};
                lowest.expires_after(write_timeout);
                auto [ec, n] = co_await http::async_write(stream, cont, use_tuple);
                if (ec)
                    co_return;
            }
        }

        if (read_body) {
            lowest.expires_never(); // a 1 GB upload may take a while
            parser.body_limit(opts.max_body_bytes);
            auto [ec, n] = co_await http::async_read(stream, buffer, parser, use_tuple);
            if (ec == http::error::body_limit)
                too_large = true; // a chunked body crossed the limit: the rest stays unread
            else if (ec)
                co_return;
        }
        const bool body_unread = too_large || !read_body;
        if (body_unread)
            keep_alive = false;
        auto& up = header.body();
        if (!up.finished())
            up.finish();
        rec.body_size = up.body_size();
        rec.body_sha256 = up.body_sha256();
        const upload* image = &up;
        if (up.mode() == upload_mode::multipart) {
            rec.image_field_name = up.multipart().image_field_name();
            rec.image_filename = up.multipart().image_filename();
            rec.image_content_type = up.multipart().image_content_type();
        }

        fetch_result fetched;
        if (too_large) {
            r = api.error_reply(req, 413, "request body larger than the limit of " +
                                              std::to_string(opts.max_body_bytes) + " bytes");
        } else if (replaces_answer(f)) {
            r = fault_reply(f);
            api.add_rate_headers(req, r);
        } else {
            if (!req.early && !req.fetch_url.empty()) {
                fetched = co_await fetch(req.fetch_url, req.keep_full);
                if (fetched.parser)
                    image = &fetched.parser->get().body();
            }
            r = api.answer(req, image, fetched.error);
            if (const auto d = processing_time(req, r); d.count() > 0) {
                asio::steady_timer t(stream.get_executor(), d);
                co_await t.async_wait(use_tuple);
            }
        }
        if (image->mode() != upload_mode::discard && image->error().empty()) {
            rec.image_size = image->image().size();
            rec.image_sha256 = image->image().sha256_hex();
        }
        rec.status = r.status;

        const bool last = !keep_alive || (opts.max_requests_per_connection != 0 && served >= opts.max_requests_per_connection);
        http::response<http::string_body> res{static_cast<http::status>(r.status), 11};
        res.set(http::field::server, "carcheck-mock");
        res.set(http::field::date, http_date());
        if (!r.content_type.empty())
            res.set(http::field::content_type, r.content_type);
        for (const auto& [name, value] : r.headers)
            res.set(name, value);
        res.body() = std::move(r.body);
        res.keep_alive(!last);
        res.prepare_payload();

        const bool sends_status = f != fault::close_before_response && f != fault::stall;
        record(rec, sends_status);
        const bool closed = co_await write_reply(stream, res, f);
        if (closed)
            co_return;
        if (body_unread) {
            // The client may still be sending: end our side (FIN after the reply) and close.
            // The unread bytes make the kernel answer them with a reset, so the client's
            // write fails while the reply waits in its receive buffer. No close_notify: it
            // would only be read after the body the client is still busy sending.
            error_code ignored;
            socket_of(stream).shutdown(tcp::socket::shutdown_send, ignored);
            socket_of(stream).close(ignored);
            co_return;
        }
        if (last)
            co_return co_await close_gracefully(stream);
    }
}

/// Writes the reply as the fault says. Returns true when the connection is finished.
template <class Stream>
asio::awaitable<bool> server::impl::write_reply(Stream& stream, http::response<http::string_body>& res, fault f)
{
    auto& lowest = beast::get_lowest_layer(stream);
    auto raw = [&](std::string_view bytes) -> asio::awaitable<bool> {
        lowest.expires_after(write_timeout);
        auto [ec, n] = co_await asio::async_write(stream, asio::buffer(bytes.data(), bytes.size()), use_tuple);
        co_return !ec;
    };
    auto drop = [&] {
        error_code ignored; // no TLS close_notify: the peer sees the connection die
        socket_of(stream).close(ignored);
        return true;
    };
    auto sleep = [&](std::chrono::steady_clock::duration d) -> asio::awaitable<void> {
        asio::steady_timer t(stream.get_executor(), d);
        co_await t.async_wait(use_tuple);
    };
    const std::string& body = res.body();

    switch (f) {
    case fault::close_before_response: co_return drop();
    case fault::stall: {
        // Never answer; drain whatever the client sends until it gives up or stop().
        lowest.expires_never();
        char sink[512];
        for (;;) {
            auto [ec, n] = co_await lowest.async_read_some(asio::buffer(sink), use_tuple);
            if (ec)
                co_return drop();
        }
    }
    case fault::close_mid_headers: {
        const auto head = serialize_head(res);
        co_await raw(std::string_view(head).substr(0, head.size() / 2));
        co_return drop();
    }
    case fault::close_mid_body: {
        const auto head = serialize_head(res);
        if (co_await raw(head))
            co_await raw(std::string_view(body).substr(0, body.size() / 2));
        co_return drop();
    }
    case fault::truncated_body: {
        res.content_length(body.size() + 1024);
        const auto head = serialize_head(res);
        if (co_await raw(head))
            co_await raw(body);
        co_return drop();
    }
    case fault::wrong_content_length: {
        res.content_length(body.size() / 2);
        const auto head = serialize_head(res);
        if (co_await raw(head))
            co_await raw(body);
        co_return drop(); // the surplus must not be read as the next reply
    }
    case fault::close_delimited: {
        // HTTP/1.1 allows a reply whose body ends with the connection (no Content-Length,
        // not chunked), as old proxies send them; over TLS the close_notify says it is whole.
        res.keep_alive(false);
        res.erase(http::field::content_length);
        res.erase(http::field::transfer_encoding);
        if (co_await raw(serialize_head(res)) && co_await raw(body))
            co_await close_gracefully(stream);
        co_return true;
    }
    case fault::chunked_truncated: {
        res.chunked(true);
        const auto head = serialize_head(res);
        std::ostringstream chunk;
        chunk << std::hex << body.size() / 2 << "\r\n" << std::string_view(body).substr(0, body.size() / 2) << "\r\n";
        if (co_await raw(head))
            co_await raw(chunk.str());
        co_return drop(); // no last chunk
    }
    case fault::malformed_json: {
        res.body() = body.substr(0, body.size() / 2) + "\n<<malformed>>";
        res.prepare_payload();
        break;
    }
    case fault::slow_headers: co_await sleep(opts.slow_delay); break;
    case fault::slow_body: {
        // Headers at once, then the body in ten pieces, one every slow_delay / 10.
        const auto head = serialize_head(res);
        if (!co_await raw(head))
            co_return drop();
        const std::size_t piece = std::max<std::size_t>(1, (body.size() + 9) / 10);
        for (std::size_t at = 0; at < body.size(); at += piece) {
            co_await sleep(opts.slow_delay / 10);
            if (!co_await raw(std::string_view(body).substr(at, piece)))
                co_return drop();
        }
        co_return false;
    }
    case fault::huge_reply: {
        // Valid JSON of exactly huge_reply_bytes (or the minimum): one results array filled
        // with fixed-size entries, padded with blanks before the closing brackets.
        constexpr std::size_t entry_size = 128, block_entries = 512;
        const std::string prefix = R"({"version":3,"data_type":"alpr_results","epoch_time":0,"img_width":0,)"
                                   R"("img_height":0,"processing_time":{"total":1.0,"plates":1.0},)"
                                   R"("regions_of_interest":[],"credit_cost":1,"credits_monthly_total":0,)"
                                   R"("credits_monthly_used":0,"error":false,"results":[)"
                                   R"({"plate":"HUGE000","confidence":90.5,"matches_template":1,"candidates":[]})";
        const std::string suffix = "]}";
        std::string entry = R"(,{"plate":"HUGE001","confidence":80.5,"matches_template":0,"candidates":[]})";
        entry.resize(entry_size, ' ');
        std::string block;
        for (std::size_t i = 0; i < block_entries; ++i)
            block += entry;
        const std::size_t minimum = prefix.size() + suffix.size();
        const std::size_t fill = opts.huge_reply_bytes > minimum ? opts.huge_reply_bytes - minimum : 0;
        res.content_length(minimum + fill);
        res.set(http::field::content_type, json_content_type);
        if (!co_await raw(serialize_head(res)) || !co_await raw(prefix))
            co_return drop();
        std::size_t entries = fill / entry_size;
        while (entries > 0) {
            const std::size_t n = std::min(entries, block_entries);
            if (!co_await raw(std::string_view(block).substr(0, n * entry_size)))
                co_return drop();
            entries -= n;
        }
        if (!co_await raw(std::string(fill % entry_size, ' ') + suffix))
            co_return drop();
        co_return !res.keep_alive() ? drop() : false;
    }
    default: break;
    }
    lowest.expires_after(write_timeout);
    auto [ec, n] = co_await http::async_write(stream, res, use_tuple);
    if (ec)
        co_return drop();
    co_return false;
}

template <class Stream>
asio::awaitable<void> server::impl::close_gracefully(Stream& stream)
{
    error_code ignored;
    if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
        stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
    } else {
        // Send close_notify; do not wait long for the peer's.
        beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(1));
        co_await stream.async_shutdown(use_tuple);
    }
    socket_of(stream).close(ignored);
}

asio::awaitable<server::impl::fetch_result> server::impl::fetch(const std::string& url, bool keep_full)
{
    fetch_result out;
    auto fail = [&](const std::string& why) {
        out.error = "image_url could not be fetched: " + why;
        out.parser.reset();
        return std::move(out);
    };
    auto parsed = boost::urls::parse_absolute_uri(url);
    if (!parsed)
        co_return fail("malformed URL");
    const std::string host = parsed->host_address();
    const std::string port = parsed->has_port() ? std::string(parsed->port()) : "80";
    const auto encoded_target = parsed->encoded_target();
    std::string target(encoded_target.data(), encoded_target.size());
    if (target.empty() || target[0] != '/')
        target.insert(0, "/");

    auto executor = co_await asio::this_coro::executor;
    tcp::resolver resolver(executor);
    auto [rec, endpoints] = co_await resolver.async_resolve(host, port, use_tuple);
    if (rec)
        co_return fail(rec.message());
    for (const auto& e : endpoints)
        if (!e.endpoint().address().is_loopback())
            co_return fail("host is not a loopback address");

    beast::tcp_stream stream(executor);
    stream.expires_after(std::chrono::seconds(30));
    auto [cec, ep] = co_await stream.async_connect(endpoints, use_tuple);
    if (cec)
        co_return fail(cec.message());
    http::request<http::empty_body> request{http::verb::get, target, 11};
    request.set(http::field::host, parsed->encoded_host_and_port());
    request.set(http::field::user_agent, "carcheck-mock");
    request.keep_alive(false);
    auto [wec, wn] = co_await http::async_write(stream, request, use_tuple);
    if (wec)
        co_return fail(wec.message());
    out.parser = std::make_unique<http::response_parser<upload_body>>();
    out.parser->body_limit(fetch_body_limit);
    out.parser->get().body().configure(upload_mode::raw, {}, keep_full);
    beast::flat_buffer buffer;
    stream.expires_after(std::chrono::seconds(120));
    auto [ec, n] = co_await http::async_read(stream, buffer, *out.parser, use_tuple);
    if (ec)
        co_return fail(ec.message());
    if (out.parser->get().result_int() != 200)
        co_return fail("HTTP " + std::to_string(out.parser->get().result_int()));
    auto& body = out.parser->get().body();
    if (!body.finished())
        body.finish();
    error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    co_return out;
}

// --- server -------------------------------------------------------------------------------

server::server(server_options o) : impl_(std::make_unique<impl>(std::move(o))) {}

server::~server()
{
    stop();
}

/// Binds the acceptors and spawns their loops; throws on failure.
static void start_listening(server::impl& s)
{
    boost::system::error_code ec;
    auto address = asio::ip::make_address(s.opts.bind_address == "localhost" ? "127.0.0.1" : s.opts.bind_address, ec);
    if (ec || !address.is_loopback())
        throw std::invalid_argument("carcheck-mock binds to loopback addresses only, not " + s.opts.bind_address);
    if (s.opts.enable_https)
        s.setup_tls();
    s.ioc = std::make_unique<asio::io_context>(static_cast<int>(std::max(1u, s.opts.threads)));
    if (s.opts.enable_http) {
        s.http_acceptor.emplace(s.listen(address, s.opts.http_port));
        std::lock_guard lock(s.mutex);
        s.bound_http = s.http_acceptor->local_endpoint().port();
        asio::co_spawn(asio::make_strand(*s.ioc), s.accept_loop(*s.http_acceptor, false), asio::detached);
    }
    if (s.opts.enable_https) {
        s.https_acceptor.emplace(s.listen(address, s.opts.https_port));
        std::lock_guard lock(s.mutex);
        s.bound_https = s.https_acceptor->local_endpoint().port();
        asio::co_spawn(asio::make_strand(*s.ioc), s.accept_loop(*s.https_acceptor, true), asio::detached);
    }
}

void server::start()
{
    auto& s = *impl_;
    {
        std::lock_guard lock(s.mutex);
        if (s.started)
            throw std::logic_error("carcheck-mock: start() called twice");
        s.started = true;
    }
    try {
        start_listening(s);
    } catch (...) {
        // Leave nothing half-started behind; stop() then has nothing to do.
        s.http_acceptor.reset();
        s.https_acceptor.reset();
        s.ioc.reset();
        throw;
    }
    for (unsigned i = 0; i < std::max(1u, s.opts.threads); ++i)
        s.threads.emplace_back([&s] { s.ioc->run(); });
}

void server::stop()
{
    auto& s = *impl_;
    {
        std::lock_guard lock(s.mutex);
        if (!s.started || s.stopped || !s.ioc)
            return;
        s.stopped = true;
    }
    s.ioc->stop();
    for (auto& t : s.threads)
        t.join();
    s.threads.clear();
    // Destroying the acceptors and the io_context closes every socket and ends every session.
    s.http_acceptor.reset();
    s.https_acceptor.reset();
    s.ioc.reset();
}

unsigned short server::http_port() const
{
    std::lock_guard lock(impl_->mutex);
    return impl_->bound_http;
}

unsigned short server::https_port() const
{
    std::lock_guard lock(impl_->mutex);
    return impl_->bound_https;
}

std::string server::certificate_pem() const
{
    std::lock_guard lock(impl_->mutex);
    return impl_->ca_pem;
}

void server::inject(fault f, std::size_t count)
{
    std::lock_guard lock(impl_->mutex);
    for (std::size_t i = 0; i < count; ++i)
        impl_->queued.push_back(f);
}

server::stats server::get_stats() const
{
    std::lock_guard lock(impl_->mutex);
    return impl_->counters;
}

std::vector<server::request_record> server::requests() const
{
    std::lock_guard lock(impl_->mutex);
    return {impl_->records.begin(), impl_->records.end()};
}

std::int64_t server::credits_used(const std::string& key) const
{
    return impl_->api.credits_used(key);
}

void server::set_key(key_config k)
{
    impl_->api.set_key(k);
}

void server::set_request_logger(std::function<void(const request_record&)> logger)
{
    std::lock_guard lock(impl_->mutex);
    impl_->logger = std::move(logger);
}

} // namespace carcheck::mock
