#ifndef CARCHECK_DETAIL_BASE64_HPP
#define CARCHECK_DETAIL_BASE64_HPP

// Base64 encoder (RFC 4648 section 4: standard alphabet, '=' padding, no line breaks).
//
// Table driven: a 4096-entry table maps every 12-bit value to its two output characters, so
// a 3-byte group costs two table loads and two 2-byte stores. The hot loop takes 6 input
// bytes per step from one unaligned 64-bit load (8 bytes must be readable, so the last
// 6..7 bytes go through the 3-byte loop) and writes 8 characters with one 64-bit store.
// The table is 8 KiB and stays in L1. Several hundred MB/s to GB/s per core at -O2
// (benchmark/RESULTS.md, base64 upload).
//
// Everything is constexpr (a plain scalar path is used during constant evaluation), so the
// RFC vectors can be checked by static_assert.

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

namespace carcheck::detail::base64 {

inline constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Number of characters the encoding of `n` bytes takes, padding included.
constexpr std::size_t encoded_size(std::size_t n) noexcept
{
    return (n / 3 + (n % 3 != 0 ? 1 : 0)) * 4;
}

namespace impl {

struct pair_table {
    char chars[2 * 4096];
};

constexpr pair_table make_pair_table() noexcept
{
    pair_table t{};
    for (std::size_t i = 0; i < 4096; ++i) {
        t.chars[2 * i] = alphabet[i >> 6];
        t.chars[2 * i + 1] = alphabet[i & 63];
    }
    return t;
}

/// pairs.chars[2*v], pairs.chars[2*v+1] are the two characters of the 12-bit value v.
inline constexpr pair_table pairs = make_pair_table();

/// Encodes one full 3-byte group into 4 characters.
constexpr void group(char* out, const std::uint8_t* in) noexcept
{
    const std::uint32_t v = (std::uint32_t(in[0]) << 16) | (std::uint32_t(in[1]) << 8) | in[2];
    if (std::is_constant_evaluated()) {
        out[0] = pairs.chars[2 * (v >> 12)];
        out[1] = pairs.chars[2 * (v >> 12) + 1];
        out[2] = pairs.chars[2 * (v & 0xFFF)];
        out[3] = pairs.chars[2 * (v & 0xFFF) + 1];
    } else {
        std::memcpy(out, pairs.chars + 2 * (v >> 12), 2);
        std::memcpy(out + 2, pairs.chars + 2 * (v & 0xFFF), 2);
    }
}

/// Encodes the last 1 or 2 bytes with padding into 4 characters.
constexpr void tail(char* out, const std::uint8_t* in, std::size_t n) noexcept
{
    const std::uint32_t b0 = in[0];
    const std::uint32_t b1 = n > 1 ? in[1] : 0;
    out[0] = alphabet[b0 >> 2];
    out[1] = alphabet[((b0 & 3) << 4) | (b1 >> 4)];
    out[2] = n > 1 ? alphabet[(b1 & 15) << 2] : '=';
    out[3] = '=';
}

inline std::uint64_t load_be64(const std::uint8_t* p) noexcept
{
    std::uint64_t w;
    std::memcpy(&w, p, 8);
    if constexpr (std::endian::native == std::endian::little) {
#if defined(__GNUC__) || defined(__clang__)
        w = __builtin_bswap64(w);
#else
        w = ((w & 0x00000000000000FFull) << 56) | ((w & 0x000000000000FF00ull) << 40) |
            ((w & 0x0000000000FF0000ull) << 24) | ((w & 0x00000000FF000000ull) << 8) |
            ((w & 0x000000FF00000000ull) >> 8) | ((w & 0x0000FF0000000000ull) >> 24) |
            ((w & 0x00FF000000000000ull) >> 40) | ((w & 0xFF00000000000000ull) >> 56);
#endif
    }
    return w;
}

/// Encodes 6 bytes (reading 8) into 8 characters.
inline void six(char* out, const std::uint8_t* in) noexcept
{
    const std::uint64_t w = load_be64(in);
    const char* t = pairs.chars;
    char o[8];
    std::memcpy(o + 0, t + 2 * ((w >> 52) & 0xFFF), 2);
    std::memcpy(o + 2, t + 2 * ((w >> 40) & 0xFFF), 2);
    std::memcpy(o + 4, t + 2 * ((w >> 28) & 0xFFF), 2);
    std::memcpy(o + 6, t + 2 * ((w >> 16) & 0xFFF), 2);
    std::memcpy(out, o, 8);
}

} // namespace impl

/// Encodes `n` bytes at `in` into `out`, which must have room for encoded_size(n) characters.
/// Writes the padding of a final partial group. Returns the number of characters written.
constexpr std::size_t encode(char* out, const std::uint8_t* in, std::size_t n) noexcept
{
    char* const start = out;
    if (!std::is_constant_evaluated()) {
        // Two 6-byte steps per iteration: independent loads and stores for the CPU to overlap.
        while (n >= 14) {
            impl::six(out, in);
            impl::six(out + 8, in + 6);
            in += 12;
            out += 16;
            n -= 12;
        }
    }
    while (n >= 3) {
        impl::group(out, in);
        in += 3;
        out += 4;
        n -= 3;
    }
    if (n != 0) {
        impl::tail(out, in, n);
        out += 4;
    }
    return static_cast<std::size_t>(out - start);
}

inline std::size_t encode(char* out, std::span<const std::byte> in) noexcept
{
    return encode(out, reinterpret_cast<const std::uint8_t*>(in.data()), in.size());
}

/// Convenience for tests and small inputs: the encoding of `in` as a string.
inline std::string encode_to_string(std::string_view in)
{
    std::string s(encoded_size(in.size()), '\0');
    encode(s.data(), reinterpret_cast<const std::uint8_t*>(in.data()), in.size());
    return s;
}

/// Incremental encoder: feed blocks of any size; 0..2 bytes that do not fill a group are
/// carried to the next update(); finish() writes the padded last group. The concatenated
/// output equals encode() of the concatenated input.
class encoder {
public:
    /// Largest output of one update() of `n` bytes.
    static constexpr std::size_t max_update_size(std::size_t n) noexcept { return (n + 2) / 3 * 4; }
    /// Largest output of finish().
    static constexpr std::size_t max_finish_size = 4;

