#ifndef CARCHECK_IMPL_MODEL_READER_IPP
#define CARCHECK_IMPL_MODEL_READER_IPP

// Reads reply text straight into the result structs, in one pass of Boost.JSON's SAX parser:
// no document is built and no member is looked up. Each struct is described once by a table
// of its members (name, whether required, what the value is read into, where it lives); the
// handler keeps a stack of the objects and arrays being filled, skips what it does not know,
// and stops at the first problem in document order, naming its JSON path.

#include <carcheck/model.hpp>

#include <boost/json/basic_parser_impl.hpp>
#include <boost/system/errc.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <limits>
#include <new>
#include <span>
#include <string>
#include <string_view>
#include <system_error> // std::errc of std::to_chars
#include <utility>

namespace carcheck::detail::model {

namespace json = boost::json;

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

// The handler ----------------------------------------------------------------------------

/// Boost.JSON basic_parser handler that fills the structs as the events arrive.
class reader {
public:
    static constexpr std::size_t max_object_size = std::size_t(-1);
    static constexpr std::size_t max_array_size = std::size_t(-1);
    static constexpr std::size_t max_key_size = std::size_t(-1);
    static constexpr std::size_t max_string_size = std::size_t(-1);

    reader(const shape& top, void* out, std::string& detail) noexcept : top_(top), out_(out), detail_(detail) {}

    /// True when the handler (not the JSON syntax) stopped the parse; detail_ says why.
    bool failed() const noexcept { return failed_; }
    member_set top_level_members() const noexcept { return top_members_; }

    bool on_document_begin(error_code&) { return true; }
    bool on_document_end(error_code&) { return true; }

    bool on_object_begin(error_code& ec) { return begin_container(shape_kind::object, "object", ec); }

    bool on_object_end(std::size_t, error_code& ec)
    {
        if (skipping_ > 0) {
            --skipping_;
            return true;
        }
        frame& f = frames_[depth_ - 1];
        for (std::size_t i = 0; i < f.type->members.size(); ++i) {
            if (f.type->members[i].required && (f.given & (member_set{1} << i)) == 0) {
                f.member = &f.type->members[i];
                return fail("missing required member", ec);
            }
        }
        if (depth_ == 1)
            top_members_ = f.given;
        --depth_;
        return true;
    }

    bool on_array_begin(error_code& ec) { return begin_container(shape_kind::array, "array", ec); }

    bool on_array_end(std::size_t, error_code&)
    {
        if (skipping_ > 0)
            --skipping_;
        else
            --depth_;
        return true;
    }

    bool on_key_part(json::string_view s, std::size_t, error_code&)
    {
        if (skipping_ == 0)
            key_.append(s.data(), s.size());
        return true;
    }

    bool on_key(json::string_view s, std::size_t, error_code&)
    {
        if (skipping_ > 0)
            return true;
        std::string_view key(s.data(), s.size());
        if (!key_.empty()) { // the key came in parts (escapes)
            key_.append(key);
            key = key_;
        }
        frame& f = frames_[depth_ - 1];
        f.member = find_member(f, key);
        key_.clear();
        return true;
    }

    bool on_string_part(json::string_view s, std::size_t, error_code& ec)
    {
        if (!in_string_) {
            if (!begin_string(ec))
                return false;
            in_string_ = true;
        }
        if (string_ != nullptr)
            string_->append(s.data(), s.size());
        return true;
    }

    bool on_string(json::string_view s, std::size_t n, error_code& ec)
    {
        if (!on_string_part(s, n, ec))
            return false;
        in_string_ = false;
        string_ = nullptr;
        return true;
    }

    bool on_number_part(json::string_view, error_code&)
    {
        number_split_ = true;
        return true;
    }

    bool on_int64(std::int64_t i, json::string_view, error_code& ec)
    {
        number_split_ = false;
        return on_number(i, ec);
    }

    bool on_uint64(std::uint64_t u, json::string_view, error_code& ec)
    {
        number_split_ = false;
        return on_number(u, ec);
    }

