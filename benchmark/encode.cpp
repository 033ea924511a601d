// carcheck_bench_encode: the encoders alone, no network.
//
//   carcheck_bench_encode [--size-mib 64] [--reps 5] [--file IMAGE] [--framing-reps 20000]
//
// 1. base64 throughput (MB/s of input, best of --reps) on the same random buffer:
//    carcheck::detail::base64::encode (one call), the incremental encoder in the 48 KiB input
//    blocks base64_body uses, and OpenSSL's EVP_EncodeBlock (one call, and in the same blocks).
//    Outputs are compared byte for byte.
// 2. Framing cost per request for a small image (--file, e.g. the 30 KB benchmark image):
//    building a multipart_file_body / base64_body request body (construct, open the file,
//    run the Beast BodyWriter to the end) against the floor of any client: open, read and
//    close the same file.
// Prints one JSON line.
#include "bench_common.hpp"

#include <carcheck/body/base64_body.hpp>
#include <carcheck/body/multipart_file_body.hpp>
#include <carcheck/detail/base64.hpp>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/message.hpp>

#include <openssl/evp.h>
#include <openssl/opensslv.h>

#include <fcntl.h>
#include <unistd.h>

#include <climits>
#include <random>

namespace http = boost::beast::http;

namespace {

constexpr std::size_t block_in = 64 * 1024 / 4 * 3; // base64_body's input block

template <class F>
double best_mbps(std::size_t bytes, int reps, F&& f)
{
    double best = 0;
    for (int r = 0; r < reps; ++r) {
        const auto t0 = bench::clock::now();
        f();
        const double s = bench::seconds_since(t0);
        best = std::max(best, static_cast<double>(bytes) / 1e6 / s);
    }
    return best;
}

template <class F>
double ns_per_op(std::uint64_t reps, F&& f)
{
    const auto t0 = bench::clock::now();
    for (std::uint64_t i = 0; i < reps; ++i)
        f();
    return bench::seconds_since(t0) * 1e9 / static_cast<double>(reps);
}

volatile std::uint64_t sink = 0;

template <class Body>
std::uint64_t drain(typename Body::value_type& body)
{
    http::request_header<> header;
    typename Body::writer w(header, body);
    carcheck::error_code ec;
    w.init(ec);
    if (ec)
        throw std::runtime_error("writer init failed: " + ec.message());
    std::uint64_t n = 0;
    for (;;) {
        auto r = w.get(ec);
        if (ec)
            throw std::runtime_error("writer failed: " + ec.message());
        if (!r)
            break;
        n += boost::asio::buffer_size(r->first);
        if (!r->second)
            break;
    }
    return n;
}

} // namespace

