#ifndef CARCHECK_IMPL_CLIENT_IPP
#define CARCHECK_IMPL_CLIENT_IPP

#include <carcheck/body/base64_body.hpp>
#include <carcheck/body/multipart_file_body.hpp>
#include <carcheck/client.hpp>
#include <carcheck/detail/client_impl.hpp>

#include <boost/asio/ssl/context.hpp>
#include <boost/assert.hpp>
#include <boost/url/encode.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>

#include <openssl/ssl.h>

namespace carcheck {
namespace detail {

namespace net = boost::asio;

inline std::string query_encode(std::string_view v)
{
    // Everything but RFC 3986 unreserved characters is percent-encoded: '+', '&', '=',
    // CR and LF in a key, country or URL can never change the meaning of the query.
    return boost::urls::encode(v, boost::urls::unreserved_chars);
}

/// query_encode(v) appended to `out`, without a string of its own.
inline void append_query_encoded(std::string& out, std::string_view v)
{
    const std::size_t at = out.size();
    const std::size_t n = boost::urls::encoded_size(v, boost::urls::unreserved_chars);
    out.resize(at + n);
    boost::urls::encode(out.data() + at, n, v, boost::urls::unreserved_chars);
}

inline std::shared_ptr<net::ssl::context> make_tls_context(const tls_options& tls)
{
    auto ctx = std::make_shared<net::ssl::context>(net::ssl::context::tls_client);
    SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
    // The pool resumes sessions itself (SSL_set_session); no internal cache is needed.
    SSL_CTX_set_session_cache_mode(ctx->native_handle(), SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL);
    error_code ec;
    if (tls.verify_peer) {
        ctx->set_verify_mode(net::ssl::verify_peer, ec);
        if (tls.use_system_roots)
            ctx->set_default_verify_paths(ec); // a machine without a CA store is not fatal
        ec = {};
        if (!tls.ca_file.empty()) {
            ctx->load_verify_file(tls.ca_file, ec);
            if (ec)
                throw api_error(error::invalid_argument,
                                diagnostics{0, {}, "cannot load CA file " + tls.ca_file + ": " + ec.message(), {}, 0});
        }
        if (!tls.ca_pem.empty()) {
            ctx->add_certificate_authority(net::buffer(tls.ca_pem), ec);
            if (ec)
                throw api_error(error::invalid_argument,
                                diagnostics{0, {}, "cannot use the CA PEM text: " + ec.message(), {}, 0});
        }
    } else {
        ctx->set_verify_mode(net::ssl::verify_none, ec);
    }
    return ctx;
}

inline endpoint checked_endpoint(const client_options& opts)
{
    endpoint ep;
    std::string message;
    if (auto ec = parse_endpoint(opts.endpoint, opts.allow_insecure_http, ep, message))
        throw api_error(ec, diagnostics{0, {}, std::move(message), {}, 0});
    return ep;
}

/// The pool's settings: the bound, the deadlines and the parsed proxy (an unusable proxy URL
/// fails the client's construction, its message never repeating the URL).
inline pool_options pool_options_for(const client_options& opts)
{
    pool_options p;
    p.max_connections = opts.max_connections;
    p.thread_safe = opts.thread_safe;
    p.timeouts = opts.timeouts;
    if (!opts.proxy.empty()) {
        proxy_target proxy;
        std::string message;
        if (auto ec = parse_proxy(opts.proxy, proxy, message))
            throw api_error(ec, diagnostics{0, {}, std::move(message), {}, 0});
        p.proxy = std::move(proxy);
    }
    return p;
}

/// The scheduler admits no more requests than the pool has connections, so that a request
/// is held by the scheduler (which knows the rate-limit window) rather than admitted and
/// then parked in the pool's queue while the window runs out. The adaptive limit is capped
/// the same way.
inline scheduler_options scheduling_for(const client_options& opts)
{
    scheduler_options s = opts.scheduling;
    const std::size_t connections = std::max<std::size_t>(opts.max_connections, 1);
    if (s.max_in_flight)
        return s;
    if (s.adaptive_concurrency)
        s.max_adaptive_in_flight = std::min(s.max_adaptive_in_flight, connections);
    else
        s.max_in_flight = connections;
    return s;
}

CARCHECK_DECL client_impl::client_impl(net::any_io_executor ex, client_options opts)
    : opts_(std::move(opts)), ep_(checked_endpoint(opts_)), encoded_key_(query_encode(opts_.secret_key)),
      pool_(std::make_shared<pool_impl>(std::move(ex), ep_, pool_options_for(opts_),
                                        ep_.tls ? make_tls_context(opts_.tls) : nullptr)),
      scheduler_(pool_->serial(), scheduling_for(opts_))
{
}

CARCHECK_DECL std::string_view client_impl::target(std::string_view path, const recognize_options* opts,
                                                   bool with_cropped, std::string_view image_url) const
{
    // Built in a buffer of the thread's that keeps its capacity: the request's fields copy
    // the target anyway, so a string of its own would be one allocation per request more.
    static thread_local std::string t;
    t.clear();
    t.reserve(ep_.base_path.size() + path.size() + encoded_key_.size() + 96 + 3 * image_url.size());
    t += ep_.base_path;
    t += path;
    // Only GET /config is sent without a key (the operations that need one refuse an empty key).
    const bool with_key = !encoded_key_.empty();
    if (with_key) {
        t += "?secret_key=";
        t += encoded_key_;
    }
    if (opts) {
        t += with_key ? "&country=" : "?country=";
        append_query_encoded(t, opts->country);
        t += opts->recognize_vehicle ? "&recognize_vehicle=1" : "&recognize_vehicle=0";
        t += opts->return_image ? "&return_image=1" : "&return_image=0";
        if (opts->topn) {
            t += "&topn=";
            t += std::to_string(*opts->topn); // within 1..1000: no allocation (short string)
        }
        if (with_cropped && opts->is_cropped)
            t += "&is_cropped=1";
    }
    if (!image_url.empty()) {
        t += "&image_url=";
        append_query_encoded(t, image_url);
    }
    return t;
}

CARCHECK_DECL error_code client_impl::validate(const recognize_options& opts, bool cropped_allowed,
                                               diagnostics& diag) const
{
    auto fail = [&](std::string message) {
        diag.client_message = std::move(message);
        return error_code(error::invalid_argument);
    };
    if (opts_.secret_key.empty())
        return fail("secret_key is empty");
    if (opts.country.empty())
        return fail("country is empty (e.g. \"us\" or \"eu\"; see get_config())");
    if (opts.topn && (*opts.topn < 1 || *opts.topn > 1000))
        return fail("topn must be within 1..1000, got " + std::to_string(*opts.topn));
    if (opts.is_cropped && !cropped_allowed)
        return fail("is_cropped is only supported by recognize_file (POST /recognize)");
    return {};
}

CARCHECK_DECL std::string client_impl::redact(std::string text) const
{
    const std::string& key = opts_.secret_key;
    if (key.empty())
        return text;
    for (const std::string& needle : {key, query_encode(key)}) {
        for (auto pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos))
            text.replace(pos, needle.size(), "[redacted]");
    }
    return text;
}

CARCHECK_DECL bool client_impl::refused(const op_state& st, error_code& ec, diagnostics& diag) const
{
    if (st.cancelled)
        ec = net::error::operation_aborted;
    if (!ec)
        return false;
    if (ec == error::monthly_limit)
        diag.client_message = "not sent: the monthly credits are spent (an earlier reply was 402)";
    else if (ec == error::queue_full)
        diag.client_message = "not sent: the request queue is full";
    return true;
}

CARCHECK_DECL bool client_impl::resend_at_once(const op_state& st, http_connection* conn, exchange_result& r,
                                               bool reused, int round, bool idempotent, std::string& failure)
{
    pool().release(conn, r.reusable && !st.cancelled);
    if (st.cancelled) {
        r.ec = net::error::operation_aborted;
        return false;
    }
    if (r.ec && pool().closed()) {
        r.ec = error::client_closed;
        failure = "the client was closed while the request was in progress";
        return false;
    }
    // Body errors (file changed) are final: is_connection_failure() is false for them.
    const bool safe = !r.response_started && (!r.request_fully_written || idempotent);
    if (reused && safe && round == 0 && is_connection_failure(r.ec))
        return true;
    if (r.ec)
        failure = std::move(r.failure);
    return false;
}

CARCHECK_DECL void client_impl::conclude(const op_state& st, exchange_result& r, std::string& failure,
                                         diagnostics& diag) const
{
    if (r.ec) {
        if (st.cancelled)
            r.ec = net::error::operation_aborted;
        diag.client_message = redact(std::move(failure));
    } else if (!r.request_fully_written) {
        diag.client_message = "the server replied before the whole request was sent";
    }
}

CARCHECK_DECL error_code client_impl::check_status(const client_response& res, const rate_limit_info& rate_limit,
                                                   diagnostics& diag) const
{
    diag.http_status = res.result_int();
    diag.rate_limit = rate_limit;
    const error_code ec = error_from_status(res.result_int());
    if (!ec)
        return ec;
    error_body body;
    std::string detail;
    if (!parse_error_body(res.body(), body, detail) && !body.error.empty()) {
        diag.server_message = redact(body.error);
        diag.server_error_code = body.error_code;
    } else {
        // Not the API's JSON error (a proxy's HTML page, an empty 5xx, ...): keep a short,
        // printable excerpt so the caller sees what came back.
        std::string excerpt;
        for (char c : res.body().substr(0, 200))
            excerpt += (c >= 0x20 && c < 0x7f) ? c : ' ';
        diag.server_message = redact(std::move(excerpt));
    }
    return ec;
}

/// Runs `body` as the operation, with a diagnostics object that exists even when the caller
/// passed none (the op_state's). An exception escaping the body completes the operation with
/// its error code (std::system_error, boost::system::system_error), not_enough_memory
/// (std::bad_alloc) or state_not_recoverable (anything else), its text in
/// diagnostics::client_message.
template <class Result, class Body>
void run_operation(const std::shared_ptr<client_impl>& impl, diagnostics* diag,
                   completion_handler<void(error_code, Result)> h, Body body)
{
    auto make_body = [impl, diag, body = std::move(body)](std::shared_ptr<op_state> st, Result& out) mutable {
        diagnostics& d = diag ? *diag : st->scratch;
        d.clear();
        st->diag = &d;
        return body(impl, std::move(st), &d, out);
    };
    auto on_exception = [impl](const std::shared_ptr<op_state>& st, std::exception_ptr ep) {
        diagnostics& d = *st->diag;
        try {
            std::rethrow_exception(ep);
        } catch (const boost::system::system_error& e) {
            d.client_message = impl->redact(e.what());
            return e.code();
        } catch (const std::system_error& e) {
            d.client_message = impl->redact(e.what());
            return error_code(e.code());
        } catch (const std::bad_alloc&) {
            d.client_message = "out of memory";
            return make_error_code(boost::system::errc::not_enough_memory);
        } catch (const std::exception& e) {
            d.client_message = impl->redact(std::string("unexpected exception: ") + e.what());
            return make_error_code(boost::system::errc::state_not_recoverable);
        } catch (...) {
            d.client_message = "unexpected exception";
            return make_error_code(boost::system::errc::state_not_recoverable);
        }
    };
    launch<Result>(impl->serial(), impl->pool().user_executor(), std::move(h), std::move(make_body),
                   std::move(on_exception));
}

/// The shape every recognize operation shares (a Request of perform()): options checked,
/// the request for `path` built (`prepare(req, opts, diag)` gives it its body and may
/// refuse, e.g. a missing file); a body that failed mid-upload is named with its file.
template <class Body, class Prepare>
struct recognition_request {
    static constexpr bool idempotent = false;
    recognize_options opts;
    std::string_view path;
    bool cropped_allowed;
    Prepare prepare;

