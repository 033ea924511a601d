#include "service.hpp"

#include "plain_json.hpp"

#include <boost/beast/core/detail/base64.hpp>
#include <boost/url/ipv4_address.hpp>
#include <boost/url/parse.hpp>

#include <openssl/rand.h>

#include <algorithm>
#include <cctype>
#include <charconv>

namespace carcheck::mock {

namespace json = boost::json;
namespace urls = boost::urls;

namespace {

std::string lower(std::string_view s)
{
    std::string out(s);
    for (auto& c : out)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

std::string mime_type(std::string_view content_type)
{
    auto semi = content_type.find(';');
    auto t = content_type.substr(0, semi);
    while (!t.empty() && (t.back() == ' ' || t.back() == '\t'))
        t.remove_suffix(1);
    while (!t.empty() && (t.front() == ' ' || t.front() == '\t'))
        t.remove_prefix(1);
    return lower(t);
}

/// The live service's error body: {"error_code": 401, "error": "Invalid credentials"}.
std::string error_body(unsigned status, std::string_view message)
{
    return to_plain_json(json::object{{"error_code", status}, {"error", message}});
}

/// The live service's texts.
constexpr const char* invalid_credentials = "Invalid credentials";
constexpr const char* base64_undecodable = "Unable to base64 decode image_bytes body";

std::string monthly_usage_exceeded(std::int64_t credits)
{
    return "Monthly Usage (" + std::to_string(credits) + ") exceeded for this month";
}

bool is_loopback_host(const urls::url_view& u)
{
    switch (u.host_type()) {
    case urls::host_type::ipv4: return u.host_ipv4_address().is_loopback();
    case urls::host_type::ipv6: return u.host_ipv6_address().is_loopback();
    case urls::host_type::name: return lower(u.host()) == "localhost";
    default: return false;
    }
}

std::string base64(std::string_view bytes)
{
    namespace b64 = boost::beast::detail::base64;
    std::string out(b64::encoded_size(bytes.size()), '\0');
    out.resize(b64::encode(out.data(), bytes.data(), bytes.size()));
    return out;
}

} // namespace

std::string make_uuid()
{
    unsigned char b[16];
    RAND_bytes(b, sizeof b);
    b[6] = static_cast<unsigned char>((b[6] & 0x0F) | 0x40); // version 4
    b[8] = static_cast<unsigned char>((b[8] & 0x3F) | 0x80); // RFC 4122 variant
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (int i = 0; i < 16; ++i) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out += '-';
        out += digits[b[i] >> 4];
        out += digits[b[i] & 0xF];
    }
    return out;
}

service::service(const std::vector<key_config>& keys)
{
    if (keys.empty())
        keys_["test-key"].config.key = "test-key";
    for (const auto& k : keys)
        keys_[k.key].config = k;
}

std::int64_t service::now_epoch()
{
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

void service::rate_headers_locked(const key_state* k, std::int64_t now, reply& r) const
{
    std::int64_t window = 60, limit = unlimited_reported, used = 0;
    if (k) {
        window = std::max<std::int64_t>(1, k->config.window.count());
        if (k->config.rate_limit > 0)
            limit = k->config.rate_limit;
        if (k->window_index == now / window)
            used = k->window_count;
    }
    const std::int64_t reset = (now / window + 1) * window; // fixed windows [k*w, (k+1)*w)
    r.headers.emplace_back("X-RateLimit-Limit", std::to_string(limit));
    r.headers.emplace_back("X-Ratelimit-Remaining", std::to_string(std::max<std::int64_t>(0, limit - used)));
    r.headers.emplace_back("X-Ratelimit-Reset", std::to_string(reset));
}

void service::add_rate_headers(const prepared_request& req, reply& r) const
{
    std::lock_guard lock(mutex_);
    auto it = keys_.find(req.key);
    rate_headers_locked(it == keys_.end() ? nullptr : &it->second, now_epoch(), r);
}

reply service::error_reply(const prepared_request& req, unsigned status, std::string message) const
{
    reply r;
    r.status = status;
    r.body = error_body(status, message);
    if (status != 401 && status != 402)
        add_rate_headers(req, r);
    return r;
}

prepared_request service::prepare(std::string_view method, std::string_view target, std::string_view content_type) const
{
    prepared_request req;
    req.method = std::string(method);
    req.content_type = std::string(content_type);
    auto parsed = urls::parse_origin_form(target);
    if (!parsed) {
        req.path = std::string(target.substr(0, target.find('?')));
        req.early = error_reply(req, 400, "malformed request target (path or query string)");
        return req;
    }
    req.path = std::string(parsed->path());
    for (const auto& p : parsed->params())
        req.query.emplace(p.key, p.has_value ? p.value : std::string());
    auto param = [&](const char* name) -> const std::string* {
        auto it = req.query.find(name);
        return it == req.query.end() ? nullptr : &it->second;
    };
    if (auto* k = param("secret_key"))
        req.key = *k;

    struct route_entry {
        const char* path;
        route which;
        const char* method;
    };
    static constexpr route_entry routes[] = {{"/v3/config", route::config, "GET"},
                                             {"/v3/recognize", route::recognize, "POST"},
                                             {"/v3/recognize_bytes", route::recognize_bytes, "POST"},
                                             {"/v3/recognize_url", route::recognize_url, "POST"}};
    const route_entry* entry = nullptr;
    for (const auto& e : routes)
        if (req.path == e.path)
            entry = &e;
    if (!entry) {
        req.early = error_reply(req, 404, "no such API path: " + req.path);
        return req;
    }
    if (method != entry->method) {
        req.early = error_reply(req, 405, "method " + req.method + " is not allowed on " + req.path);
        req.early->headers.emplace_back("Allow", entry->method);
        return req;
    }
    req.which = entry->which;
    if (req.which == route::config)
        return req; // the spec gives /config no parameters

    // Authentication first, as the real service does: nothing else is revealed to strangers.
    {
        std::lock_guard lock(mutex_);
        if (req.key.empty() || !keys_.count(req.key)) {
            reply r; // no rate-limit headers, as the live service
            r.status = 401;
            r.body = error_body(401, invalid_credentials);
            req.early = std::move(r);
            return req;
        }
    }
    auto bad = [&](std::string message) {
        req.early = error_reply(req, 400, std::move(message));
        return req;
    };
    auto flag = [&](const char* name, bool& out) {
        const auto* v = param(name);
        if (!v)
            return true;
        if (*v != "0" && *v != "1")
            return false;
        out = *v == "1";
        return true;
    };

    const auto* country = param("country");
    if (!country || country->empty())
        return bad("country is required");
    req.params.country = *country;
    if (!flag("recognize_vehicle", req.params.recognize_vehicle))
        return bad("recognize_vehicle must be 0 or 1");
    if (!flag("return_image", req.params.return_image))
        return bad("return_image must be 0 or 1");
    if (req.which == route::recognize) {
        if (!flag("is_cropped", req.params.is_cropped))
            return bad("is_cropped must be 0 or 1");
    } else if (param("is_cropped")) {
        return bad("is_cropped is only accepted by /recognize");
    }
    if (const auto* t = param("topn")) {
        int v = 0;
        const auto* end = t->data() + t->size();
        auto [p, ec] = std::from_chars(t->data(), end, v);
        if (t->empty() || ec != std::errc() || p != end)
            return bad("topn must be an integer between 1 and 1000");
        if (v < 1 || v > 1000)
            return bad("topn must be between 1 and 1000");
        req.params.topn = v;
    }
    req.keep_full = req.params.return_image;

    switch (req.which) {
    case route::recognize:
        req.boundary = multipart_boundary(content_type);
        if (req.boundary.empty())
            return bad("image: Content-Type must be multipart/form-data with a boundary");
        req.mode = upload_mode::multipart;
        break;
    case route::recognize_bytes:
        // application/json (the spec's type): the bare base64 text, as the live service takes
        // it, or a JSON string of it; any other type: the bare text only.
        req.mode = mime_type(content_type) == "application/json" ? upload_mode::base64_json : upload_mode::base64_raw;
        break;
    case route::recognize_url: {
        const auto* u = param("image_url");
        if (!u || u->empty())
            return bad("image_url is required");
        auto url = urls::parse_absolute_uri(*u);
        if (!url || lower(url->scheme()) != "http" || !is_loopback_host(*url))
            return bad("image_url must be an http:// URL on a loopback address (the mock fetches nothing else)");
        req.fetch_url = *u;
        break;
    }
    default: break;
    }
    return req;
}

reply service::answer(const prepared_request& req, const upload* image, const std::string& fetch_error)
{
    if (req.early)
        return *req.early;
    if (req.which == route::config) {
        reply r;
        r.body = to_plain_json(config_json());
        add_rate_headers(req, r);
        return r;
    }
    if (!fetch_error.empty())
        return error_reply(req, 400, fetch_error);
    if (!image->error().empty()) {
        const bool base64 = image->mode() == upload_mode::base64_json || image->mode() == upload_mode::base64_raw;
        return error_reply(req, 400, base64 ? std::string(base64_undecodable) : image->error());
    }
    const auto& img = image->image();
    if (img.size() == 0)
        return error_reply(req, 400, "image is empty");
    if (req.params.return_image && img.full_too_big())
        return error_reply(req, 400, "return_image=1 is limited to images of 32 MiB");

    const std::int64_t cost = req.params.recognize_vehicle ? 2 : 1;
    std::int64_t used = 0, total = 0;
    reply r;
    {
        std::lock_guard lock(mutex_);
        const auto now = now_epoch();
        auto it = keys_.find(req.key);
        if (it == keys_.end()) { // removed meanwhile
            r.status = 401;
            r.body = error_body(401, invalid_credentials);
            return r;
        }
        auto& k = it->second;
        const auto window = std::max<std::int64_t>(1, k.config.window.count());
        if (k.window_index != now / window) {
            k.window_index = now / window;
            k.window_count = 0;
        }
        if (k.config.rate_limit > 0 && k.window_count >= k.config.rate_limit) {
            // Refused before any work: no credit is consumed.
            r.status = 403;
            r.body = error_body(403, "Temporary rate-limit exceeded: " + std::to_string(k.config.rate_limit) +
                                         " requests per " + std::to_string(window) + " seconds");
            rate_headers_locked(&k, now, r);
            return r;
        }
        ++k.window_count;
        if (k.config.credits_used + cost > k.config.monthly_credits) {
            r.status = 402; // no rate-limit headers, as the live service
            r.body = error_body(402, monthly_usage_exceeded(k.config.monthly_credits));
            return r;
        }
        k.config.credits_used += cost;
        used = k.config.credits_used;
        total = k.config.monthly_credits;
        rate_headers_locked(&k, now, r);
    }
    // Built without the lock: recognition with topn=1000 and return_image take a while.
    auto body = recognize(req.params, image_facts{img.prefix(), img.sha256_hex(), img.size()});
    body["epoch_time"] = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch()).count();
    body["credit_cost"] = cost;
    body["credits_monthly_total"] = total;
    body["credits_monthly_used"] = used;
    body["error"] = false;
    body["uuid"] = make_uuid();
    if (req.params.return_image) {
        body["image_bytes"] = base64(img.full());
        body["image_bytes_prefix"] = "data:" + sniff_content_type(img.prefix()) + ";base64,";
    }
    r.body = to_plain_json(body);
    return r;
}

std::int64_t service::credits_used(const std::string& key) const
{
    std::lock_guard lock(mutex_);
    auto it = keys_.find(key);
    return it == keys_.end() ? -1 : it->second.config.credits_used;
}

void service::set_key(const key_config& k)
{
    std::lock_guard lock(mutex_);
    keys_[k.key] = key_state{k};
}

} // namespace carcheck::mock
