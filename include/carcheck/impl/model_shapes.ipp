#ifndef CARCHECK_IMPL_MODEL_SHAPES_IPP
#define CARCHECK_IMPL_MODEL_SHAPES_IPP

// What the reply readers read into: each result struct described once by a table of its
// members (name, whether required, what the value is read into, where it lives), and how a
// number is stored into a value of each shape. Both readers (model_fast_reader.ipp for the
// usual form of a reply, model_reader.ipp for any JSON) walk these tables, so they fill the
// structs alike.

#include <carcheck/model.hpp>

#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error> // std::errc of std::to_chars
#include <type_traits>
#include <utility>
#include <vector>

namespace carcheck::detail::model {

// Shapes: what a JSON value is read into ---------------------------------------------------

enum class shape_kind {
    string,          // std::string
    label,           // std::string, also from a number (orientation: 45)
    optional_string, // std::optional<std::string>
    number,          // double, also from an integer
    int32,           // int, also from an integral number (12.0)
    int64,           // std::int64_t, likewise
    optional_int64,  // std::optional<std::int64_t>, likewise
    object,          // a struct
    optional_object, // std::optional of a struct
    array,           // std::vector
};

struct shape;

/// A member of a struct.
struct member_shape {
    std::string_view name;
    const shape* type;
    void* (*locate)(void* object); // the member inside its struct
    bool required;
};

struct shape {
    shape_kind kind;
    // object and optional_object: the members, and a function that makes the value a fresh
    // struct (a member given twice counts as given once, the last time) and returns it.
    std::span<const member_shape> members{};
    void* (*open)(void* target) = nullptr;
    // array: the elements, a function that empties the vector and reserves `reserve`
    // elements, and one that appends a default element and returns it.
    const shape* element = nullptr;
    void* (*append)(void* vector) = nullptr;
};

inline constexpr shape string_shape{shape_kind::string};
inline constexpr shape label_shape{shape_kind::label};
inline constexpr shape optional_string_shape{shape_kind::optional_string};
inline constexpr shape number_shape{shape_kind::number};
inline constexpr shape int32_shape{shape_kind::int32};
inline constexpr shape int64_shape{shape_kind::int64};
inline constexpr shape optional_int64_shape{shape_kind::optional_int64};

template <class>
struct member_pointer;
template <class Owner, class Member>
struct member_pointer<Member Owner::*> {
    using owner = Owner;
    using type = Member;
};

template <auto Member>
void* locate(void* object)
{
    using owner = typename member_pointer<decltype(Member)>::owner;
    return &(static_cast<owner*>(object)->*Member);
}

/// The shape of a scalar member, from its type.
template <class T>
constexpr const shape& scalar_shape()
{
    if constexpr (std::is_same_v<T, std::string>)
        return string_shape;
    else if constexpr (std::is_same_v<T, std::optional<std::string>>)
        return optional_string_shape;
    else if constexpr (std::is_same_v<T, double>)
        return number_shape;
    else if constexpr (std::is_same_v<T, int>)
        return int32_shape;
    else if constexpr (std::is_same_v<T, std::int64_t>)
        return int64_shape;
    else {
        static_assert(std::is_same_v<T, std::optional<std::int64_t>>, "no scalar shape for this type");
        return optional_int64_shape;
    }
}

/// A member read with the shape its type implies, or with `type`.
template <auto Member>
constexpr member_shape member(std::string_view name, bool required = false)
{
    return {name, &scalar_shape<typename member_pointer<decltype(Member)>::type>(), &locate<Member>, required};
}

template <auto Member>
constexpr member_shape member(std::string_view name, const shape& type, bool required = false)
{
    return {name, &type, &locate<Member>, required};
}

template <class T>
constexpr shape object_shape(std::span<const member_shape> members)
{
    return {shape_kind::object, members, [](void* target) -> void* {
                T& object = *static_cast<T*>(target);
                object = T{};
                return &object;
            }};
}

template <class T>
constexpr shape optional_object_shape(std::span<const member_shape> members)
{
    return {shape_kind::optional_object, members,
            [](void* target) -> void* { return &static_cast<std::optional<T>*>(target)->emplace(); }};
}

/// A vector that reserves `Reserve` elements when it opens: the size these replies usually
/// have (a plate's 10 to 16 candidates and four corners), so one allocation holds them.
template <class T, std::size_t Reserve>
constexpr shape array_shape(const shape& element)
{
    return {shape_kind::array, {},
            [](void* target) -> void* {
                auto& v = *static_cast<std::vector<T>*>(target);
                v.clear();
                v.reserve(Reserve);
                return &v;
            },
            &element, [](void* target) -> void* { return &static_cast<std::vector<T>*>(target)->emplace_back(); }};
}

// The result structs, as the spec names their members ----------------------------------

inline constexpr member_shape coordinate_members[]{member<&coordinate::x>("x"), member<&coordinate::y>("y")};
inline constexpr shape coordinate_shape = object_shape<coordinate>(coordinate_members);

inline constexpr member_shape region_members[]{
    member<&region_of_interest::x>("x"), member<&region_of_interest::y>("y"),
    member<&region_of_interest::width>("width"), member<&region_of_interest::height>("height")};
inline constexpr shape region_shape = object_shape<region_of_interest>(region_members);

inline constexpr member_shape plate_candidate_members[]{
    member<&plate_candidate::plate>("plate", true), member<&plate_candidate::confidence>("confidence"),
    member<&plate_candidate::matches_template>("matches_template")};
inline constexpr shape plate_candidate_shape = object_shape<plate_candidate>(plate_candidate_members);

inline constexpr member_shape vehicle_candidate_members[]{
    member<&vehicle_candidate::name>("name", true), member<&vehicle_candidate::confidence>("confidence")};
inline constexpr shape vehicle_candidate_shape = object_shape<vehicle_candidate>(vehicle_candidate_members);
// Orientation names may come as numbers.
inline constexpr member_shape orientation_candidate_members[]{
    member<&vehicle_candidate::name>("name", label_shape, true), member<&vehicle_candidate::confidence>("confidence")};
inline constexpr shape orientation_candidate_shape = object_shape<vehicle_candidate>(orientation_candidate_members);

inline constexpr shape vehicle_candidates_shape = array_shape<vehicle_candidate, 8>(vehicle_candidate_shape);
inline constexpr shape orientation_candidates_shape = array_shape<vehicle_candidate, 8>(orientation_candidate_shape);

inline constexpr member_shape vehicle_details_members[]{
    member<&vehicle_details::body_type>("body_type", vehicle_candidates_shape),
    member<&vehicle_details::color>("color", vehicle_candidates_shape),
    member<&vehicle_details::make>("make", vehicle_candidates_shape),
    member<&vehicle_details::make_model>("make_model", vehicle_candidates_shape),
    member<&vehicle_details::orientation>("orientation", orientation_candidates_shape),
    member<&vehicle_details::year>("year", vehicle_candidates_shape)};
inline constexpr shape vehicle_details_shape = object_shape<vehicle_details>(vehicle_details_members);
inline constexpr shape optional_vehicle_details_shape = optional_object_shape<vehicle_details>(vehicle_details_members);

inline constexpr shape coordinates_shape = array_shape<coordinate, 4>(coordinate_shape);
inline constexpr shape plate_candidates_shape = array_shape<plate_candidate, 16>(plate_candidate_shape);

inline constexpr member_shape plate_details_members[]{
    member<&plate_details::plate>("plate", true),
    member<&plate_details::confidence>("confidence"),
    member<&plate_details::matches_template>("matches_template"),
    member<&plate_details::plate_index>("plate_index"),
    member<&plate_details::region>("region"),
    member<&plate_details::region_confidence>("region_confidence"),
    member<&plate_details::processing_time_ms>("processing_time_ms"),
    member<&plate_details::requested_topn>("requested_topn"),
    member<&plate_details::coordinates>("coordinates", coordinates_shape),
    member<&plate_details::candidates>("candidates", plate_candidates_shape),
    member<&plate_details::vehicle>("vehicle", optional_vehicle_details_shape),
    member<&plate_details::vehicle_region>("vehicle_region", region_shape)};
inline constexpr shape plate_details_shape = object_shape<plate_details>(plate_details_members);

inline constexpr member_shape detected_vehicle_members[]{
    member<&detected_vehicle::x>("x"), member<&detected_vehicle::y>("y"),
    member<&detected_vehicle::width>("width"), member<&detected_vehicle::height>("height"),
    member<&detected_vehicle::details>("details", vehicle_details_shape)};
inline constexpr shape detected_vehicle_shape = object_shape<detected_vehicle>(detected_vehicle_members);

inline constexpr member_shape processing_times_members[]{member<&processing_times::total>("total"),
                                                         member<&processing_times::plates>("plates"),
                                                         member<&processing_times::vehicles>("vehicles")};
inline constexpr shape processing_times_shape = object_shape<processing_times>(processing_times_members);

inline constexpr shape regions_shape = array_shape<region_of_interest, 2>(region_shape);
inline constexpr shape plates_shape = array_shape<plate_details, 2>(plate_details_shape);
inline constexpr shape detected_vehicles_shape = array_shape<detected_vehicle, 2>(detected_vehicle_shape);
inline constexpr member_shape recognition_members[]{
    member<&recognition::version>("version"),
    member<&recognition::data_type>("data_type"),
    member<&recognition::epoch_time>("epoch_time"),
    member<&recognition::img_width>("img_width"),
    member<&recognition::img_height>("img_height"),
    member<&recognition::processing_time>("processing_time", processing_times_shape),
    member<&recognition::regions_of_interest>("regions_of_interest", regions_shape),
    member<&recognition::results>("results", plates_shape, true),
    member<&recognition::vehicles>("vehicles", detected_vehicles_shape),
    member<&recognition::credit_cost>("credit_cost"),
    member<&recognition::credits_monthly_used>("credits_monthly_used"),
    member<&recognition::credits_monthly_total>("credits_monthly_total"),
    member<&recognition::uuid>("uuid"),
    member<&recognition::image_bytes>("image_bytes"),
    member<&recognition::image_bytes_prefix>("image_bytes_prefix")};
inline constexpr shape recognition_shape = object_shape<recognition>(recognition_members);

inline constexpr member_shape country_members[]{member<&country::code>("code", true), member<&country::name>("name")};
inline constexpr shape country_shape = object_shape<country>(country_members);

inline constexpr shape labels_shape = array_shape<std::string, 8>(string_shape);
inline constexpr shape orientation_labels_shape = array_shape<std::string, 8>(label_shape);
inline constexpr member_shape vehicle_labels_members[]{
    member<&vehicle_labels::bodytype>("bodytype", labels_shape),
    member<&vehicle_labels::color>("color", labels_shape),
    member<&vehicle_labels::make>("make", labels_shape),
    member<&vehicle_labels::makemodel>("makemodel", labels_shape),
    member<&vehicle_labels::orientation>("orientation", orientation_labels_shape),
    member<&vehicle_labels::year>("year", labels_shape)};
inline constexpr shape vehicle_labels_shape = object_shape<vehicle_labels>(vehicle_labels_members);

inline constexpr shape countries_shape = array_shape<country, 8>(country_shape);
inline constexpr member_shape config_members[]{
    member<&config::countries>("countries", countries_shape, true),
    member<&config::labels>("vehicle_labels", vehicle_labels_shape)};
inline constexpr shape config_shape = object_shape<config>(config_members);

inline constexpr member_shape error_body_members[]{member<&error_body::error>("error", true),
                                                   member<&error_body::error_code>("error_code")};
inline constexpr shape error_body_shape = object_shape<error_body>(error_body_members);

template <class T>
constexpr const shape& top_level_shape()
{
    if constexpr (std::is_same_v<T, recognition>)
        return recognition_shape;
    else if constexpr (std::is_same_v<T, config>)
        return config_shape;
    else {
        static_assert(std::is_same_v<T, error_body>, "no reply of this type");
        return error_body_shape;
    }
}

/// The position of a member in its table; the bit of the set handed out by parse_into.
constexpr std::size_t member_index(std::span<const member_shape> members, std::string_view name)
{
    for (std::size_t i = 0; i < members.size(); ++i)
        if (members[i].name == name)
            return i;
    return members.size();
}

/// Members of the top-level object that were given (and not null), one bit each.
using member_set = std::uint32_t;


// Storing numbers ------------------------------------------------------------------------

/// What became of a number given for a value.
enum class store_status {
    stored,
    wrong_type,          // the value is not a number (nor a label)
    integer_out_of_range,
    not_integral,        // 12.5 for an integer
    number_out_of_range, // not finite
    not_a_label,         // a number that cannot be written as a label
};

inline const char* describe(store_status s) noexcept
{
    switch (s) {
    case store_status::integer_out_of_range: return "integer out of range";
    case store_status::not_integral: return "expected an integer, got a number with a fraction";
    case store_status::number_out_of_range: return "number out of range";
    case store_status::not_a_label: return "number not representable as a label";
    default: return "";
    }
}

template <class Out, class Integer>
store_status store_integral(Integer i, void* target) noexcept
{
    if (!std::in_range<Out>(i))
        return store_status::integer_out_of_range;
    *static_cast<Out*>(target) = static_cast<Out>(i);
    return store_status::stored;
}

/// An integer (as the JSON text wrote it: no fraction, no exponent) into a value of `type`.
template <class Integer>
store_status store_integer(const shape& type, void* target, Integer i)
{
    switch (type.kind) {
    case shape_kind::number: *static_cast<double*>(target) = static_cast<double>(i); return store_status::stored;
    case shape_kind::int32: return store_integral<int>(i, target);
    case shape_kind::int64: return store_integral<std::int64_t>(i, target);
    case shape_kind::optional_int64: {
        std::int64_t v = 0;
        const store_status s = store_integral<std::int64_t>(i, &v);
        if (s == store_status::stored)
            *static_cast<std::optional<std::int64_t>*>(target) = v;
        return s;
    }
    case shape_kind::label: *static_cast<std::string*>(target) = std::to_string(i); return store_status::stored;
    default: return store_status::wrong_type;
    }
}

template <class Out>
store_status store_integral(double d, void* target) noexcept
{
    // 12.0 is an integer written as a number; 12.5 is not.
    constexpr double lowest = static_cast<double>(std::numeric_limits<Out>::min()); // -2^(N-1)
    if (!(d >= lowest && d < -lowest))
        return store_status::integer_out_of_range;
    if (std::trunc(d) != d)
        return store_status::not_integral;
    *static_cast<Out*>(target) = static_cast<Out>(d);
    return store_status::stored;
}

/// A number with a fraction or an exponent, read as the nearest double, into a value of `type`.
inline store_status store_double(const shape& type, void* target, double d)
{
    switch (type.kind) {
    case shape_kind::number:
        if (!std::isfinite(d))
            return store_status::number_out_of_range;
        *static_cast<double*>(target) = d;
        return store_status::stored;
    case shape_kind::int32: return store_integral<int>(d, target);
    case shape_kind::int64: return store_integral<std::int64_t>(d, target);
    case shape_kind::optional_int64: {
        std::int64_t v = 0;
        const store_status s = store_integral<std::int64_t>(d, &v);
        if (s == store_status::stored)
            *static_cast<std::optional<std::int64_t>*>(target) = v;
        return s;
    }
    case shape_kind::label: {
        if (!std::isfinite(d))
            return store_status::number_out_of_range;
        char buf[64];
        const auto res = std::to_chars(buf, buf + sizeof buf, d);
        if (res.ec != std::errc{})
            return store_status::not_a_label;
        static_cast<std::string*>(target)->assign(buf, res.ptr);
        return store_status::stored;
    }
    default: return store_status::wrong_type;
    }
}

} // namespace carcheck::detail::model

#endif
