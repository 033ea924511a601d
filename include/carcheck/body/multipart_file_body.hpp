#ifndef CARCHECK_BODY_MULTIPART_FILE_BODY_HPP
#define CARCHECK_BODY_MULTIPART_FILE_BODY_HPP

// multipart/form-data request body (RFC 7578) with one file field, "image", streamed from a
// file or from a caller-owned buffer, and optional extra text fields sent before it.
//
//   http::request<carcheck::multipart_file_body> req{http::verb::post, "/v3/recognize", 11};
//   if (auto ec = req.body().open("car.jpg", message)) ...;
//   req.set(http::field::content_type, req.body().content_type());
//   req.prepare_payload();           // Content-Length = exact size; never chunked
//   http::write(stream, req);        // any Beast stream, sync or async
//
// Memory: the writer holds one block buffer (64 KiB by default, or the file's size when
// smaller; taken from and given back to a small per-thread cache, so consecutive small
// uploads share one) and nothing else; a file of any size is sent in constant memory. Each
// serializer (one per send attempt) constructs a new writer, which starts again at byte 0, so
// a retry resends the same request object. A small request can skip the block buffer:
// writer::write_into() puts the whole body into the caller's buffer, the file read straight
// into place (the client does this for bodies up to 64 KiB).
//
// Block size: 64 KiB is a multiple of the 16 KiB TLS record, fits in L2 next to the TLS
// buffers, and makes the read() syscall cost per byte negligible; a block read from the page
// cache takes some microseconds, so the event loop is never held for long.
//
// Errors from the write: carcheck::error::file_changed (the file is shorter or longer than
// when it was opened, or was deleted), carcheck::error::file_read_failed (the OS error text is
// in error_detail()). Both keep the request's Content-Length honest: the body stops instead
// of sending bytes that do not match it. path() names the file.

#include <carcheck/detail/file_source.hpp>
#include <carcheck/error.hpp>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/optional/optional.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace carcheck {

struct multipart_file_body {
    class value_type;
    class writer;

    /// Exact number of body bytes; lets message::prepare_payload() set Content-Length.
    static std::uint64_t size(const value_type& body) noexcept;
};

class multipart_file_body::value_type {
public:
    static constexpr std::size_t default_block_size = 64 * 1024;

    /// A new random boundary; no source yet.
    value_type() : boundary_(make_boundary()) { rebuild(); }

    /// Streams the file at `path` as the "image" field; see detail::file_source::open for
    /// what is rejected. On failure `message` names the file and the body has no source.
    error_code open(std::filesystem::path path, std::string& message)
    {
        auto ec = source_.open(std::move(path), message);
        filename_ = ec ? std::string() : source_.path().filename().string();
        rebuild();
        return ec;
    }

    /// Streams the caller's buffer as the "image" field, without copying it; the buffer must
    /// stay valid and unchanged until the request is destroyed.
    void assign(std::span<const std::byte> data, std::string filename = "image.jpg")
    {
        source_.assign(data);
        filename_ = std::move(filename);
        rebuild();
    }

    /// Adds a text field, sent before the file part in the order added.
    void add_field(std::string_view name, std::string_view value)
    {
        fields_.emplace_back(std::string(name), std::string(value));
        rebuild();
    }

    /// Bytes read from the file per block (at least 1); see the header comment.
    void set_block_size(std::size_t n) noexcept { block_size_ = n == 0 ? 1 : n; }
    std::size_t block_size() const noexcept { return block_size_; }

    /// The value of the Content-Type header: multipart/form-data; boundary=...
    std::string content_type() const { return "multipart/form-data; boundary=" + boundary_; }
    const std::string& boundary() const noexcept { return boundary_; }

    /// Exact total size of the body: fields, part header, file bytes, closing delimiter.
    std::uint64_t size() const noexcept { return framing_.size() + source_.size(); }

    /// The file's path (empty for a memory source).
    const std::filesystem::path& path() const noexcept { return source_.path(); }
    /// The filename parameter sent (unescaped).
    const std::string& filename() const noexcept { return filename_; }
    /// The Content-Type of the file part, sniffed from its first bytes.
    std::string_view file_content_type() const noexcept { return source_.content_type(); }
    /// What went wrong when the last write failed with file_changed / file_read_failed.
    const std::string& error_detail() const noexcept { return error_detail_; }

    bool has_source() const noexcept { return source_.ready(); }

private:
    friend class multipart_file_body::writer;

    static std::string make_boundary()
    {
        static constexpr char alnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        // 40 characters of 62: 238 random bits. Unbiased: bytes >= 248 (= 4 * 62) are dropped.
        std::string b;
        b.reserve(9 + 40);
        b = "carcheck-";
        // One generator per thread, seeded once from std::random_device: constructing a
        // random_device per request costs tens of microseconds on some virtual machines.
        thread_local std::mt19937_64 rng = [] {
            std::random_device rd;
            std::seed_seq seq{rd(), rd(), rd(), rd(), rd(), rd(), rd(), rd()};
            return std::mt19937_64(seq);
        }();
        while (b.size() < 9 + 40) {
            auto word = static_cast<std::uint32_t>(rng() >> 32);
            for (int i = 0; i < 4 && b.size() < 9 + 40; ++i, word >>= 8)
                if ((word & 0xFF) < 248)
                    b += alnum[(word & 0xFF) % 62];
        }
        return b;
    }