    constexpr void reset() noexcept { carry_size_ = 0; }

    /// Bytes held back until the next update() or finish() (0..2).
    constexpr std::size_t pending() const noexcept { return carry_size_; }

    /// Encodes as many whole groups as the carry plus `in` make; returns characters written
    /// (at most max_update_size(n)).
    constexpr std::size_t update(char* out, const std::uint8_t* in, std::size_t n) noexcept
    {
        std::size_t written = 0;
        if (carry_size_ != 0) {
            while (carry_size_ < 3 && n != 0) {
                carry_[carry_size_++] = *in++;
                --n;
            }
            if (carry_size_ < 3)
                return 0;
            impl::group(out, carry_);
            out += 4;
            written = 4;
            carry_size_ = 0;
        }
        const std::size_t whole = n - n % 3;
        written += encode(out, in, whole);
        for (std::size_t i = whole; i < n; ++i)
            carry_[carry_size_++] = in[i];
        return written;
    }

    std::size_t update(char* out, std::span<const std::byte> in) noexcept
    {
        return update(out, reinterpret_cast<const std::uint8_t*>(in.data()), in.size());
    }

    /// Writes the padded final group of the carried bytes (0 or 4 characters) and resets.
    constexpr std::size_t finish(char* out) noexcept
    {
        const std::size_t n = carry_size_;
        carry_size_ = 0;
        if (n == 0)
            return 0;
        impl::tail(out, carry_, n);
        return 4;
    }

private:
    std::uint8_t carry_[3]{};
    std::size_t carry_size_ = 0;
};

} // namespace carcheck::detail::base64

#endif