    error_code build(client_impl& impl, client_request<Body>& req, diagnostics& d)
    {
        if (auto ec = impl.validate(opts, cropped_allowed, d))
            return ec;
        req.method(http::verb::post);
        req.target(impl.target(path, &opts, cropped_allowed));
        if (auto ec = prepare(req, opts, d))
            return ec;
        impl.set_common_fields(req);
        if constexpr (requires { req.body().boundary(); }) {
            // Composed on the stack: content_type()'s string would be one allocation more.
            constexpr std::string_view type = "multipart/form-data; boundary=";
            const std::string_view boundary = req.body().boundary();
            char value[type.size() + 70]; // RFC 2046: a boundary has at most 70 characters
            BOOST_ASSERT(boundary.size() <= 70);
            type.copy(value, type.size());
            boundary.copy(value + type.size(), boundary.size());
            req.set(http::field::content_type, std::string_view(value, type.size() + boundary.size()));
            req.prepare_payload();
        } else if constexpr (requires { req.body().content_type(); }) {
            req.set(http::field::content_type, req.body().content_type());
            req.prepare_payload();
        } else {
            req.content_length(0);
        }
        return {};
    }

    void conclude(const client_request<Body>& req, error_code ec, diagnostics& d) const
    {
        if constexpr (requires { req.body().path(); }) {
            if (ec == error::file_changed || ec == error::file_read_failed) {
                d.client_message = "file " + req.body().path().string() + ": " + ec.message();
                if (!req.body().error_detail().empty())
                    d.client_message += " (" + req.body().error_detail() + ")";
            }
        }
    }
};

template <class Body, class Prepare>
void start_recognition(const std::shared_ptr<client_impl>& impl, diagnostics* diag,
                       recognition_handler h, recognize_options opts,
                       std::string_view path, bool cropped_allowed, Prepare prepare)
{
    run_operation<recognition>(
        impl, diag, std::move(h),
        [request = recognition_request<Body, Prepare>{std::move(opts), path, cropped_allowed, std::move(prepare)}](
            std::shared_ptr<client_impl> impl, std::shared_ptr<op_state> st, diagnostics* d, recognition& out) mutable {
            return perform<recognition, Body>(std::move(impl), std::move(st), d, std::move(request), out);
        });
}

/// GET /config (a Request of perform()): it takes no parameters (spec); without a key it
/// is sent without one.
struct config_request {
    static constexpr bool idempotent = true;

