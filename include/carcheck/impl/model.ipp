#ifndef CARCHECK_IMPL_MODEL_IPP
#define CARCHECK_IMPL_MODEL_IPP

#include <carcheck/model.hpp>

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parser.hpp>
#include <boost/json/value.hpp>
#include <boost/json/value_from.hpp>
#include <boost/system/errc.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <exception>
#include <limits>
#include <new>
#include <system_error> // std::errc of std::to_chars
#include <utility>

namespace carcheck {
namespace detail {
namespace model {

namespace json = boost::json;

/// Walks a parsed document into the result structs and keeps the JSON path of the member it
/// is reading, so that a failure can name it. Reading functions return false after fail().
class reader {
public:
    explicit reader(std::string& detail) noexcept : detail_(detail) {}
    reader(const reader&) = delete;
    reader& operator=(const reader&) = delete;

    /// Enters a member or an array element for the lifetime of the scope.
    class scope {
    public:
        scope(reader& r, std::string_view key) noexcept : r_(r) { r_.push({key, 0}); }
        scope(reader& r, std::size_t index) noexcept : r_(r) { r_.push({{}, index}); }
        scope(const scope&) = delete;
        scope& operator=(const scope&) = delete;
        ~scope() { --r_.depth_; }

    private:
        reader& r_;
    };

    /// Records "<path>: <what>" as the detail; always returns false.
    bool fail(std::string_view what)
    {
        std::string text;
        const std::size_t depth = depth_ < path_.size() ? depth_ : path_.size();
        for (std::size_t i = 0; i < depth; ++i) {
            const segment& s = path_[i];
            if (s.key.data() != nullptr) {
                if (!text.empty())
                    text += '.';
                text += s.key;
            } else {
                text += '[';
                text += std::to_string(s.index);
                text += ']';
            }
        }
        if (text.empty())
            text = "top level";
        text += ": ";
        text += what;
        detail_ = std::move(text);
        return false;
    }

    /// fail("expected <what>, got <kind of v>").
    bool expected(std::string_view what, const json::value& v)
    {
        std::string text = "expected ";
        text += what;
        text += ", got ";
        text += kind_name(v);
        return fail(text);
    }

    static const char* kind_name(const json::value& v) noexcept
    {
        switch (v.kind()) {
        case json::kind::null: return "null";
        case json::kind::bool_: return "boolean";
        case json::kind::int64:
        case json::kind::uint64:
        case json::kind::double_: return "number";
        case json::kind::string: return "string";
        case json::kind::array: return "array";
        case json::kind::object: return "object";
        }
        return "unknown";
    }

private:
    struct segment {
        std::string_view key; // data() == nullptr: an array index
        std::size_t index;
    };

    void push(segment s) noexcept
    {
        // The structs nest five levels deep at most; deeper paths are cut, never overrun.
        if (depth_ < path_.size())
            path_[depth_] = s;
        ++depth_;
    }

