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
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/deferred.hpp>

#include <cstddef>
#include <filesystem>
#include <memory>
#include <span>
#include <string>

namespace carcheck {

namespace detail {
class client_impl;

using config_handler = completion_handler<void(error_code, config)>;
using recognition_handler = completion_handler<void(error_code, recognition)>;

// The work of each operation, written once (non-template); `impl` keeps the client's state
// alive for as long as the operation needs it.
CARCHECK_DECL void start_run(std::shared_ptr<client_impl> impl, asio::any_completion_handler<void(error_code)> h);
CARCHECK_DECL void start_get_config(std::shared_ptr<client_impl> impl, diagnostics* diag, config_handler h);
CARCHECK_DECL void start_recognize_file(std::shared_ptr<client_impl> impl, std::filesystem::path file,
                                        recognize_options opts, diagnostics* diag, recognition_handler h);
CARCHECK_DECL void start_recognize_bytes(std::shared_ptr<client_impl> impl, std::span<const std::byte> image,
                                         recognize_options opts, diagnostics* diag, recognition_handler h);
CARCHECK_DECL void start_recognize_base64_file(std::shared_ptr<client_impl> impl, std::filesystem::path file,
                                               recognize_options opts, diagnostics* diag, recognition_handler h);
CARCHECK_DECL void start_recognize_url(std::shared_ptr<client_impl> impl, std::string url,
                                       recognize_options opts, diagnostics* diag, recognition_handler h);
} // namespace detail

/// Client of the OpenALPR CarCheck Cloud API v3.
///
/// Every operation takes a completion token (default asio::deferred, so it can be
/// co_await-ed in an asio::awaitable) and completes with void(error_code, Result). An
/// overload taking `diagnostics&` fills it with the HTTP status, the server's error text
/// and the rate-limit headers; with_diagnostics(token) throws them as api_error instead.
///
/// What every operation below shares (each one's own section says what differs):
/// - **Completion:** on the token's associated executor, else on the executor the client
///   was constructed with; never inside the initiating call.
/// - **Exceptions:** the initiating call throws nothing but std::bad_alloc. Failures arrive
///   as the error_code; `co_await op(...)` (asio::deferred, use_awaitable) throws them as
///   boost::system::system_error, `co_await op(..., with_diagnostics(asio::deferred))` as
///   api_error with the diagnostics. An exception inside the operation itself (there is
///   none by design) completes it with that exception's error code, not_enough_memory for
///   std::bad_alloc, or state_not_recoverable, its text in diagnostics::client_message.
/// - **Lifetimes:** arguments passed by value are copied or moved into the operation; a
///   `diagnostics&` must stay valid until the completion. The client may be destroyed or
///   closed while operations are pending: they complete with client_closed. The
///   io_context (or executor) must outlive the operations.
/// - **Cancellation:** per-operation cancellation slots (asio::bind_cancellation_slot,
///   parallel_group, awaitable operators). Any type (terminal, partial, total) abandons the
///   request with operation_aborted; the connection it was using is closed, never reused
///   half-written. A request cancelled after it was sent may still have been processed by
///   the service (and charged), so no type promises "no side effects".
/// - **Thread safety:** with client_options::thread_safe (the default) an operation may be
///   started from any thread; the client's state lives on a strand of the given executor
///   (get_executor()). With thread_safe off it lives on the given executor itself, and
///   every member function must be called on the one thread that runs it.
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
    ///
    /// Completion signature `void(error_code, config)`. Sent without the secret key when
    /// client_options::secret_key is empty (the API needs none for it). Idempotent: repeated
    /// after a connection failure even when the request had been sent. Errors: transport and
    /// timeout errors, unexpected_status, bad_response (naming the JSON path), client_closed.
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
    ///
    /// Completion signature `void(error_code, recognition)`. The file is opened when the
    /// operation starts (missing, unreadable, empty, not a regular file: invalid_argument
    /// naming it, nothing sent) and read block by block while sending, so memory stays flat
    /// whatever its size; a file that changes size or is deleted meanwhile fails with
    /// file_changed, never a corrupt upload. `opts` is validated first (invalid_argument).
    /// Never repeated once the whole request was written (credits are money). Errors:
    /// the API's 400/401/402/403 (invalid_parameter, invalid_secret_key, monthly_limit,
    /// rate_limited after the retry budget), transport and timeout errors, bad_response.
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
    ///
    /// Completion signature `void(error_code, recognition)`. Lifetime: `image` is not
    /// copied; the bytes must stay valid and unchanged until the completion. An empty image
    /// fails with invalid_argument before anything is sent. Errors and retries as
    /// recognize_file.
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
    ///
    /// Completion signature `void(error_code, recognition)`. The file is handled as in
    /// recognize_file (opened at the start, checked for changes while sending); errors and
    /// retries as recognize_file.
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
    ///
    /// Completion signature `void(error_code, recognition)`. `image_url` must be an
    /// absolute http:// or https:// URL (else invalid_argument, nothing sent); it travels
    /// percent-encoded in the query. A URL the service cannot fetch is its 400
    /// (invalid_parameter, the server's text in diagnostics). Errors and retries as
    /// recognize_file.
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
            detail::operation_initiation{get_executor(),
                                         [impl = impl_](asio::any_completion_handler<void(error_code)> h) {
                                             detail::start_run(impl, std::move(h));
                                         }},
            token);
    }

    /// Fails queued and in-flight operations with client_closed and closes every
    /// connection; later operations fail with client_closed too. Idempotent, thread-safe (with
    /// client_options::thread_safe), returns at once (the work runs on get_executor()).
    CARCHECK_DECL void close();

    /// Connection counters (see pool_counters). Like scheduling_counters(), read them on
    /// the thread running the io_context, or from any thread with the io_context stopped;
    /// with several threads, dispatch the call to get_executor().
    CARCHECK_DECL pool_counters connection_counters() const;

    /// Admission counters: sent, retried by reason, throttled time, 402/403 seen, credits.
    CARCHECK_DECL scheduler_counters scheduling_counters() const;

    /// Accepts requests again after a 402 made every request fail with monthly_limit
    /// (call it once the plan has credits again). Thread-safe.
    CARCHECK_DECL void reset_credits_exhausted();