    bool on_double(double d, json::string_view text, error_code& ec)
    {
        if (std::exchange(number_split_, false))
            text = {}; // the last part only: exact() keeps d
        const slot s = next_scalar(false);
        if (s.type == nullptr)
            return true;
        const bool finite = exact(d, text);
        switch (s.type->kind) {
        case shape_kind::number:
            if (!finite)
                return fail("number out of range", ec);
            *static_cast<double*>(s.target) = d;
            return true;
        case shape_kind::int32: return integral(d, *static_cast<int*>(s.target), ec);
        case shape_kind::int64: return integral(d, *static_cast<std::int64_t*>(s.target), ec);
        case shape_kind::optional_int64: {
            std::int64_t v = 0;
            if (!integral(d, v, ec))
                return false;
            *static_cast<std::optional<std::int64_t>*>(s.target) = v;
            return true;
        }
        case shape_kind::label: {
            if (!finite)
                return fail("number out of range", ec);
            char buf[64];
            const auto res = std::to_chars(buf, buf + sizeof buf, d);
            if (res.ec != std::errc{})
                return fail("number not representable as a label", ec);
            static_cast<std::string*>(s.target)->assign(buf, res.ptr);
            return true;
        }
        default: return expected(*s.type, "number", ec);
        }
    }

    bool on_bool(bool, error_code& ec)
    {
        const slot s = next_scalar(false);
        return s.type == nullptr || expected(*s.type, "boolean", ec);
    }

    bool on_null(error_code& ec)
    {
        const slot s = next_scalar(true);
        return s.type == nullptr || expected(*s.type, "null", ec);
    }

    bool on_comment_part(json::string_view, error_code&) { return true; }
    bool on_comment(json::string_view, error_code&) { return true; }

private:
    /// Where the next value goes; type == nullptr: nowhere (skipped).
    struct slot {
        const shape* type = nullptr; // nullptr: the value is skipped
        void* target = nullptr;
        bool fresh = false; // a default element just appended
    };

    /// An object or array being filled.
    struct frame {
        const shape* type;
        void* target;
        const member_shape* member = nullptr; // object: the member being read; nullptr: unknown
        std::size_t count = 0;                // array: elements so far
        member_set given = 0;                 // object: members given (and not null)
    };

    /// The member named `key`, or nullptr. The service sends members in the order of the
    /// tables, so the search starts after the member read last and usually ends at once.
    static const member_shape* find_member(const frame& f, std::string_view key) noexcept
    {
        const std::span<const member_shape> members = f.type->members;
        const std::size_t start = f.member != nullptr ? static_cast<std::size_t>(f.member - members.data()) + 1 : 0;
        for (std::size_t n = 0, i = start; n < members.size(); ++n, ++i) {
            if (i == members.size())
                i = 0;
            if (members[i].name == key)
                return &members[i];
        }
        return nullptr;
    }

    /// The slot of the value that begins now; a null for an optional member counts as absent.
    slot next(bool null)
    {
        if (depth_ == 0)
            return {&top_, out_, false};
        frame& f = frames_[depth_ - 1];
        if (f.type->kind == shape_kind::array) {
            ++f.count;
            return {f.type->element, f.type->append(f.target), true};
        }
        if (f.member == nullptr || (null && !f.member->required))
            return {}; // an unknown member, or an absent one
        f.given |= member_set{1} << (f.member - f.type->members.data());
        return {f.member->type, f.member->locate(f.target), false};
    }

    /// next() for a value that is not a container: inside a skipped one it goes nowhere.
    slot next_scalar(bool null) { return skipping_ > 0 ? slot{} : next(null); }

    /// Opens the object or array that begins now, or starts skipping it.
    bool begin_container(shape_kind kind, const char* got, error_code& ec)
    {
        if (skipping_ > 0) {
            ++skipping_;
            return true;
        }
        const slot s = next(false);
        if (s.type == nullptr) {
            skipping_ = 1;
            return true;
        }
        const shape_kind k = s.type->kind == shape_kind::optional_object ? shape_kind::object : s.type->kind;
        if (k != kind)
            return expected(*s.type, got, ec);
        // An element just appended is fresh already; a member may be given a second time.
        void* target = s.fresh && s.type->kind == shape_kind::object ? s.target : s.type->open(s.target);
        return push(s.type, target, ec);
    }

