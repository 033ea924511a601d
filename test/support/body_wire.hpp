#ifndef CARCHECK_TEST_SUPPORT_BODY_WIRE_HPP
#define CARCHECK_TEST_SUPPORT_BODY_WIRE_HPP

// Helpers of the body unit tests: a scratch directory for image files, reproducible random
// bytes, and serialisation of a request through Beast into the exact bytes on the wire.

#include <carcheck/error.hpp>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/write.hpp>

#include <algorithm>
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <random>
#include <span>
#include <string>

#include <unistd.h>

namespace carcheck_test {

/// A unique directory under the system temp dir, removed with everything in it (also when
/// a test took its permissions away).
struct scratch_dir {
    std::filesystem::path dir;
    scratch_dir()
    {
        std::random_device rd;
        dir = std::filesystem::temp_directory_path() /
              ("carcheck-body-test-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
        std::filesystem::create_directories(dir);
    }
    ~scratch_dir()
    {
        namespace fs = std::filesystem;
        std::error_code ec;
        fs::permissions(dir, fs::perms::owner_all, fs::perm_options::add, ec);
        fs::remove_all(dir, ec);
    }
    scratch_dir(const scratch_dir&) = delete;
    scratch_dir& operator=(const scratch_dir&) = delete;

    std::filesystem::path write(const std::string& name, const std::string& content) const
    {
        auto p = dir / name;
        std::ofstream(p, std::ios::binary).write(content.data(), static_cast<std::streamsize>(content.size()));
        return p;
    }
};

/// `n` pseudo-random bytes, the same for the same seed.
inline std::string random_string(std::size_t n, unsigned seed)
{
    std::mt19937 gen(seed);
    std::string s(n, '\0');
    for (auto& c : s)
        c = static_cast<char>(gen());
    return s;
}

inline std::span<const std::byte> bytes_of(const std::string& s)
{
    return std::as_bytes(std::span<const char>(s.data(), s.size()));
}

/// SyncWriteStream appending everything written to a string.
struct string_sink {
    std::string* out;
    template <class ConstBufferSequence>
    std::size_t write_some(const ConstBufferSequence& buffers, carcheck::error_code& ec)
    {
        ec = {};
        std::size_t n = 0;
        for (auto it = boost::asio::buffer_sequence_begin(buffers); it != boost::asio::buffer_sequence_end(buffers);
             ++it) {
            boost::asio::const_buffer b = *it;
            out->append(static_cast<const char*>(b.data()), b.size());
            n += b.size();
        }
        return n;
    }
    template <class ConstBufferSequence>
    std::size_t write_some(const ConstBufferSequence& buffers)
    {
        carcheck::error_code ec;
        return write_some(buffers, ec);
    }
};

/// A serialised request split at the end of its header, and the serializer's error.
struct wire {
    carcheck::error_code ec;
    std::string header, body;
};

template <class Body>
wire serialize(boost::beast::http::request<Body>& req)
{
    std::string all;
    string_sink sink{&all};
    wire w;
    boost::beast::http::request_serializer<Body> sr{req};
    boost::beast::http::write(sink, sr, w.ec);
    const auto end = all.find("\r\n\r\n");
    if (end == std::string::npos) {
        w.body = all;
        return w;
    }
    w.header = all.substr(0, end + 4);
    w.body = all.substr(end + 4);
    return w;
}

/// Drives a body's BodyWriter by hand, one get() at a time, as a serializer would.
template <class Body>
struct writer_driver {
    boost::beast::http::request<Body>& req;
    typename Body::writer w{req.base(), req.body()};
    std::size_t largest = 0; ///< the largest block get() returned

    carcheck::error_code init()
    {
        carcheck::error_code ec;
        w.init(ec);
        return ec;
    }
    /// One get(); appends to `out` (if given); returns false at the end or on error.
    bool step(carcheck::error_code& ec, std::string* out)
    {
        auto r = w.get(ec);
        if (ec || !r)
            return false;
        std::size_t n = 0;
        for (auto it = boost::asio::buffer_sequence_begin(r->first); it != boost::asio::buffer_sequence_end(r->first);
             ++it) {
            boost::asio::const_buffer b = *it;
            n += b.size();
            if (out)
                out->append(static_cast<const char*>(b.data()), b.size());
        }
        largest = std::max(largest, n);
        return r->second;
    }
};

/// `size` bytes (a multiple of 64 KiB) of reproducible random data at `path`.
inline void write_random_file(const std::filesystem::path& path, std::size_t size, unsigned seed)
{
    std::ofstream out(path, std::ios::binary);
    const auto chunk = random_string(1 << 16, seed);
    for (std::size_t i = 0; i < size / chunk.size(); ++i)
        out.write(chunk.data(), static_cast<std::streamsize>(chunk.size()));
}

/// The process's peak resident set (VmHWM, Linux), 0 when unknown.
inline std::size_t vm_hwm_kib()
{
    std::ifstream f("/proc/self/status");
    std::string line;
    while (std::getline(f, line))
        if (line.rfind("VmHWM:", 0) == 0)
            return std::stoul(line.substr(6));
    return 0;
}

} // namespace carcheck_test

#endif