    error_code build(client_impl& impl, client_request<http::empty_body>& req, diagnostics&) const
    {
        req.method(http::verb::get);
        req.target(impl.target("/config", nullptr, false));
        impl.set_common_fields(req);
        return {};
    }
    void conclude(const client_request<http::empty_body>&, error_code, diagnostics&) const {}
};

} // namespace detail

CARCHECK_DECL client::client(asio::any_io_executor ex, client_options opts)
    : user_(ex), impl_(std::make_shared<detail::client_impl>(std::move(ex), std::move(opts)))
{
}

CARCHECK_DECL client::~client()
{
    close();
}

CARCHECK_DECL client::executor_type client::get_executor() const noexcept
{
    return impl_->serial();
}

CARCHECK_DECL void client::close()
{
    auto impl = impl_;
    asio::dispatch(impl->serial(), [impl] {
        impl->scheduler().close();
        impl->pool().close();
    });
}

CARCHECK_DECL pool_counters client::connection_counters() const
{
    return impl_->pool().counters();
}

CARCHECK_DECL scheduler_counters client::scheduling_counters() const
{
    return impl_->scheduler().counters();
}

CARCHECK_DECL void client::reset_credits_exhausted()
{
    auto impl = impl_;
    asio::dispatch(impl->serial(), [impl] { impl->scheduler().reset_credits_exhausted(); });
}


