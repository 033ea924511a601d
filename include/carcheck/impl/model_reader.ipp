#ifndef CARCHECK_IMPL_MODEL_READER_IPP
#define CARCHECK_IMPL_MODEL_READER_IPP

// Reads reply text straight into the result structs (the tables of model_shapes.ipp), in one
// pass of Boost.JSON's SAX parser: no document is built and no member is looked up. The
// handler keeps a stack of the objects and arrays being filled, skips what it does not know,
// and stops at the first problem in document order, naming its JSON path. parse_into tries
// the fast reader for the usual form of a reply first and comes here for anything else.

#include <carcheck/model.hpp>
#include <carcheck/impl/model_fast_reader.ipp>
#include <carcheck/impl/model_shapes.ipp>

#include <boost/json/basic_parser_impl.hpp>
#include <boost/system/errc.hpp>

#include <array>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <new>
#include <span>
#include <string>
#include <string_view>
#include <system_error> // std::errc of std::to_chars
#include <utility>

namespace carcheck::detail::model {

namespace json = boost::json;

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
        exact(d, text);
        return stored(store_double(*s.type, s.target, d), *s.type, ec);
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
        return s.type == nullptr || stored(store_integer(*s.type, s.target, i), *s.type, ec);
    }

    /// Continues after a number was stored, or stops the parse naming why it was not.
    bool stored(store_status status, const shape& type, error_code& ec)
    {
        switch (status) {
        case store_status::stored: return true;
        case store_status::wrong_type: return expected(type, "number", ec);
        default: return fail(describe(status), ec);
        }
    }

    /// Replaces d, Boost.JSON's reading of text, by the nearest double (that reading can be
    /// a unit in the last place off, so a value written back would not read the same). 1e400
    /// reads as infinity and a number too small for a double as zero (from_chars calls both
    /// out of range and they keep the parser's reading). A number the parser handed over in
    /// parts keeps its reading.
    static void exact(double& d, json::string_view text)
    {
        if (!text.empty() && !read_exactly(text)) {
            double nearest = 0;
            const char* end = text.data() + text.size();
            const auto res = std::from_chars(text.data(), end, nearest);
            if (res.ec == std::errc{} && res.ptr == end)
                d = nearest;
        }
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

/// The general reader alone: any text, the first problem named in `detail`. Throws what
/// allocation throws.
template <class T>
error_code read_any_form(std::string_view text, T& out, std::string& detail, member_set& given)
{
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
    given = p.handler().top_level_members();
    return {};
}

/// The fast reader alone: true when it read the text (the usual form of a reply) into `out`.
template <class T>
bool read_usual_form(std::string_view text, T& out, member_set& given)
{
    return fast_reader(text).read_document(top_level_shape<T>(), &out, given);
}

/// Parses `text` into `out` (which it may leave half-filled on failure) and reports in
/// `given` the top-level members the text gave; never throws. The fast reader takes the
/// usual form; whatever it leaves, the general reader reads from the start.
template <class T>
error_code parse_into(std::string_view text, T& out, std::string& detail, member_set* given = nullptr) noexcept
{
    static_assert(sizeof(member_set) * 8 >= std::size(recognition_members));
    try {
        detail.clear();
        member_set members = 0;
        error_code ec;
        if (!read_usual_form(text, out, members))
            ec = read_any_form(text, out, detail, members);
        if (!ec && given != nullptr)
            *given = members;
        return ec;
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