    bool begin_string(error_code& ec)
    {
        string_ = nullptr;
        const slot s = next_scalar(false);
        if (s.type == nullptr)
            return true;
        switch (s.type->kind) {
        case shape_kind::string:
        case shape_kind::label: string_ = static_cast<std::string*>(s.target); break;
        case shape_kind::optional_string: string_ = &static_cast<std::optional<std::string>*>(s.target)->emplace(); break;
        default: return expected(*s.type, "string", ec);
        }
        string_->clear();
        return true;
    }

    template <class Integer>
    bool on_number(Integer i, error_code& ec)
    {
        const slot s = next_scalar(false);
        if (s.type == nullptr)
            return true;
        switch (s.type->kind) {
        case shape_kind::number: *static_cast<double*>(s.target) = static_cast<double>(i); return true;
        case shape_kind::int32: return integral(i, *static_cast<int*>(s.target), ec);
        case shape_kind::int64: return integral(i, *static_cast<std::int64_t*>(s.target), ec);
        case shape_kind::optional_int64: {
            std::int64_t v = 0;
            if (!integral(i, v, ec))
                return false;
            *static_cast<std::optional<std::int64_t>*>(s.target) = v;
            return true;
        }
        case shape_kind::label: *static_cast<std::string*>(s.target) = std::to_string(i); return true;
        default: return expected(*s.type, "number", ec);
        }
    }

    template <class Integer, class Out>
    bool integral(Integer i, Out& out, error_code& ec)
    {
        if (!std::in_range<Out>(i))
            return fail("integer out of range", ec);
        out = static_cast<Out>(i);
        return true;
    }

    /// Replaces d, Boost.JSON's reading of text, by the nearest double (that reading can be
    /// a unit in the last place off, so a value written back would not read the same), and
    /// says whether the number fits a double: 1e400 reads as infinity, which no JSON can carry
    /// on. A number the parser handed over in parts keeps its reading.
    static bool exact(double& d, json::string_view text)
    {
        if (!text.empty() && !read_exactly(text)) {
            double nearest = 0;
            const char* end = text.data() + text.size();
            const auto res = std::from_chars(text.data(), end, nearest);
            if (res.ec == std::errc{} && res.ptr == end)
                d = nearest;
        }
        // A number too small for a double reads as zero (from_chars calls it out of range).
        return std::isfinite(d);
    }

    /// Whether Boost.JSON's reading of `text` is the nearest double already, so that
    /// from_chars need not read it again (most numbers of a reply: 92.0, 38.16). It reads
    /// the digits as an integer and scales it by a power of ten with one multiplication or
    /// division (detail::dec_to_float); with at most 15 digits the integer is exact in a
    /// double, and so are 10^0..10^22, so that one operation is rounded once: to the
    /// nearest double (the "fast path" of W. D. Clinger's algorithm).
    static bool read_exactly(json::string_view text) noexcept
    {
        const char* p = text.data();
        const char* const end = p + text.size();
        if (p != end && *p == '-')
            ++p;
        int digits = 0;
        int fraction = 0; // digits after the point
        bool after_point = false;
        for (; p != end; ++p) {
            if (*p >= '0' && *p <= '9') {
                if (++digits > 15)
                    return false;
                fraction += after_point ? 1 : 0;
            } else if (*p == '.') {
                after_point = true;
            } else {
                break;
            }
        }
        int exponent = 0;
        if (p != end) { // 'e' or 'E', a sign, digits: the parser has checked the syntax
            ++p;
            bool negative = false;
            if (p != end && (*p == '+' || *p == '-'))
                negative = *p++ == '-';
            if (end - p > 3)
                return false; // leading zeros, or out of range anyway
            for (; p != end; ++p)
                exponent = exponent * 10 + (*p - '0');
            if (negative)
                exponent = -exponent;
        }
        const int scale = exponent - fraction;
        return scale >= -22 && scale <= 22;
    }