    /// A quoted-string parameter value: '"' and '\' backslash-escaped; CR, LF and other
    /// control characters percent-encoded (as HTML forms do), so no value can end the header.
    static void append_quoted(std::string& out, std::string_view v)
    {
        static constexpr char hex[] = "0123456789ABCDEF";
        out += '"';
        for (char c : v) {
            const auto u = static_cast<unsigned char>(c);
            if (c == '"' || c == '\\') {
                out += '\\';
                out += c;
            } else if (u < 0x20 || u == 0x7F) {
                out += '%';
                out += hex[u >> 4];
                out += hex[u & 15];
            } else {
                out += c;
            }
        }
        out += '"';
    }

    /// Builds the framing in place, head and closing delimiter in one string: no
    /// temporaries, and the constructor's build leaves room for the usual open() or assign()
    /// to rebuild without growing it (one allocation for the framing in all).
    void rebuild()
    {
        std::size_t fields_size = 0;
        for (const auto& [name, value] : fields_)
            fields_size += 64 + boundary_.size() + 3 * name.size() + value.size();
        const std::size_t want = 160 + 2 * boundary_.size() + 3 * filename_.size() + fields_size;
        framing_.clear();
        framing_.reserve(want < 384 ? 384 : want);
        auto delimiter = [this] {
            framing_ += "--";
            framing_ += boundary_;
        };
        for (const auto& [name, value] : fields_) {
            delimiter();
            framing_ += "\r\nContent-Disposition: form-data; name=";
            append_quoted(framing_, name);
            framing_ += "\r\n\r\n";
            framing_ += value;
            framing_ += "\r\n";
        }
        delimiter();
        framing_ += "\r\nContent-Disposition: form-data; name=\"image\"; filename=";
        append_quoted(framing_, filename_);
        framing_ += "\r\nContent-Type: ";
        framing_ += source_.content_type();
        framing_ += "\r\n\r\n";
        head_size_ = framing_.size();
        framing_ += "\r\n";
        delimiter();
        framing_ += "--\r\n";
    }

    std::string_view head() const noexcept { return std::string_view(framing_).substr(0, head_size_); }
    std::string_view tail() const noexcept { return std::string_view(framing_).substr(head_size_); }

    detail::file_source source_;
    std::string boundary_;
    std::string filename_;
    std::vector<std::pair<std::string, std::string>> fields_;
    std::string framing_;       // fields and the image part's header, then the closing delimiter
    std::size_t head_size_ = 0; // where the closing delimiter starts
    std::size_t block_size_ = default_block_size;
    std::string error_detail_;
};

inline std::uint64_t multipart_file_body::size(const value_type& body) noexcept
{
    return body.size();
}

/// Beast BodyWriter: head, then the file in blocks, then the closing delimiter.
class multipart_file_body::writer {
public:
    /// Up to three pieces per get(): head (first call only), data, closing delimiter (last).
    using const_buffers_type = std::array<boost::asio::const_buffer, 3>;

    template <bool isRequest, class Fields>
    writer(boost::beast::http::header<isRequest, Fields>&, value_type& body) : body_(body)
    {
    }

    void init(error_code& ec)
    {
        head_sent_ = false;
        done_ = false;
        body_.error_detail_.clear();
        ec = reader_.begin(body_.source_, body_.block_size_, body_.error_detail_);
    }

    boost::optional<std::pair<const_buffers_type, bool>> get(error_code& ec)
    {
        ec = {};
        if (done_)
            return boost::none;
        namespace net = boost::asio;
        const auto& src = body_.source_;
        const_buffers_type out{};
        std::size_t i = 0;
        if (!head_sent_) {
            out[i++] = net::buffer(body_.head());
            head_sent_ = true;
        }
        if (!reader_.at_end(src)) {
            std::span<const std::byte> block;
            if (auto e = reader_.next(src, src.size(), block, body_.error_detail_)) {
                ec = e;
                return boost::none;
            }
            out[i++] = net::buffer(block.data(), block.size());
        }
        if (reader_.at_end(src)) {
            out[i++] = net::buffer(body_.tail());
            done_ = true;
        }
        return std::make_pair(out, !done_);
    }

    /// Instead of get(), right after init(): the whole body in one step, written into `dst`
    /// with the file read straight into place (no block buffer, no copy), for requests small
    /// enough to be serialised into one buffer. `dst` must have room for size() + 1 bytes
    /// (one more byte is asked of the file, to notice that it grew). Returns the bytes
    /// written; errors as get(), and invalid_argument when `dst` is too small.
    std::size_t write_into(std::span<std::byte> dst, error_code& ec)
    {
        ec = {};
        const auto& src = body_.source_;
        const std::string_view head = body_.head(), tail = body_.tail();
        if (head_sent_ || done_ || dst.size() <= body_.size()) {
            body_.error_detail_ = "write_into needs a fresh writer and room for the body and one byte more";
            ec = error::invalid_argument;
            return 0;
        }
        std::byte* at = dst.data();
        std::memcpy(at, head.data(), head.size());
        at += head.size();
        if (auto e = reader_.rest_into(src, at, body_.error_detail_)) {
            ec = e;
            return 0;
        }
        at += src.size();
        std::memcpy(at, tail.data(), tail.size());
        head_sent_ = done_ = true;
        return static_cast<std::size_t>(body_.size());
    }

private:
    value_type& body_;
    detail::block_reader reader_;
    bool head_sent_ = false;
    bool done_ = false;
};

} // namespace carcheck

#endif