int main(int argc, char** argv)
try {
    bench::args a(argc, argv, {});
    a.allow({"size-mib", "reps", "file", "framing-reps"});
    const std::size_t size = a.num("size-mib", 64) * 1024 * 1024;
    const int reps = static_cast<int>(a.num("reps", 5));
    if (size == 0 || size > INT_MAX / 2 || reps <= 0)
        throw std::runtime_error("bad --size-mib / --reps");

    std::vector<std::uint8_t> in(size);
    std::mt19937_64 rng(42);
    for (std::size_t i = 0; i + 8 <= in.size(); i += 8) {
        const std::uint64_t v = rng();
        std::memcpy(in.data() + i, &v, 8);
    }
    namespace b64 = carcheck::detail::base64;
    const std::size_t out_size = b64::encoded_size(size);
    std::vector<char> out_cc(out_size + 16), out_inc(out_size + 16), out_ssl(out_size + 16), out_ssl_blk(out_size + 16);

    const double mbps_carcheck = best_mbps(size, reps, [&] { b64::encode(out_cc.data(), in.data(), in.size()); });
    const double mbps_incremental = best_mbps(size, reps, [&] {
        b64::encoder enc;
        char* p = out_inc.data();
        for (std::size_t off = 0; off < in.size(); off += block_in)
            p += enc.update(p, in.data() + off, std::min(block_in, in.size() - off));
        p += enc.finish(p);
    });
    const double mbps_openssl = best_mbps(size, reps, [&] {
        EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out_ssl.data()), in.data(), static_cast<int>(in.size()));
    });
    const double mbps_openssl_blocks = best_mbps(size, reps, [&] {
        char* p = out_ssl_blk.data();
        for (std::size_t off = 0; off < in.size(); off += block_in)
            p += EVP_EncodeBlock(reinterpret_cast<unsigned char*>(p), in.data() + off,
                                 static_cast<int>(std::min(block_in, in.size() - off)));
    });
    const bool identical = std::memcmp(out_cc.data(), out_ssl.data(), out_size) == 0 &&
                           std::memcmp(out_inc.data(), out_ssl.data(), out_size) == 0 &&
                           std::memcmp(out_ssl_blk.data(), out_ssl.data(), out_size) == 0;

    bench::json_line line;
    line.str("tool", "encode")
        .integer("buffer_bytes", size)
        .num("base64_carcheck_mbps", mbps_carcheck)
        .num("base64_carcheck_incremental_mbps", mbps_incremental)
        .num("base64_openssl_mbps", mbps_openssl)
        .num("base64_openssl_blocks_mbps", mbps_openssl_blocks)
        .boolean("outputs_identical", identical)
        .str("openssl_version", OpenSSL_version(OPENSSL_VERSION));

    if (a.has("file")) {
        const std::string file = a.str("file");
        const std::uint64_t freps = a.num("framing-reps", 20000);
        std::vector<char> buf(1 << 20);
        std::uint64_t file_bytes = 0;
        const double ns_read = ns_per_op(freps, [&] {
            const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
            if (fd < 0)
                throw std::runtime_error("cannot open " + file);
            std::uint64_t n = 0;
            for (;;) {
                const ssize_t r = ::read(fd, buf.data(), buf.size());
                if (r <= 0)
                    break;
                n += static_cast<std::uint64_t>(r);
            }
            ::close(fd);
            file_bytes = n;
            sink = sink + n;
        });
        std::uint64_t multipart_bytes = 0, base64_bytes = 0;
        const double ns_multipart = ns_per_op(freps, [&] {
            carcheck::multipart_file_body::value_type body;
            std::string message;
            if (body.open(file, message))
                throw std::runtime_error(message);
            multipart_bytes = drain<carcheck::multipart_file_body>(body);
            sink = sink + multipart_bytes;
        });
        const double ns_base64 = ns_per_op(freps, [&] {
            carcheck::base64_body::value_type body;
            std::string message;
            if (body.open(file, message))
                throw std::runtime_error(message);
            base64_bytes = drain<carcheck::base64_body>(body);
            sink = sink + base64_bytes;
        });
        // The framing alone: a memory source, so no file I/O at all.
        const std::string bytes = bench::read_file(file);
        const std::span<const std::byte> mem(reinterpret_cast<const std::byte*>(bytes.data()), bytes.size());
        const double ns_multipart_mem = ns_per_op(freps, [&] {
            carcheck::multipart_file_body::value_type body;
            body.assign(mem);
            sink = sink + drain<carcheck::multipart_file_body>(body);
        });
        line.integer("framing_file_bytes", file_bytes)
            .integer("framing_multipart_body_bytes", multipart_bytes)
            .integer("framing_base64_body_bytes", base64_bytes)
            .num("framing_read_file_us", ns_read / 1e3)
            .num("framing_multipart_file_us", ns_multipart / 1e3)
            .num("framing_base64_file_us", ns_base64 / 1e3)
            .num("framing_multipart_memory_us", ns_multipart_mem / 1e3)
            .num("framing_multipart_overhead_us", (ns_multipart - ns_read) / 1e3);
    }
    line.print();
    return identical ? 0 : 1;
} catch (const std::exception& e) {
    std::fprintf(stderr, "carcheck_bench_encode: %s\n", e.what());
    return 2;
}