    template <class Out>
    bool integral(double d, Out& out, error_code& ec)
    {
        // 12.0 is an integer written as a number; 12.5 is not.
        constexpr double lowest = static_cast<double>(std::numeric_limits<Out>::min()); // -2^(N-1)
        if (!(d >= lowest && d < -lowest))
            return fail("integer out of range", ec);
        if (std::trunc(d) != d)
            return fail("expected an integer, got a number with a fraction", ec);
        out = static_cast<Out>(d);
        return true;
    }

    bool push(const shape* type, void* target, error_code& ec)
    {
        // The structs nest six levels deep at most (recognition, results, plate, vehicle,
        // color, candidate): the stack cannot overflow, but is checked all the same.
        if (depth_ == frames_.size())
            return fail("nested too deeply", ec);
        frames_[depth_++] = frame{type, target};
        return true;
    }

    static const char* expected_name(const shape& type) noexcept
    {
        switch (type.kind) {
        case shape_kind::string:
        case shape_kind::label:
        case shape_kind::optional_string: return "a string";
        case shape_kind::number: return "a number";
        case shape_kind::int32:
        case shape_kind::int64:
        case shape_kind::optional_int64: return "an integer";
        case shape_kind::object:
        case shape_kind::optional_object: return "an object";
        case shape_kind::array: return "an array";
        }
        return "a value";
    }

    /// fail("expected <what type wants>, got <got>").
    bool expected(const shape& type, const char* got, error_code& ec)
    {
        std::string what = "expected ";
        what += expected_name(type);
        what += ", got ";
        what += got;
        return fail(what, ec);
    }

    /// Records "<path>: <what>" as the detail and stops the parse; always returns false.
    bool fail(std::string_view what, error_code& ec)
    {
        std::string text;
        for (std::size_t i = 0; i < depth_; ++i) {
            const frame& f = frames_[i];
            if (f.type->kind == shape_kind::array) {
                text += '[';
                text += std::to_string(f.count - 1);
                text += ']';
            } else if (f.member != nullptr) {
                if (!text.empty())
                    text += '.';
                text += f.member->name;
            }
        }
        if (text.empty())
            text = "top level";
        text += ": ";
        text += what;
        detail_ = std::move(text);
        failed_ = true;
        ec = error::bad_response;
        return false;
    }

    const shape& top_;
    void* out_;
    std::string& detail_;
    std::array<frame, 8> frames_{};
    std::size_t depth_ = 0;
    std::size_t skipping_ = 0;  // depth inside a value that is read into nothing
    std::string key_;           // a key that comes in parts
    std::string* string_ = nullptr; // where the parts of the current string go
    bool in_string_ = false;
    bool number_split_ = false; // on_number_part came before the on_double that ends it
    bool failed_ = false;
    member_set top_members_ = 0;
};

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

/// Parses `text` into `out` (which it may leave half-filled on failure) and reports in
/// `given` the top-level members the text gave; never throws.
template <class T>
error_code parse_into(std::string_view text, T& out, std::string& detail, member_set* given = nullptr) noexcept
{
    static_assert(sizeof(member_set) * 8 >= std::size(recognition_members));
    try {
        detail.clear();
        json::parse_options opts; // strict JSON, depth limit 32
        json::basic_parser<reader> p(opts, top_level_shape<T>(), &out, detail);
        error_code ec;
        std::size_t consumed = p.write_some(false, text.data(), text.size(), ec);
        if (p.handler().failed())
            return error::bad_response;
        if (!ec && consumed < text.size())
            ec = json::error::extra_data;
        if (ec) {
            detail = "invalid JSON at offset " + std::to_string(consumed) + ": " + ec.message();
            return error::bad_response;
        }
        if (given != nullptr)
            *given = p.handler().top_level_members();
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

} // namespace carcheck::detail::model

#endif
