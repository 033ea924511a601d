#ifndef CARCHECK_MOCK_SERVICE_HPP
#define CARCHECK_MOCK_SERVICE_HPP

// The API semantics without any networking: routing, parameter validation as the spec says,
// per-key monthly credits and fixed rate windows, and the JSON replies. server.cpp feeds it
// parsed requests and writes what it returns.

#include "mock_server.hpp"
#include "recognition.hpp"
#include "upload.hpp"

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace carcheck::mock {

/// What the live service sends with its JSON (the charset quoted).
inline constexpr const char* json_content_type = "application/json; charset=\"utf-8\"";

struct reply {
    unsigned status = 200;
    std::string content_type = json_content_type;
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers; ///< X-RateLimit-*, Allow
};

enum class route { none, config, recognize, recognize_bytes, recognize_url };

/// A request after its header: what is known before the body arrives.
struct prepared_request {
    std::string method, path;
    std::map<std::string, std::string> query; ///< decoded, first occurrence wins
    std::string content_type;
    route which = route::none;
    recognize_params params;
    std::string key; ///< the secret_key as sent (empty if absent)
    std::optional<reply> early; ///< the answer when it does not depend on the body
    upload_mode mode = upload_mode::discard;
    std::string boundary;   ///< multipart
    bool keep_full = false; ///< return_image=1
    std::string fetch_url;  ///< recognize_url, already checked to be loopback http
};

class service {
public:
    /// Rate-limit headers report this when the key has no limit.
    static constexpr std::int64_t unlimited_reported = 1'000'000;

    explicit service(const std::vector<key_config>& keys);

    prepared_request prepare(std::string_view method, std::string_view target, std::string_view content_type) const;

    /// The reply once the body (or the fetched image) is in: body validity, rate window,
    /// credits, recognition. `image` may be null for GET /config and early answers.
    reply answer(const prepared_request& req, const upload* image, const std::string& fetch_error);

    /// Adds X-RateLimit-* for this request's key without consuming anything.
    void add_rate_headers(const prepared_request& req, reply& r) const;

    std::int64_t credits_used(const std::string& key) const;
    void set_key(const key_config& k);

    /// {"error_code": status, "error": message} with the rate headers (none on 401 and 402,
    /// as the live service sends them).
    reply error_reply(const prepared_request& req, unsigned status, std::string message) const;

private:
    struct key_state {
        key_config config;
        std::int64_t window_index = -1;
        std::int64_t window_count = 0;
    };
    static std::int64_t now_epoch();
    void rate_headers_locked(const key_state* k, std::int64_t now, reply& r) const;

    mutable std::mutex mutex_;
    std::map<std::string, key_state> keys_;
};

std::string make_uuid();

} // namespace carcheck::mock

#endif