private:
    // Each initiation owns the client's implementation and names its executor (see
    // detail::operation_initiation): an operation made now with asio::deferred and launched
    // after the client is gone completes with client_closed instead of touching a dead object.
    template <class Token>
    auto get_config_impl(diagnostics* diag, Token&& token)
    {
        return detail::initiate_operation<config>(
            get_executor(), user_,
            [impl = impl_](diagnostics* d, detail::config_handler h) { detail::start_get_config(impl, d, std::move(h)); },
            diag, std::forward<Token>(token));
    }
    template <class Token>
    auto recognize_file_impl(std::filesystem::path file, recognize_options opts, diagnostics* diag,
                             Token&& token)
    {
        return detail::initiate_operation<recognition>(
            get_executor(), user_,
            [impl = impl_, file = std::move(file), opts = std::move(opts)](diagnostics* d,
                                                                           detail::recognition_handler h) mutable {
                detail::start_recognize_file(impl, std::move(file), std::move(opts), d, std::move(h));
            },
            diag, std::forward<Token>(token));
    }
    template <class Token>
    auto recognize_bytes_impl(std::span<const std::byte> image, recognize_options opts,
                              diagnostics* diag, Token&& token)
    {
        return detail::initiate_operation<recognition>(
            get_executor(), user_,
            [impl = impl_, image, opts = std::move(opts)](diagnostics* d, detail::recognition_handler h) mutable {
                detail::start_recognize_bytes(impl, image, std::move(opts), d, std::move(h));
            },
            diag, std::forward<Token>(token));
    }
    template <class Token>
    auto recognize_base64_file_impl(std::filesystem::path file, recognize_options opts,
                                    diagnostics* diag, Token&& token)
    {
        return detail::initiate_operation<recognition>(
            get_executor(), user_,
            [impl = impl_, file = std::move(file), opts = std::move(opts)](diagnostics* d,
                                                                           detail::recognition_handler h) mutable {
                detail::start_recognize_base64_file(impl, std::move(file), std::move(opts), d, std::move(h));
            },
            diag, std::forward<Token>(token));
    }
    template <class Token>
    auto recognize_url_impl(std::string url, recognize_options opts, diagnostics* diag, Token&& token)
    {
        return detail::initiate_operation<recognition>(
            get_executor(), user_,
            [impl = impl_, url = std::move(url), opts = std::move(opts)](diagnostics* d,
                                                                         detail::recognition_handler h) mutable {
                detail::start_recognize_url(impl, std::move(url), std::move(opts), d, std::move(h));
            },
            diag, std::forward<Token>(token));
    }

    asio::any_io_executor user_; // where handlers without an executor of their own complete
    std::shared_ptr<detail::client_impl> impl_;
};

} // namespace carcheck

#ifdef CARCHECK_HEADER_ONLY
// The definitions need client_impl complete; its header includes them at its end.
#include <carcheck/detail/client_impl.hpp>
#endif

#endif
