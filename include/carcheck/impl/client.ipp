#ifndef CARCHECK_IMPL_CLIENT_IPP
#define CARCHECK_IMPL_CLIENT_IPP

#include <carcheck/body/base64_body.hpp>
#include <carcheck/body/multipart_file_body.hpp>
#include <carcheck/client.hpp>
#include <carcheck/detail/client_impl.hpp>

#include <boost/asio/ssl/context.hpp>
#include <boost/url/encode.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>

#include <openssl/ssl.h>

namespace carcheck {
namespace detail {

namespace net = boost::asio;

using reply_pair = std::pair<error_code, recognition>;

inline std::string query_encode(std::string_view v)
{
    // Everything but RFC 3986 unreserved characters is percent-encoded: '+', '&', '=',
    // CR and LF in a key, country or URL can never change the meaning of the query.
    return boost::urls::encode(v, boost::urls::unreserved_chars);
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
    : opts_(std::move(opts)), ep_(checked_endpoint(opts_)),
      pool_(std::move(ex), ep_, pool_options{opts_.max_connections, opts_.timeouts},
            ep_.tls ? make_tls_context(opts_.tls) : nullptr),
      scheduler_(pool_.impl()->strand(), scheduling_for(opts_))
{
}

CARCHECK_DECL std::string client_impl::target(std::string_view path, const recognize_options* opts,
                                              bool with_cropped, std::string_view image_url) const
{
    std::string t = ep_.base_path;
    t += path;
    // Only GET /config is sent without a key (the operations that need one refuse an empty key).
    const bool with_key = !opts_.secret_key.empty();
    if (with_key) {
        t += "?secret_key=";
        t += query_encode(opts_.secret_key);
    }
    if (opts) {
        t += with_key ? "&country=" : "?country=";
        t += query_encode(opts->country);
        t += opts->recognize_vehicle ? "&recognize_vehicle=1" : "&recognize_vehicle=0";
        t += opts->return_image ? "&return_image=1" : "&return_image=0";
        if (opts->topn)
            t += "&topn=" + std::to_string(*opts->topn);
        if (with_cropped && opts->is_cropped)
            t += "&is_cropped=1";
    }
    if (!image_url.empty()) {
        t += "&image_url=";
        t += query_encode(image_url);
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

CARCHECK_DECL error_code client_impl::check_status(const http::response<http::string_body>& res,
                                                   diagnostics& diag) const
{
    diag.http_status = res.result_int();
    diag.rate_limit = parse_rate_limit(res.base());
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

template <class Body>
net::awaitable<reply_pair> recognize_with(std::shared_ptr<client_impl> impl, std::shared_ptr<op_state> st,
                                          diagnostics* diag, http::request<Body> req)
{
    auto r = co_await impl->send(*st, *diag, req, false);
    if (r.ec) {
        if constexpr (requires { req.body().path(); }) {
          if (r.ec == error::file_changed || r.ec == error::file_read_failed) {
            std::string what = req.body().path().string();
            diag->client_message = "file " + what + ": " + r.ec.message();
            if constexpr (requires { req.body().error_detail(); })
                if (!req.body().error_detail().empty())
                    diag->client_message += " (" + req.body().error_detail() + ")";
          }
        }
        co_return reply_pair{r.ec, recognition{}};
    }
    if (auto ec = impl->check_status(r.response, *diag))
        co_return reply_pair{ec, recognition{}};
    recognition out;
    std::string detail;
    if (auto ec = parse_recognition(std::move(r.response.body()), out, detail)) {
        diag->client_message = impl->redact(std::move(detail));
        co_return reply_pair{ec, recognition{}};
    }
    co_return reply_pair{error_code{}, std::move(out)};
}

/// Runs `body` as the operation, with a diagnostics object that exists even when the caller
/// passed none.
template <class Result, class Body>
void run_operation(const std::shared_ptr<client_impl>& impl, diagnostics* diag,
                   net::any_completion_handler<void(error_code, Result)> h, Body body)
{
    launch<Result>(impl->strand(), std::move(h),
                   [impl, diag, body = std::move(body)](std::shared_ptr<op_state> st) mutable {
                       return [](std::shared_ptr<client_impl> impl, std::shared_ptr<op_state> st,
                                 diagnostics* user_diag, Body body) -> net::awaitable<std::pair<error_code, Result>> {
                           diagnostics local;
                           diagnostics& d = user_diag ? *user_diag : local;
                           d.clear();
                           co_return co_await body(impl, st, &d);
                       }(impl, std::move(st), diag, std::move(body));
                   });
}

inline reply_pair invalid(error_code ec)
{
    return {ec, recognition{}};
}

} // namespace detail

CARCHECK_DECL client::client(asio::any_io_executor ex, client_options opts)
    : impl_(std::make_shared<detail::client_impl>(std::move(ex), std::move(opts)))
{
}

CARCHECK_DECL client::~client()
{
    close();
}

CARCHECK_DECL client::executor_type client::get_executor() const noexcept
{
    return impl_->strand();
}

CARCHECK_DECL void client::close()
{
    auto impl = impl_;
    asio::dispatch(impl->strand(), [impl] {
        impl->scheduler().close();
        impl->public_pool().close();
    });
}

CARCHECK_DECL void client::start_run(asio::any_completion_handler<void(error_code)> h)
{
    impl_->public_pool().impl()->run(std::move(h));
}

CARCHECK_DECL pool_counters client::connection_counters() const
{
    return impl_->public_pool().counters();
}

CARCHECK_DECL scheduler_counters client::scheduling_counters() const
{
    return impl_->scheduler().counters();
}

CARCHECK_DECL void client::reset_credits_exhausted()
{
    auto impl = impl_;
    asio::dispatch(impl->strand(), [impl] { impl->scheduler().reset_credits_exhausted(); });
}

CARCHECK_DECL asio::strand<asio::any_io_executor> client::strand_executor() const noexcept
{
    return impl_->strand();
}

CARCHECK_DECL void client::start_get_config(diagnostics* diag, config_handler h)
{
    using result = std::pair<error_code, config>;
    detail::run_operation<config>(
        impl_, diag, std::move(h),
        [](std::shared_ptr<detail::client_impl> impl, std::shared_ptr<detail::op_state> st,
           diagnostics* d) -> asio::awaitable<result> {
            // GET /config takes no parameters (spec): without a key it is sent without one.
            detail::http::request<detail::http::empty_body> req{detail::http::verb::get,
                                                                impl->target("/config", nullptr, false), 11};
            impl->set_common_fields(req);
            auto r = co_await impl->send(*st, *d, req, true);
            if (r.ec)
                co_return result{r.ec, config{}};
            if (auto ec = impl->check_status(r.response, *d))
                co_return result{ec, config{}};
            config out;
            std::string detail;
            if (auto ec = parse_config(std::move(r.response.body()), out, detail)) {
                d->client_message = impl->redact(std::move(detail));
                co_return result{ec, config{}};
            }
            co_return result{error_code{}, std::move(out)};
        });
}

CARCHECK_DECL void client::start_recognize_file(std::filesystem::path file, recognize_options opts,
                                                diagnostics* diag, recognition_handler h)
{
    detail::run_operation<recognition>(
        impl_, diag, std::move(h),
        [file = std::move(file), opts = std::move(opts)](std::shared_ptr<detail::client_impl> impl,
                                                         std::shared_ptr<detail::op_state> st,
                                                         diagnostics* d) -> asio::awaitable<detail::reply_pair> {
            if (auto ec = impl->validate(opts, true, *d))
                co_return detail::invalid(ec);
            detail::http::request<multipart_file_body> req{detail::http::verb::post,
                                                          impl->target("/recognize", &opts, true), 11};
            if (auto ec = req.body().open(file, d->client_message))
                co_return detail::invalid(ec);
            impl->set_common_fields(req);
            req.set(detail::http::field::content_type, req.body().content_type());
            req.prepare_payload();
            co_return co_await detail::recognize_with(impl, st, d, std::move(req));
        });
}

CARCHECK_DECL void client::start_recognize_bytes(std::span<const std::byte> image, recognize_options opts,
                                                 diagnostics* diag, recognition_handler h)
{
    detail::run_operation<recognition>(
        impl_, diag, std::move(h),
        [image, opts = std::move(opts)](std::shared_ptr<detail::client_impl> impl,
                                        std::shared_ptr<detail::op_state> st,
                                        diagnostics* d) -> asio::awaitable<detail::reply_pair> {
            if (auto ec = impl->validate(opts, false, *d))
                co_return detail::invalid(ec);
            if (image.empty()) {
                d->client_message = "image is empty";
                co_return detail::invalid(error::invalid_argument);
            }
            detail::http::request<base64_body> req{detail::http::verb::post,
                                                   impl->target("/recognize_bytes", &opts, false), 11};
            req.body().assign(image);
            req.body().set_encoding(opts.base64);
            impl->set_common_fields(req);
            req.set(detail::http::field::content_type, req.body().content_type());
            req.prepare_payload();
            co_return co_await detail::recognize_with(impl, st, d, std::move(req));
        });
}

CARCHECK_DECL void client::start_recognize_base64_file(std::filesystem::path file, recognize_options opts,
                                                       diagnostics* diag, recognition_handler h)
{
    detail::run_operation<recognition>(
        impl_, diag, std::move(h),
        [file = std::move(file), opts = std::move(opts)](std::shared_ptr<detail::client_impl> impl,
                                                         std::shared_ptr<detail::op_state> st,
                                                         diagnostics* d) -> asio::awaitable<detail::reply_pair> {
            if (auto ec = impl->validate(opts, false, *d))
                co_return detail::invalid(ec);
            detail::http::request<base64_body> req{detail::http::verb::post,
                                                   impl->target("/recognize_bytes", &opts, false), 11};
            if (auto ec = req.body().open(file, d->client_message))
                co_return detail::invalid(ec);
            req.body().set_encoding(opts.base64);
            impl->set_common_fields(req);
            req.set(detail::http::field::content_type, req.body().content_type());
            req.prepare_payload();
            co_return co_await detail::recognize_with(impl, st, d, std::move(req));
        });
}

CARCHECK_DECL void client::start_recognize_url(std::string url, recognize_options opts,
                                               diagnostics* diag, recognition_handler h)
{
    detail::run_operation<recognition>(
        impl_, diag, std::move(h),
        [url = std::move(url), opts = std::move(opts)](std::shared_ptr<detail::client_impl> impl,
                                                       std::shared_ptr<detail::op_state> st,
                                                       diagnostics* d) -> asio::awaitable<detail::reply_pair> {
            if (auto ec = impl->validate(opts, false, *d))
                co_return detail::invalid(ec);
            auto parsed = boost::urls::parse_absolute_uri(url);
            if (url.empty() || !parsed || (parsed->scheme() != "http" && parsed->scheme() != "https") ||
                !parsed->has_authority() || parsed->host().empty()) {
                d->client_message = "image_url must be an absolute http:// or https:// URL";
                co_return detail::invalid(error::invalid_argument);
            }
            detail::http::request<detail::http::empty_body> req{
                detail::http::verb::post, impl->target("/recognize_url", &opts, false, url), 11};
            impl->set_common_fields(req);
            req.content_length(0);
            co_return co_await detail::recognize_with(impl, st, d, std::move(req));
        });
}

} // namespace carcheck

#endif
