#ifndef CARCHECK_CLIENT_HPP
#define CARCHECK_CLIENT_HPP

#include <carcheck/config.hpp>
#include <carcheck/pool_counters.hpp>
#include <carcheck/diagnostics.hpp>
#include <carcheck/error.hpp>
#include <carcheck/model.hpp>
#include <carcheck/options.hpp>
#include <carcheck/with_diagnostics.hpp>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/strand.hpp>

#include <cstddef>
#include <filesystem>
#include <memory>
#include <span>
#include <string>

namespace carcheck {

namespace detail {
class client_impl;
}

/// Client of the OpenALPR CarCheck Cloud API v3.
///
/// Every operation takes a completion token (default asio::deferred, so it can be
/// co_await-ed in an asio::awaitable) and completes with void(error_code, Result). An
/// overload taking `diagnostics&` fills it with the HTTP status, the server's error text
/// and the rate-limit headers; with_diagnostics(token) throws them as api_error instead.
/// Operations honour per-operation cancellation (terminal: the connection in use is
/// closed, never reused half-written).
///
/// Threading: the client's state lives on a strand of the given executor; operations may be
/// started from any thread. Keep the client alive until its operations complete (or call
/// close(), which makes them complete with client_closed / operation_aborted).
class client {
public:
    using executor_type = asio::any_io_executor;

    /// Throws api_error (invalid_argument, insecure_endpoint) for an unusable endpoint or CA file.
    CARCHECK_DECL client(asio::any_io_executor ex, client_options opts);
    CARCHECK_DECL ~client();
    client(const client&) = delete;
    client& operator=(const client&) = delete;

    CARCHECK_DECL executor_type get_executor() const noexcept;

    /// GET /config: countries and vehicle labels the service knows.
    template <class Token = asio::deferred_t>
    auto get_config(Token&& token = {})
    {
        return get_config_impl(nullptr, std::forward<Token>(token));
    }
    template <class Token = asio::deferred_t>
    auto get_config(diagnostics& diag, Token&& token = {})
    {
        return get_config_impl(&diag, std::forward<Token>(token));
    }

    /// POST /recognize: uploads the file as multipart/form-data, streamed from disk.
    template <class Token = asio::deferred_t>
    auto recognize_file(std::filesystem::path file, const recognize_options& opts, Token&& token = {})
    {
        return recognize_file_impl(std::move(file), opts, nullptr, std::forward<Token>(token));
    }
    template <class Token = asio::deferred_t>
    auto recognize_file(std::filesystem::path file, const recognize_options& opts, diagnostics& diag,
                        Token&& token = {})
    {
        return recognize_file_impl(std::move(file), opts, &diag, std::forward<Token>(token));
    }

    /// POST /recognize_bytes: sends the base64 of the image, encoded on the fly; the bare
    /// text by default, a JSON string with opts.base64 = base64_encoding::json_string.
    /// The buffer is not copied: keep it alive until the operation completes.
    template <class Token = asio::deferred_t>
    auto recognize_bytes(std::span<const std::byte> image, const recognize_options& opts, Token&& token = {})
    {
        return recognize_bytes_impl(image, opts, nullptr, std::forward<Token>(token));
    }
    template <class Token = asio::deferred_t>
    auto recognize_bytes(std::span<const std::byte> image, const recognize_options& opts, diagnostics& diag,
                         Token&& token = {})
    {
        return recognize_bytes_impl(image, opts, &diag, std::forward<Token>(token));
    }

    /// POST /recognize_bytes with the base64 of a file, streamed from disk block by block.
    template <class Token = asio::deferred_t>
    auto recognize_base64_file(std::filesystem::path file, const recognize_options& opts, Token&& token = {})
    {
        return recognize_base64_file_impl(std::move(file), opts, nullptr,
                                          std::forward<Token>(token));
    }
    template <class Token = asio::deferred_t>
    auto recognize_base64_file(std::filesystem::path file, const recognize_options& opts, diagnostics& diag,
                               Token&& token = {})
    {
        return recognize_base64_file_impl(std::move(file), opts, &diag,
                                          std::forward<Token>(token));
    }

    /// POST /recognize_url: the service downloads the image from `image_url` (http/https).
    template <class Token = asio::deferred_t>
    auto recognize_url(std::string image_url, const recognize_options& opts, Token&& token = {})
    {
        return recognize_url_impl(std::move(image_url), opts, nullptr, std::forward<Token>(token));
    }
    template <class Token = asio::deferred_t>
    auto recognize_url(std::string image_url, const recognize_options& opts, diagnostics& diag,
                       Token&& token = {})
    {
        return recognize_url_impl(std::move(image_url), opts, &diag, std::forward<Token>(token));
    }