namespace detail {

CARCHECK_DECL void start_run(std::shared_ptr<client_impl> impl, asio::any_completion_handler<void(error_code)> h)
{
    impl->pool().run(std::move(h));
}

CARCHECK_DECL void start_get_config(std::shared_ptr<client_impl> impl, diagnostics* diag, config_handler h)
{
    run_operation<config>(impl, diag, std::move(h),
                          [](std::shared_ptr<client_impl> impl, std::shared_ptr<op_state> st, diagnostics* d,
                             config& out) {
                              return perform<config, http::empty_body>(std::move(impl), std::move(st), d,
                                                                       config_request{}, out);
                          });
}

// How each operation gives the request its body. Named types, not lambdas: they are stored
// in a coroutine frame, and a frame declared in a header may not hold a type without linkage.

/// POST /recognize: the file, streamed as the multipart "image" part.
struct open_multipart_file {
    std::filesystem::path file;
    error_code operator()(client_request<multipart_file_body>& req, const recognize_options&, diagnostics& d)
    {
        return req.body().open(std::move(file), d.client_message); // called once
    }
};

/// POST /recognize_bytes from the caller's buffer.
struct assign_base64_bytes {
    std::span<const std::byte> image;
    error_code operator()(client_request<base64_body>& req, const recognize_options& o, diagnostics& d) const
    {
        if (image.empty()) {
            d.client_message = "image is empty";
            return error::invalid_argument;
        }
        req.body().assign(image);
        req.body().set_encoding(o.base64);
        return {};
    }
};

/// POST /recognize_bytes from a file, encoded while it is sent.
struct open_base64_file {
    std::filesystem::path file;
    error_code operator()(client_request<base64_body>& req, const recognize_options& o, diagnostics& d)
    {
        if (auto ec = req.body().open(std::move(file), d.client_message)) // called once
            return ec;
        req.body().set_encoding(o.base64);
        return {};
    }
};

/// POST /recognize_url: the URL checked and put into the query.
struct set_image_url {
    std::string url;
    const client_impl* impl;
    error_code operator()(client_request<http::empty_body>& req, const recognize_options& o, diagnostics& d) const
    {
        auto parsed = boost::urls::parse_absolute_uri(url);
        if (url.empty() || !parsed || (parsed->scheme() != "http" && parsed->scheme() != "https") ||
            !parsed->has_authority() || parsed->host().empty()) {
            d.client_message = "image_url must be an absolute http:// or https:// URL";
            return error::invalid_argument;
        }
        req.target(impl->target("/recognize_url", &o, false, url));
        return {};
    }
};

CARCHECK_DECL void start_recognize_file(std::shared_ptr<client_impl> impl, std::filesystem::path file,
                                        recognize_options opts, diagnostics* diag, recognition_handler h)
{
    start_recognition<multipart_file_body>(impl, diag, std::move(h), std::move(opts), "/recognize", true,
                                           open_multipart_file{std::move(file)});
}

CARCHECK_DECL void start_recognize_bytes(std::shared_ptr<client_impl> impl, std::span<const std::byte> image,
                                         recognize_options opts, diagnostics* diag, recognition_handler h)
{
    start_recognition<base64_body>(impl, diag, std::move(h), std::move(opts), "/recognize_bytes", false,
                                   assign_base64_bytes{image});
}

CARCHECK_DECL void start_recognize_base64_file(std::shared_ptr<client_impl> impl, std::filesystem::path file,
                                               recognize_options opts, diagnostics* diag, recognition_handler h)
{
    start_recognition<base64_body>(impl, diag, std::move(h), std::move(opts), "/recognize_bytes", false,
                                   open_base64_file{std::move(file)});
}

CARCHECK_DECL void start_recognize_url(std::shared_ptr<client_impl> impl, std::string url,
                                       recognize_options opts, diagnostics* diag, recognition_handler h)
{
    // The operation's body holds the implementation (its impl parameter): the raw pointer
    // cannot dangle.
    const client_impl* raw = impl.get();
    start_recognition<http::empty_body>(impl, diag, std::move(h), std::move(opts), "/recognize_url", false,
                                        set_image_url{std::move(url), raw});
}

} // namespace detail
} // namespace carcheck

#endif
