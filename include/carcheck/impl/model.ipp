#ifndef CARCHECK_IMPL_MODEL_IPP
#define CARCHECK_IMPL_MODEL_IPP

#include <carcheck/model.hpp>
#include <carcheck/impl/model_reader.ipp>

#include <boost/json/value.hpp>
#include <boost/json/value_from.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>

namespace carcheck {

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