    std::array<segment, 12> path_{};
    std::size_t depth_ = 0;
    std::string& detail_;
};

// Scalars -------------------------------------------------------------------------------

inline bool read(reader& r, const json::value& v, std::string& out)
{
    if (const json::string* s = v.if_string()) {
        out.assign(s->data(), s->size());
        return true;
    }
    return r.expected("a string", v);
}

inline bool read(reader& r, const json::value& v, double& out)
{
    switch (v.kind()) {
    case json::kind::double_: out = v.get_double(); return true;
    case json::kind::int64: out = static_cast<double>(v.get_int64()); return true;
    case json::kind::uint64: out = static_cast<double>(v.get_uint64()); return true;
    default: return r.expected("a number", v);
    }
}

template <class Int>
bool read_integer(reader& r, const json::value& v, Int& out)
{
    switch (v.kind()) {
    case json::kind::int64:
        if (!std::in_range<Int>(v.get_int64()))
            return r.fail("integer out of range");
        out = static_cast<Int>(v.get_int64());
        return true;
    case json::kind::uint64:
        if (!std::in_range<Int>(v.get_uint64()))
            return r.fail("integer out of range");
        out = static_cast<Int>(v.get_uint64());
        return true;
    case json::kind::double_: {
        // 12.0 is an integer written as a number; 12.5 is not.
        const double d = v.get_double();
        constexpr double lowest = static_cast<double>(std::numeric_limits<Int>::min()); // -2^(N-1)
        if (!(d >= lowest && d < -lowest))
            return r.fail("integer out of range");
        if (std::trunc(d) != d)
            return r.fail("expected an integer, got a number with a fraction");
        out = static_cast<Int>(d);
        return true;
    }
    default: return r.expected("an integer", v);
    }
}

inline bool read(reader& r, const json::value& v, int& out) { return read_integer(r, v, out); }
inline bool read(reader& r, const json::value& v, long& out) { return read_integer(r, v, out); }
inline bool read(reader& r, const json::value& v, long long& out) { return read_integer(r, v, out); }

/// A label that the spec types as a string but shows as a number (orientation: 45).
inline bool read_label(reader& r, const json::value& v, std::string& out)
{
    switch (v.kind()) {
    case json::kind::int64: out = std::to_string(v.get_int64()); return true;
    case json::kind::uint64: out = std::to_string(v.get_uint64()); return true;
    case json::kind::double_: {
        char buf[64];
        const auto res = std::to_chars(buf, buf + sizeof buf, v.get_double());
        if (res.ec != std::errc{})
            return r.fail("number not representable as a label");
        out.assign(buf, res.ptr);
        return true;
    }
    default: return read(r, v, out);
    }
}

// Structs (declared first so the templates below find them) ------------------------------

inline bool read(reader& r, const json::value& v, coordinate& out);
inline bool read(reader& r, const json::value& v, region_of_interest& out);
inline bool read(reader& r, const json::value& v, plate_candidate& out);
inline bool read(reader& r, const json::value& v, vehicle_candidate& out);
inline bool read(reader& r, const json::value& v, vehicle_details& out);
inline bool read(reader& r, const json::value& v, plate_details& out);
inline bool read(reader& r, const json::value& v, detected_vehicle& out);
inline bool read(reader& r, const json::value& v, processing_times& out);
inline bool read(reader& r, const json::value& v, recognition& out);
inline bool read(reader& r, const json::value& v, country& out);
inline bool read(reader& r, const json::value& v, vehicle_labels& out);
inline bool read(reader& r, const json::value& v, config& out);
inline bool read(reader& r, const json::value& v, error_body& out);

// Containers ------------------------------------------------------------------------------

template <class T, class Element>
bool read_array(reader& r, const json::value& v, std::vector<T>& out, Element element)
{
    const json::array* a = v.if_array();
    if (a == nullptr)
        return r.expected("an array", v);
    // Room for up to 64 elements at once (candidates, coordinates: one allocation each),
    // grown beyond that one element at a time: a long array of junk fails at its first
    // element without first allocating room for all of them.
    out.clear();
    out.reserve(std::min<std::size_t>(a->size(), 64));
    for (std::size_t i = 0; i < a->size(); ++i) {
        reader::scope s(r, i);
        if (!element(r, (*a)[i], out.emplace_back()))
            return false;
    }
    return true;
}

template <class T>
bool read(reader& r, const json::value& v, std::vector<T>& out)
{
    return read_array(r, v, out, [](reader& rr, const json::value& e, T& t) { return read(rr, e, t); });
}

template <class T>
bool read(reader& r, const json::value& v, std::optional<T>& out)
{
    out.emplace();
    return read(r, v, *out);
}

// Members ---------------------------------------------------------------------------------

/// The object of a struct, or nullptr after failing.
inline const json::object* object_of(reader& r, const json::value& v)
{
    const json::object* o = v.if_object();
    if (o == nullptr)
        r.expected("an object", v);
    return o;
}

/// Calls `f(value)` inside the member's scope. An absent member is an error only when it is
/// required; null counts as absent for optional members.
template <class F>
bool with_member(reader& r, const json::object& o, std::string_view key, bool required, F&& f)
{
    const json::value* v = o.if_contains(key);
    if (v == nullptr || (v->is_null() && !required)) {
        if (v == nullptr && required) {
            reader::scope s(r, key);
            return r.fail("missing required member");
        }
        return true;
    }
    reader::scope s(r, key);
    return f(*v);
}

template <class T>
bool member(reader& r, const json::object& o, std::string_view key, T& out)
{
    return with_member(r, o, key, false, [&](const json::value& v) { return read(r, v, out); });
}

template <class T>
bool required_member(reader& r, const json::object& o, std::string_view key, T& out)
{
    return with_member(r, o, key, true, [&](const json::value& v) { return read(r, v, out); });
}

// Struct readers --------------------------------------------------------------------------

inline bool read(reader& r, const json::value& v, coordinate& out)
{
    const json::object* o = object_of(r, v);
    return o && member(r, *o, "x", out.x) && member(r, *o, "y", out.y);
}

inline bool read(reader& r, const json::value& v, region_of_interest& out)
{
    const json::object* o = object_of(r, v);
    return o && member(r, *o, "x", out.x) && member(r, *o, "y", out.y) && member(r, *o, "width", out.width) &&
           member(r, *o, "height", out.height);
}

inline bool read(reader& r, const json::value& v, plate_candidate& out)
{
    const json::object* o = object_of(r, v);
    return o && required_member(r, *o, "plate", out.plate) && member(r, *o, "confidence", out.confidence) &&
           member(r, *o, "matches_template", out.matches_template);
}

inline bool read_vehicle_candidate(reader& r, const json::value& v, vehicle_candidate& out, bool numeric_name)
{
    const json::object* o = object_of(r, v);
    return o &&
           with_member(r, *o, "name", true,
                       [&](const json::value& n) { return numeric_name ? read_label(r, n, out.name) : read(r, n, out.name); }) &&
           member(r, *o, "confidence", out.confidence);
}

inline bool read(reader& r, const json::value& v, vehicle_candidate& out)
{
    return read_vehicle_candidate(r, v, out, false);
}

inline bool read(reader& r, const json::value& v, vehicle_details& out)
{
    const json::object* o = object_of(r, v);
    auto orientation = [&](const json::value& a) {
        return read_array(r, a, out.orientation, [](reader& rr, const json::value& e, vehicle_candidate& c) {
            return read_vehicle_candidate(rr, e, c, true);
        });
    };
    return o && member(r, *o, "body_type", out.body_type) && member(r, *o, "color", out.color) &&
           member(r, *o, "make", out.make) && member(r, *o, "make_model", out.make_model) &&
           with_member(r, *o, "orientation", false, orientation) && member(r, *o, "year", out.year);
}

inline bool read(reader& r, const json::value& v, plate_details& out)
{
    const json::object* o = object_of(r, v);
    return o && required_member(r, *o, "plate", out.plate) && member(r, *o, "confidence", out.confidence) &&
           member(r, *o, "matches_template", out.matches_template) &&
           member(r, *o, "plate_index", out.plate_index) && member(r, *o, "region", out.region) &&
           member(r, *o, "region_confidence", out.region_confidence) &&
           member(r, *o, "processing_time_ms", out.processing_time_ms) &&
           member(r, *o, "requested_topn", out.requested_topn) && member(r, *o, "coordinates", out.coordinates) &&
           member(r, *o, "candidates", out.candidates) && member(r, *o, "vehicle", out.vehicle) &&
           member(r, *o, "vehicle_region", out.vehicle_region);
}

inline bool read(reader& r, const json::value& v, detected_vehicle& out)
{
    const json::object* o = object_of(r, v);
    return o && member(r, *o, "x", out.x) && member(r, *o, "y", out.y) && member(r, *o, "width", out.width) &&
           member(r, *o, "height", out.height) && member(r, *o, "details", out.details);
}

inline bool read(reader& r, const json::value& v, processing_times& out)
{
    const json::object* o = object_of(r, v);
    return o && member(r, *o, "total", out.total) && member(r, *o, "plates", out.plates) &&
           member(r, *o, "vehicles", out.vehicles);
}

inline bool read(reader& r, const json::value& v, recognition& out)
{
    const json::object* o = object_of(r, v);
    return o && member(r, *o, "version", out.version) && member(r, *o, "data_type", out.data_type) &&
           member(r, *o, "epoch_time", out.epoch_time) && member(r, *o, "img_width", out.img_width) &&
           member(r, *o, "img_height", out.img_height) && member(r, *o, "processing_time", out.processing_time) &&
           member(r, *o, "regions_of_interest", out.regions_of_interest) &&
           required_member(r, *o, "results", out.results) && member(r, *o, "vehicles", out.vehicles) &&
           member(r, *o, "credit_cost", out.credit_cost) &&
           member(r, *o, "credits_monthly_used", out.credits_monthly_used) &&
           member(r, *o, "credits_monthly_total", out.credits_monthly_total) && member(r, *o, "uuid", out.uuid) &&
           member(r, *o, "image_bytes", out.image_bytes) &&
           member(r, *o, "image_bytes_prefix", out.image_bytes_prefix);
}

inline bool read(reader& r, const json::value& v, country& out)
{
    const json::object* o = object_of(r, v);
    return o && required_member(r, *o, "code", out.code) && member(r, *o, "name", out.name);
}

inline bool read(reader& r, const json::value& v, vehicle_labels& out)
{
    const json::object* o = object_of(r, v);
    auto orientation = [&](const json::value& a) {
        return read_array(r, a, out.orientation,
                          [](reader& rr, const json::value& e, std::string& s) { return read_label(rr, e, s); });
    };
    return o && member(r, *o, "bodytype", out.bodytype) && member(r, *o, "color", out.color) &&
           member(r, *o, "make", out.make) && member(r, *o, "makemodel", out.makemodel) &&
           with_member(r, *o, "orientation", false, orientation) && member(r, *o, "year", out.year);
}

inline bool read(reader& r, const json::value& v, config& out)
{
    const json::object* o = object_of(r, v);
    return o && required_member(r, *o, "countries", out.countries) &&
           member(r, *o, "vehicle_labels", out.labels);
}

inline bool read(reader& r, const json::value& v, error_body& out)
{
    const json::object* o = object_of(r, v);
    return o && required_member(r, *o, "error", out.error) && member(r, *o, "error_code", out.error_code);
}

// Entry -----------------------------------------------------------------------------------

inline void set_detail(std::string& detail, const char* a, const char* b = "") noexcept
{
    try {
        detail = a;
        detail += b;
    } catch (...) {
        detail.clear();
    }
}

/// Parses `text` and reads the document into `out`, then shows the document to `after`
/// (which must not throw); never throws.
template <class T, class After = void (*)(const json::value&)>
error_code parse_into(std::string_view text, T& out, std::string& detail,
                      After after = [](const json::value&) {}) noexcept
{
    try {
        detail.clear();
        // Small replies (errors, recognitions without candidates) parse without touching the
        // heap; larger ones grow the arena geometrically and free it in one go.
        // 12 KiB hold the document of a typical recognition (a 2 KB reply with a plate and its
        // candidates); 4 KiB made it allocate twice on every reply.
        unsigned char arena[12 * 1024];
        unsigned char parser_stack[1024];
        json::monotonic_resource mr(arena, sizeof arena);
        json::parse_options opts; // strict JSON, depth limit 32
        json::parser p(json::storage_ptr(), opts, parser_stack, sizeof parser_stack);
        p.reset(&mr);
        error_code ec;
        const std::size_t consumed = p.write(text.data(), text.size(), ec);
        if (ec) {
            detail = "invalid JSON at offset " + std::to_string(consumed) + ": " + ec.message();
            return error::bad_response;
        }
        const json::value doc = p.release();
        reader r(detail);
        if (!read(r, doc, out))
            return error::bad_response;
        after(doc);
        return {};
    } catch (const std::bad_alloc&) {
        set_detail(detail, "out of memory while parsing the reply");
        return boost::system::errc::make_error_code(boost::system::errc::not_enough_memory);
    } catch (const std::exception& e) {
        set_detail(detail, "could not parse the reply: ", e.what());
        return error::bad_response;
    } catch (...) {
        set_detail(detail, "could not parse the reply");
        return error::bad_response;
    }
}

} // namespace model
} // namespace detail

CARCHECK_DECL error_code parse_recognition(std::string json, recognition& out, std::string& detail)
{
    recognition result;
    const error_code ec = carcheck::detail::model::parse_into(json, result, detail);
    if (!ec) {
        result.raw_json = std::move(json);
        out = std::move(result);
    }
    return ec;
}

CARCHECK_DECL error_code parse_config(std::string json, config& out, std::string& detail)
{
    config result;
    const error_code ec = carcheck::detail::model::parse_into(json, result, detail);
    if (!ec) {
        result.raw_json = std::move(json);
        out = std::move(result);
    }
    return ec;
}

CARCHECK_DECL error_code parse_error_body(std::string_view json, error_body& out, std::string& detail)
{
    error_body result;
    const error_code ec = carcheck::detail::model::parse_into(json, result, detail);
    if (!ec)
        out = std::move(result);
    return ec;
}

// Serialisation -----------------------------------------------------------------------------

namespace detail {
namespace model {

/// A new object in `jv` (keeping its storage) with room for `n` members.
inline json::object& make_object(json::value& jv, std::size_t n)
{
    json::object& o = jv.emplace_object();
    o.reserve(n);
    return o;
}

template <class T>
json::value to_value(const T& v, const json::storage_ptr& sp)
{
    json::value out(sp);
    tag_invoke(json::value_from_tag{}, out, v);
    return out;
}

inline json::value to_value(const std::string& v, const json::storage_ptr& sp) { return json::value(json::string(v, sp)); }

template <class T>
json::value to_value(const std::vector<T>& v, const json::storage_ptr& sp)
{
    json::value out(sp);
    json::array& a = out.emplace_array();
    a.reserve(v.size());
    for (const T& e : v)
        a.push_back(to_value(e, sp));
    return out;
}

template <class T>
void put(json::object& o, std::string_view key, const T& v)
{
    o.emplace(key, to_value(v, o.storage()));
}

inline void put(json::object& o, std::string_view key, int v) { o.emplace(key, v); }
inline void put(json::object& o, std::string_view key, std::int64_t v) { o.emplace(key, v); }
inline void put(json::object& o, std::string_view key, double v) { o.emplace(key, v); }

} // namespace model
} // namespace detail

CARCHECK_DECL void tag_invoke(boost::json::value_from_tag, boost::json::value& jv, const coordinate& v)
{
    using namespace detail::model;
    auto& o = make_object(jv, 2);
    put(o, "x", v.x);
    put(o, "y", v.y);
}

CARCHECK_DECL void tag_invoke(boost::json::value_from_tag, boost::json::value& jv, const region_of_interest& v)
{
    using namespace detail::model;
    auto& o = make_object(jv, 4);
    put(o, "x", v.x);
    put(o, "y", v.y);
    put(o, "width", v.width);
    put(o, "height", v.height);
}

CARCHECK_DECL void tag_invoke(boost::json::value_from_tag, boost::json::value& jv, const plate_candidate& v)
{
    using namespace detail::model;
    auto& o = make_object(jv, 3);
    put(o, "plate", v.plate);
    put(o, "confidence", v.confidence);
    put(o, "matches_template", v.matches_template);
}

CARCHECK_DECL void tag_invoke(boost::json::value_from_tag, boost::json::value& jv, const vehicle_candidate& v)
{
    using namespace detail::model;
    auto& o = make_object(jv, 2);
    put(o, "name", v.name);
    put(o, "confidence", v.confidence);
}

CARCHECK_DECL void tag_invoke(boost::json::value_from_tag, boost::json::value& jv, const vehicle_details& v)
{
    using namespace detail::model;
    auto& o = make_object(jv, 6);
    put(o, "body_type", v.body_type);
    put(o, "color", v.color);
    put(o, "make", v.make);
    put(o, "make_model", v.make_model);
    put(o, "orientation", v.orientation);
    put(o, "year", v.year);
}

CARCHECK_DECL void tag_invoke(boost::json::value_from_tag, boost::json::value& jv, const plate_details& v)
{
    using namespace detail::model;
    auto& o = make_object(jv, 12);
    put(o, "plate", v.plate);
    put(o, "confidence", v.confidence);
    put(o, "matches_template", v.matches_template);
    put(o, "plate_index", v.plate_index);
    put(o, "region", v.region);
    put(o, "region_confidence", v.region_confidence);
    put(o, "processing_time_ms", v.processing_time_ms);
    put(o, "requested_topn", v.requested_topn);
    put(o, "coordinates", v.coordinates);
    put(o, "candidates", v.candidates);
    if (v.vehicle)
        put(o, "vehicle", *v.vehicle);
    put(o, "vehicle_region", v.vehicle_region);
}

CARCHECK_DECL void tag_invoke(boost::json::value_from_tag, boost::json::value& jv, const detected_vehicle& v)
{
    using namespace detail::model;
    auto& o = make_object(jv, 5);
    put(o, "x", v.x);
    put(o, "y", v.y);
    put(o, "width", v.width);
    put(o, "height", v.height);
    put(o, "details", v.details);
}

CARCHECK_DECL void tag_invoke(boost::json::value_from_tag, boost::json::value& jv, const processing_times& v)
{
    using namespace detail::model;
    auto& o = make_object(jv, 3);
    put(o, "total", v.total);
    put(o, "plates", v.plates);
    put(o, "vehicles", v.vehicles);
}

CARCHECK_DECL void tag_invoke(boost::json::value_from_tag, boost::json::value& jv, const recognition& v)
{
    using namespace detail::model;
    auto& o = make_object(jv, 15);
    put(o, "version", v.version);
    put(o, "data_type", v.data_type);
    // Milliseconds since the epoch read better as an integer (1700000000123) than as 1.7E12.
    if (std::trunc(v.epoch_time) == v.epoch_time && std::abs(v.epoch_time) < 9007199254740992.0) // 2^53
        put(o, "epoch_time", static_cast<std::int64_t>(v.epoch_time));
    else
        put(o, "epoch_time", v.epoch_time);
    put(o, "img_width", v.img_width);
    put(o, "img_height", v.img_height);
    put(o, "processing_time", v.processing_time);
    put(o, "regions_of_interest", v.regions_of_interest);
    put(o, "results", v.results);
    put(o, "vehicles", v.vehicles);
    put(o, "credit_cost", v.credit_cost);
    put(o, "credits_monthly_used", v.credits_monthly_used);
    put(o, "credits_monthly_total", v.credits_monthly_total);
    if (!v.uuid.empty())
        put(o, "uuid", v.uuid);
    if (v.image_bytes)
        put(o, "image_bytes", *v.image_bytes);
    if (!v.image_bytes_prefix.empty())
        put(o, "image_bytes_prefix", v.image_bytes_prefix);
}

CARCHECK_DECL void tag_invoke(boost::json::value_from_tag, boost::json::value& jv, const country& v)
{
    using namespace detail::model;
    auto& o = make_object(jv, 2);
    put(o, "code", v.code);
    put(o, "name", v.name);
}

CARCHECK_DECL void tag_invoke(boost::json::value_from_tag, boost::json::value& jv, const vehicle_labels& v)
{
    using namespace detail::model;
    auto& o = make_object(jv, 6);
    put(o, "bodytype", v.bodytype);
    put(o, "color", v.color);
    put(o, "make", v.make);
    put(o, "makemodel", v.makemodel);
    put(o, "orientation", v.orientation);
    put(o, "year", v.year);
}

CARCHECK_DECL void tag_invoke(boost::json::value_from_tag, boost::json::value& jv, const config& v)
{
    using namespace detail::model;
    auto& o = make_object(jv, 2);
    put(o, "countries", v.countries);
    put(o, "vehicle_labels", v.labels);
}

CARCHECK_DECL void tag_invoke(boost::json::value_from_tag, boost::json::value& jv, const error_body& v)
{
    using namespace detail::model;
    auto& o = make_object(jv, 2);
    if (v.error_code)
        put(o, "error_code", *v.error_code);
    put(o, "error", v.error);
}

} // namespace carcheck

#endif
