#include <carcheck/detail/base64.hpp>

#include <boost/test/unit_test.hpp>

#include <array>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace b64 = carcheck::detail::base64;

namespace {

/// Straightforward bit-by-bit encoder to compare against.
std::string reference_encode(const std::vector<std::uint8_t>& in)
{
    static const char* const abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    unsigned bits = 0, nbits = 0;
    for (std::uint8_t b : in) {
        bits = (bits << 8) | b;
        nbits += 8;
        while (nbits >= 6) {
            nbits -= 6;
            out += abc[(bits >> nbits) & 63];
        }
    }
    if (nbits > 0)
        out += abc[(bits << (6 - nbits)) & 63];
    while (out.size() % 4 != 0)
        out += '=';
    return out;
}

std::vector<std::uint8_t> random_bytes(std::size_t n, unsigned seed)
{
    std::mt19937 gen(seed);
    std::vector<std::uint8_t> v(n);
    for (auto& b : v)
        b = static_cast<std::uint8_t>(gen());
    return v;
}

std::string encode(const std::vector<std::uint8_t>& in)
{
    std::string s(b64::encoded_size(in.size()), '?');
    const auto n = b64::encode(s.data(), in.data(), in.size());
    BOOST_TEST(n == s.size());
    return s;
}

template <std::size_t N>
constexpr auto constexpr_encode(const char (&text)[N])
{
    std::array<std::uint8_t, N - 1> in{};
    for (std::size_t i = 0; i + 1 < N; ++i)
        in[i] = static_cast<std::uint8_t>(text[i]);
    std::array<char, b64::encoded_size(N - 1) + 1> out{};
    b64::encode(out.data(), in.data(), in.size());
    return out;
}

constexpr bool equal(const char* a, std::string_view b)
{
    return std::string_view(a) == b;
}

// The encoder works at compile time too.
static_assert(equal(constexpr_encode("foobar").data(), "Zm9vYmFy"));
static_assert(equal(constexpr_encode("fo").data(), "Zm8="));
static_assert(b64::encoded_size(0) == 0 && b64::encoded_size(1) == 4 && b64::encoded_size(3) == 4 &&
              b64::encoded_size(4) == 8);

} // namespace

BOOST_AUTO_TEST_SUITE(base64_test)

BOOST_AUTO_TEST_CASE(rfc4648_vectors)
{
    BOOST_TEST(b64::encode_to_string("") == "");
    BOOST_TEST(b64::encode_to_string("f") == "Zg==");
    BOOST_TEST(b64::encode_to_string("fo") == "Zm8=");
    BOOST_TEST(b64::encode_to_string("foo") == "Zm9v");
    BOOST_TEST(b64::encode_to_string("foob") == "Zm9vYg==");
    BOOST_TEST(b64::encode_to_string("fooba") == "Zm9vYmE=");
    BOOST_TEST(b64::encode_to_string("foobar") == "Zm9vYmFy");
}

BOOST_AUTO_TEST_CASE(whole_alphabet_and_extremes)
{
    BOOST_TEST(b64::encode_to_string(std::string_view("\x00\x00\x00", 3)) == "AAAA");
    BOOST_TEST(b64::encode_to_string("\xFF\xFF\xFF") == "////");
    BOOST_TEST(b64::encode_to_string("\xFB\xFF\xBF") == "+/+/");
    std::vector<std::uint8_t> all(256);
    for (int i = 0; i < 256; ++i)
        all[i] = static_cast<std::uint8_t>(i);
    BOOST_TEST(encode(all) == reference_encode(all));
    // Every 12-bit pair of the table, high and low half of the group.
    std::vector<std::uint8_t> pairs;
    for (unsigned v = 0; v < 4096; ++v) {
        pairs.push_back(static_cast<std::uint8_t>(v >> 4));
        pairs.push_back(static_cast<std::uint8_t>(((v & 15) << 4) | (v >> 8)));
        pairs.push_back(static_cast<std::uint8_t>(v));
    }
    BOOST_TEST(encode(pairs) == reference_encode(pairs));
}

BOOST_AUTO_TEST_CASE(every_length_up_to_300)
{
    const auto data = random_bytes(300, 1);
    for (std::size_t n = 0; n <= 300; ++n) {
        std::vector<std::uint8_t> in(data.begin(), data.begin() + static_cast<std::ptrdiff_t>(n));
        const auto got = encode(in);
        BOOST_TEST(got.size() == b64::encoded_size(n));
        BOOST_TEST(got == reference_encode(in), "length " << n);
    }
}

BOOST_AUTO_TEST_CASE(does_not_write_past_the_encoded_size)
{
    for (std::size_t n = 0; n <= 40; ++n) {
        const auto in = random_bytes(n, 7);
        std::string out(b64::encoded_size(n) + 16, '#');
        b64::encode(out.data(), in.data(), in.size());
        BOOST_TEST(out.substr(b64::encoded_size(n)) == std::string(16, '#'));
    }
}

BOOST_AUTO_TEST_CASE(incremental_equals_one_shot_for_any_split)
{
    const auto data = random_bytes(1000, 2);
    const auto expected = reference_encode(data);
    std::mt19937 gen(3);
    for (int round = 0; round < 500; ++round) {
        b64::encoder enc;
        std::string out;
        std::size_t pos = 0;
        // Blocks of 0..40 bytes, sometimes large ones.
        while (pos < data.size()) {
            std::size_t n = gen() % 41;
            if (gen() % 10 == 0)
                n = gen() % 300;
            n = std::min(n, data.size() - pos);
            std::string buf(b64::encoder::max_update_size(n), '?');
            const auto w = enc.update(buf.data(), data.data() + pos, n);
            BOOST_TEST(w <= buf.size());
            BOOST_TEST(w % 4 == 0);
            out.append(buf.data(), w);
            pos += n;
            BOOST_TEST(enc.pending() == pos % 3);
        }
        char last[b64::encoder::max_finish_size];
        out.append(last, enc.finish(last));
        BOOST_TEST(enc.pending() == 0u);
        BOOST_TEST(out == expected, "round " << round);
    }
}

BOOST_AUTO_TEST_CASE(incremental_every_prefix_and_split_point)
{
    const auto data = random_bytes(64, 4);
    for (std::size_t n = 0; n <= data.size(); ++n) {
        const std::vector<std::uint8_t> in(data.begin(), data.begin() + static_cast<std::ptrdiff_t>(n));
        const auto expected = reference_encode(in);
        for (std::size_t split = 0; split <= n; ++split) {
            b64::encoder enc;
            std::string out(b64::encoded_size(n) + 8, '?');
            std::size_t w = enc.update(out.data(), in.data(), split);
            w += enc.update(out.data() + w, in.data() + split, n - split);
            w += enc.finish(out.data() + w);
            out.resize(w);
            BOOST_TEST(out == expected, "length " << n << " split " << split);
        }
    }
}

BOOST_AUTO_TEST_CASE(large_buffer_matches_reference)
{
    const auto data = random_bytes(3 * 65536 + 2, 5);
    BOOST_TEST(encode(data) == reference_encode(data));
}

BOOST_AUTO_TEST_SUITE_END()
