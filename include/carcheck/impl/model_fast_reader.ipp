#ifndef CARCHECK_IMPL_MODEL_FAST_READER_IPP
#define CARCHECK_IMPL_MODEL_FAST_READER_IPP

// The usual form of a reply read straight into the result structs: ASCII strings without
// escapes, numbers of up to 18 digits, nesting a few levels deep. That is every reply the
// service and the mock send, and this reader takes it in one tight pass over the text with
// the member tables of model_shapes.ipp. It vouches only for what it fully understood: at
// anything else (an escape, a byte above 0x7F, a number too long for the fast path, a type
// or range problem, a syntax error) it gives up and the general reader (model_reader.ipp,
// Boost.JSON) reads the text from the start and gives the result or names the problem. So
// it must never accept what the general reader refuses, nor fill the structs differently;
// the model fuzz target checks both on every input.

#include <carcheck/impl/model_shapes.ipp>

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace carcheck::detail::model {

class fast_reader {
public:
    explicit fast_reader(std::string_view text) noexcept : p_(text.data()), end_(text.data() + text.size()) {}

    /// Reads the whole text, an object, into `out` (a struct of shape `top`) and reports the
    /// members it gave. False when the text is not in the usual form or not valid for
    /// `top`: then `out` may be half-filled and the general reader must read the text.
    bool read_document(const shape& top, void* out, member_set& given)
    {
        skip_whitespace();
        if (p_ == end_ || *p_ != '{')
            return false;
        if (!read_object(top, top.open(out), &given))
            return false;
        skip_whitespace();
        return p_ == end_;
    }

private:
    // Deeper than this (counting containers that are skipped) is left to the general
    // reader; the structs nest six levels, Boost.JSON allows 32.
    static constexpr int max_depth = 16;

    void skip_whitespace() noexcept
    {
        // Replies usually have none: one inlined test for the common case.
        if (p_ != end_ && static_cast<unsigned char>(*p_) <= ' ')
            skip_whitespace_characters();
    }

    void skip_whitespace_characters() noexcept
    {
        while (p_ != end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t'))
            ++p_;
    }

    /// After a value inside a container: true at ',' (consumed, and the whitespace after
    /// it), false at `close` (consumed) with `done` set; anything else fails.
    bool next_item(char close, bool& done) noexcept
    {
        skip_whitespace();
        if (p_ == end_)
            return false;
        if (*p_ == ',') {
            ++p_;
            skip_whitespace();
            return true;
        }
        if (*p_ == close) {
            ++p_;
            done = true;
        }
        return false;
    }

    /// Advances to the first byte that ends a plain string: '"', '\\', a control character
    /// or a byte above 0x7F (or to the end of the text).
    void skip_plain_characters() noexcept
    {
        const char* p = p_;
        const char* const end = end_;
#if defined(__SSE2__)
        // 16 bytes at a time. As signed bytes, both control characters and bytes above 0x7F
        // are below 0x20.
        const __m128i quote = _mm_set1_epi8('"');
        const __m128i backslash = _mm_set1_epi8('\\');
        const __m128i space = _mm_set1_epi8(' ');
        for (; end - p >= 16; p += 16) {
            const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
            const __m128i stop = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)),
                                              _mm_cmplt_epi8(v, space));
            const int mask = _mm_movemask_epi8(stop);
            if (mask != 0) {
                p_ = p + __builtin_ctz(static_cast<unsigned>(mask));
                return;
            }
        }
#endif
        for (; p != end; ++p) {
            const auto c = static_cast<unsigned char>(*p);
            if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80)
                break;
        }
        p_ = p;
    }

    /// A string of printable ASCII without escapes; `out` views it in the text.
    bool read_plain_string(std::string_view& out) noexcept
    {
        if (p_ == end_ || *p_ != '"')
            return false;
        const char* const begin = ++p_;
        skip_plain_characters();
        if (p_ == end_ || *p_ != '"')
            return false;
        out = std::string_view(begin, static_cast<std::size_t>(p_ - begin));
        ++p_;
        return true;
    }

    /// Takes the key `name` (plain ASCII, as every name of the tables) if the text has it
    /// next, quotes included.
    bool take_key(std::string_view name) noexcept
    {
        const std::size_t n = name.size();
        if (static_cast<std::size_t>(end_ - p_) < n + 2 || p_[0] != '"' || p_[n + 1] != '"' ||
            std::char_traits<char>::compare(p_ + 1, name.data(), n) != 0)
            return false;
        p_ += n + 2;
        return true;
    }

    bool read_literal(std::string_view word) noexcept
    {
        if (static_cast<std::size_t>(end_ - p_) < word.size() || std::string_view(p_, word.size()) != word)
            return false;
        p_ += word.size();
        return true;
    }

    static bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

    /// A number as JSON writes it, checked and taken apart.
    struct number_text {
        const char* begin;
        const char* end;
        std::uint64_t digits_value; // all digits, the point ignored (valid up to 18 digits)
        int digits;                 // how many, leading zeros included
        int scale;                  // the value is digits_value * 10^scale
        bool negative;
        bool integer;               // neither fraction nor exponent
    };

    bool scan_number(number_text& n) noexcept
    {
        // On a local pointer: the stores into n cannot then make the compiler reload p_.
        const char* p = p_;
        const char* const end = end_;
        n.begin = p;
        n.negative = p != end && *p == '-';
        if (n.negative)
            ++p;
        if (p == end || !is_digit(*p))
            return false;
        const char* const first_digit = p;
        std::uint64_t value = 0;
        if (*p == '0') // no leading zeros: "0" then not another digit
            ++p;
        else
            for (; p != end && is_digit(*p); ++p)
                value = value * 10 + static_cast<std::uint64_t>(*p - '0');
        int fraction = 0;
        if (p != end && *p == '.') {
            const char* const point = p++;
            for (; p != end && is_digit(*p); ++p)
                value = value * 10 + static_cast<std::uint64_t>(*p - '0');
            fraction = static_cast<int>(p - point - 1);
            if (fraction == 0)
                return false;
        }
        const int digits = static_cast<int>(p - first_digit) - (fraction > 0 ? 1 : 0);
        int exponent = 0;
        bool has_exponent = false;
        if (p != end && (*p == 'e' || *p == 'E')) {
            has_exponent = true;
            ++p;
            bool negative = false;
            if (p != end && (*p == '+' || *p == '-'))
                negative = *p++ == '-';
            if (p == end || !is_digit(*p))
                return false;
            // Boost.JSON refuses an exponent beyond the range of an int: such numbers (all
            // of them, zeros included) are left to it.
            for (; p != end && is_digit(*p); ++p)
                if ((exponent = exponent * 10 + (*p - '0')) > 9999)
                    return false;
            if (negative)
                exponent = -exponent;
        }
        n.end = p;
        n.digits_value = value;
        n.digits = digits;
        n.scale = exponent - fraction;
        n.integer = fraction == 0 && !has_exponent;
        p_ = p;
        return digits <= 18; // value has not overflowed
    }

    /// The nearest double to `n`. With at most 15 digits the digits are exact in a double,
    /// and so are 10^0..10^22: one multiplication or division, rounded once, is the nearest
    /// double (the fast path of Clinger's algorithm). Other numbers go to from_chars.
    static bool nearest_double(const number_text& n, double& d) noexcept
    {
        static constexpr double powers_of_ten[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                                   1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                                   1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
        if (n.digits <= 15 && n.scale >= -22 && n.scale <= 22) {
            d = static_cast<double>(n.digits_value);
            d = n.scale >= 0 ? d * powers_of_ten[n.scale] : d / powers_of_ten[-n.scale];
            if (n.negative)
                d = -d;
            return true;
        }
        const auto res = std::from_chars(n.begin, n.end, d);
        return res.ec == std::errc{} && res.ptr == n.end; // 1e400 and 1e-400 are left to the general reader
    }

    bool read_number(const shape& type, void* target)
    {
        number_text n;
        if (!scan_number(n))
            return false;
        if (n.integer) {
            if (n.negative && n.digits_value == 0)
                return false; // "-0": left to the general reader
            const auto magnitude = static_cast<std::int64_t>(n.digits_value);
            return store_integer(type, target, n.negative ? -magnitude : magnitude) == store_status::stored;
        }
        double d = 0;
        return nearest_double(n, d) && store_double(type, target, d) == store_status::stored;
    }

    /// A value of `type` into `target`; `fresh`: an array element just appended.
    bool read_value(const shape& type, void* target, bool fresh)
    {
        if (p_ == end_)
            return false;
        switch (*p_) {
        case '{':
            if (type.kind == shape_kind::object)
                return read_object(type, fresh ? target : type.open(target), nullptr);
            if (type.kind == shape_kind::optional_object)
                return read_object(type, type.open(target), nullptr);
            return false;
        case '[': return type.kind == shape_kind::array && read_array(type, type.open(target));
        case '"': {
            std::string_view s;
            if (!read_plain_string(s))
                return false;
            if (type.kind == shape_kind::string || type.kind == shape_kind::label) {
                static_cast<std::string*>(target)->assign(s);
                return true;
            }
            if (type.kind == shape_kind::optional_string) {
                static_cast<std::optional<std::string>*>(target)->emplace(s);
                return true;
            }
            return false;
        }
        default: return read_number(type, target); // true, false, null: not for a value that is read
        }
    }

    /// The member whose key comes next in the text (consumed), or nullptr when the struct
    /// has none of that name. The service sends members in the order of the tables, so the
    /// member after `last` is compared with the text first; otherwise the key is read and
    /// searched for. False when the key is not a plain string.
    static const member_shape* next_of(std::span<const member_shape> members, const member_shape* last) noexcept
    {
        const std::size_t i = last != nullptr ? static_cast<std::size_t>(last - members.data()) + 1 : 0;
        return i < members.size() ? &members[i] : members.data();
    }

    bool read_key(std::span<const member_shape> members, const member_shape* last, const member_shape*& found) noexcept
    {
        const member_shape* const guess = next_of(members, last);
        if (take_key(guess->name)) {
            found = guess;
            return true;
        }
        std::string_view key;
        if (!read_plain_string(key))
            return false;
        found = nullptr;
        for (const member_shape& m : members) {
            if (m.name == key) {
                found = &m;
                break;
            }
        }
        return true;
    }

    bool read_object(const shape& type, void* target, member_set* given_out)
    {
        if (++depth_ > max_depth)
            return false;
        ++p_; // '{'
        skip_whitespace();
        member_set given = 0;
        bool done = false;
        if (p_ != end_ && *p_ == '}') {
            ++p_;
            done = true;
        }
        for (const member_shape* last = nullptr; !done;) {
            const member_shape* m = nullptr;
            if (!read_key(type.members, last, m))
                return false;
            skip_whitespace();
            if (p_ == end_ || *p_ != ':')
                return false;
            ++p_;
            skip_whitespace();
            last = m;
            if (m == nullptr) {
                if (!skip_value())
                    return false;
            } else if (!m->required && p_ != end_ && *p_ == 'n') { // null: as if absent
                if (!read_literal("null"))
                    return false;
            } else {
                given |= member_set{1} << (m - type.members.data());
                if (!read_value(*m->type, m->locate(target), false))
                    return false;
            }
            if (!next_item('}', done) && !done)
                return false;
        }
        for (std::size_t i = 0; i < type.members.size(); ++i)
            if (type.members[i].required && (given & (member_set{1} << i)) == 0)
                return false;
        if (given_out != nullptr)
            *given_out = given;
        --depth_;
        return true;
    }

    bool read_array(const shape& type, void* vector)
    {
        if (++depth_ > max_depth)
            return false;
        ++p_; // '['
        skip_whitespace();
        bool done = false;
        if (p_ != end_ && *p_ == ']') {
            ++p_;
            done = true;
        }
        while (!done) {
            if (!read_value(*type.element, type.append(vector), true))
                return false;
            if (!next_item(']', done) && !done)
                return false;
        }
        --depth_;
        return true;
    }

    /// A value read into nothing (a member the tables do not name), checked all the same.
    bool skip_value()
    {
        if (p_ == end_)
            return false;
        switch (*p_) {
        case '{':
        case '[': {
            const char close = *p_ == '{' ? '}' : ']';
            if (++depth_ > max_depth)
                return false;
            ++p_;
            skip_whitespace();
            bool done = false;
            if (p_ != end_ && *p_ == close) {
                ++p_;
                done = true;
            }
            while (!done) {
                if (close == '}') {
                    std::string_view key;
                    if (!read_plain_string(key))
                        return false;
                    skip_whitespace();
                    if (p_ == end_ || *p_ != ':')
                        return false;
                    ++p_;
                    skip_whitespace();
                }
                if (!skip_value())
                    return false;
                if (!next_item(close, done) && !done)
                    return false;
            }
            --depth_;
            return true;
        }
        case '"': {
            std::string_view s;
            return read_plain_string(s);
        }
        case 't': return read_literal("true");
        case 'f': return read_literal("false");
        case 'n': return read_literal("null");
        default: {
            number_text n;
            return scan_number(n);
        }
        }
    }

    const char* p_;
    const char* const end_;
    int depth_ = 0;
};

} // namespace carcheck::detail::model

#endif