    /// Background work of a long-running program: closes pooled connections that have been
    /// idle for `timeouts.idle` (within 1.25 x that time) until close() or cancellation.
    ///
    /// Optional. The client never arms a timer of its own, so a program whose operations
    /// are done returns from `io_context::run()` at once; without async_run an expired idle
    /// connection is closed when the next operation starts, by close(), or by the destructor.
    /// Call it once, e.g. `client.async_run(asio::detached)`; it keeps
    /// `run()` busy until close() (then it completes with success) or until its cancellation
    /// slot is emitted (operation_aborted, any cancellation type). A second async_run while
    /// one is active completes with `asio::error::already_started`. Completion signature
    /// `void(error_code)`, on the token's associated executor (else the client's), never
    /// inline. Thread safety: as the other operations.
    template <class Token = asio::deferred_t>
    auto async_run(Token&& token = {})
    {
        return asio::async_initiate<Token, void(error_code)>(
            [this](asio::any_completion_handler<void(error_code)> h) { start_run(std::move(h)); }, token);
    }

    /// Fails queued and in-flight operations and closes every connection. Idempotent.
    CARCHECK_DECL void close();

    /// Connection counters (see pool_counters). Like scheduling_counters(), read them on
    /// the thread running the io_context, or from any thread with the io_context stopped;
    /// with several threads, dispatch the call to strand_executor().
    CARCHECK_DECL pool_counters connection_counters() const;

    /// Admission counters: sent, retried by reason, throttled time, 402/403 seen, credits.
    CARCHECK_DECL scheduler_counters scheduling_counters() const;

    /// Accepts requests again after a 402 made every request fail with monthly_limit
    /// (call it once the plan has credits again). Thread-safe.
    CARCHECK_DECL void reset_credits_exhausted();

    /// The strand all of the client's state lives on.
    CARCHECK_DECL asio::strand<asio::any_io_executor> strand_executor() const noexcept;

private:
    using config_handler = asio::any_completion_handler<void(error_code, config)>;
    using recognition_handler = asio::any_completion_handler<void(error_code, recognition)>;

    template <class Token>
    auto get_config_impl(diagnostics* diag, Token&& token)
    {
        return detail::initiate_operation<config>(
            [this](diagnostics* d, config_handler h) { start_get_config(d, std::move(h)); }, diag,
            std::forward<Token>(token));
    }
    template <class Token>
    auto recognize_file_impl(std::filesystem::path file, recognize_options opts, diagnostics* diag,
                             Token&& token)
    {
        return detail::initiate_operation<recognition>(
            [this, file = std::move(file), opts = std::move(opts)](diagnostics* d, recognition_handler h) mutable {
                start_recognize_file(std::move(file), std::move(opts), d, std::move(h));
            },
            diag, std::forward<Token>(token));
    }
    template <class Token>
    auto recognize_bytes_impl(std::span<const std::byte> image, recognize_options opts,
                              diagnostics* diag, Token&& token)
    {
        return detail::initiate_operation<recognition>(
            [this, image, opts = std::move(opts)](diagnostics* d, recognition_handler h) mutable {
                start_recognize_bytes(image, std::move(opts), d, std::move(h));
            },
            diag, std::forward<Token>(token));
    }
    template <class Token>
    auto recognize_base64_file_impl(std::filesystem::path file, recognize_options opts,
                                    diagnostics* diag, Token&& token)
    {
        return detail::initiate_operation<recognition>(
            [this, file = std::move(file), opts = std::move(opts)](diagnostics* d, recognition_handler h) mutable {
                start_recognize_base64_file(std::move(file), std::move(opts), d, std::move(h));
            },
            diag, std::forward<Token>(token));
    }
    template <class Token>
    auto recognize_url_impl(std::string url, recognize_options opts, diagnostics* diag, Token&& token)
    {
        return detail::initiate_operation<recognition>(
            [this, url = std::move(url), opts = std::move(opts)](diagnostics* d, recognition_handler h) mutable {
                start_recognize_url(std::move(url), std::move(opts), d, std::move(h));
            },
            diag, std::forward<Token>(token));
    }

    // The work of each operation, written once (non-template).
    CARCHECK_DECL void start_run(asio::any_completion_handler<void(error_code)> h);
    CARCHECK_DECL void start_get_config(diagnostics* diag, config_handler h);
    CARCHECK_DECL void start_recognize_file(std::filesystem::path file, recognize_options opts,
                                            diagnostics* diag, recognition_handler h);
    CARCHECK_DECL void start_recognize_bytes(std::span<const std::byte> image, recognize_options opts,
                                             diagnostics* diag, recognition_handler h);
    CARCHECK_DECL void start_recognize_base64_file(std::filesystem::path file, recognize_options opts,
                                                   diagnostics* diag, recognition_handler h);
    CARCHECK_DECL void start_recognize_url(std::string url, recognize_options opts,
                                           diagnostics* diag, recognition_handler h);

    std::shared_ptr<detail::client_impl> impl_;
};

} // namespace carcheck

#ifdef CARCHECK_HEADER_ONLY
// The definitions need client_impl complete; its header includes them at its end.
#include <carcheck/detail/client_impl.hpp>
#endif

#endif
