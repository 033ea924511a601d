#ifndef CARCHECK_BODY_BASE64_BODY_HPP
#define CARCHECK_BODY_BASE64_BODY_HPP

// The /recognize_bytes request body: the base64 of a file or a caller-owned buffer, sent as
// the bare base64 text (base64_encoding::raw, the default: what the live service is known to
// accept) or as a JSON string ("...", base64_encoding::json_string); Content-Type
// application/json either way, as the spec declares (see base64_encoding.hpp for the evidence).
//
//   http::request<carcheck::base64_body> req{http::verb::post, "/v3/recognize_bytes", 11};
//   if (auto ec = req.body().open("car.jpg", message)) ...;   // or assign(span)
//   req.set(http::field::content_type, req.body().content_type());
//   req.prepare_payload();           // Content-Length = exact size; never chunked
//
// Streamed: the writer reads a block (48 KiB by default: a multiple of 3, so blocks encode
// without a carried remainder and only the last one is padded), encodes it into one 64 KiB
// output buffer and hands that to Beast; memory sources are encoded straight from the
// caller's buffer. Memory use is the two block buffers, independent of the file size. Each
// serializer (one per send attempt) starts again at byte 0, so retries resend the same
// request object. Block size rationale: see multipart_file_body.hpp.
//
// Errors from the write: carcheck::error::file_changed / file_read_failed, as for
// multipart_file_body (error_detail() says what happened, path() names the file).

#include <carcheck/base64_encoding.hpp>
#include <carcheck/detail/base64.hpp>
#include <carcheck/detail/file_source.hpp>
#include <carcheck/error.hpp>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/optional/optional.hpp>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <utility>

namespace carcheck {

struct base64_body {
    class value_type;
    class writer;

    /// Exact number of body bytes; lets message::prepare_payload() set Content-Length.
    static std::uint64_t size(const value_type& body) noexcept;
};

class base64_body::value_type {
public:
    /// Encoded bytes per block handed to Beast (48 KiB of input).
    static constexpr std::size_t default_block_size = 64 * 1024;

    /// Streams the base64 of the file at `path`; rejects what detail::file_source::open
    /// rejects (missing, unreadable, not a regular file, empty), with `message` naming it.
    error_code open(std::filesystem::path path, std::string& message)
    {
        return source_.open(std::move(path), message);
    }

    /// Streams the base64 of the caller's buffer without copying it; the buffer must stay
    /// valid and unchanged until the request is destroyed.
    void assign(std::span<const std::byte> data) noexcept { source_.assign(data); }

    /// The bare base64 text (the default) or a JSON string of it.
    void set_encoding(base64_encoding e) noexcept { encoding_ = e; }
    base64_encoding encoding() const noexcept { return encoding_; }

    /// Encoded bytes per block (rounded down to a multiple of 4, at least 4); the file is
    /// read in blocks of 3/4 of it.
    void set_block_size(std::size_t n) noexcept { block_size_ = n < 4 ? 4 : n - n % 4; }
    std::size_t block_size() const noexcept { return block_size_; }

    /// application/json for both encodings: the spec's type for /recognize_bytes.
    std::string content_type() const { return "application/json"; }

    /// Exact size: the encoded length, plus the two quotes of a JSON string.
    std::uint64_t size() const noexcept
    {
        const std::uint64_t n = source_.size();
        return (n / 3 + (n % 3 != 0 ? 1 : 0)) * 4 + (quoted() ? 2 : 0);
    }

    const std::filesystem::path& path() const noexcept { return source_.path(); }
    /// The content type sniffed from the image's first bytes (not the request's).
    std::string_view image_content_type() const noexcept { return source_.content_type(); }
    const std::string& error_detail() const noexcept { return error_detail_; }
    bool has_source() const noexcept { return source_.ready(); }

private:
    friend class base64_body::writer;

    bool quoted() const noexcept { return encoding_ == base64_encoding::json_string; }

    detail::file_source source_;
    base64_encoding encoding_ = base64_encoding::raw;
    std::size_t block_size_ = default_block_size;
    std::string error_detail_;
};

inline std::uint64_t base64_body::size(const value_type& body) noexcept
{
    return body.size();
}

/// Beast BodyWriter: one encoded block per get(), the quotes attached to the first and last.
class base64_body::writer {
public:
    using const_buffers_type = boost::asio::const_buffer;

    template <bool isRequest, class Fields>
    writer(boost::beast::http::header<isRequest, Fields>&, value_type& body) : body_(body)
    {
    }

    void init(error_code& ec)
    {
        started_ = false;
        done_ = false;
        body_.error_detail_.clear();
        const auto& src = body_.source_;
        // Blocks of whole 3-byte groups, so that only the last one is padded.
        in_block_ = body_.block_size_ / 4 * 3;
        if ((ec = reader_.begin(src, in_block_, body_.error_detail_)))
            return;
        // Kept for retries; made again only when a larger block needs more room.
        const std::size_t first = src.size() < in_block_ ? static_cast<std::size_t>(src.size()) : in_block_;
        const std::size_t room = detail::base64::encoded_size(first) + 2;
        if (!out_ || out_capacity_ < room) {
            out_ = std::make_unique_for_overwrite<char[]>(room);
            out_capacity_ = room;
        }
    }

    boost::optional<std::pair<const_buffers_type, bool>> get(error_code& ec)
    {
        ec = {};
        if (done_)
            return boost::none;
        const auto& src = body_.source_;
        const bool json = body_.quoted();
        char* p = out_.get();
        if (!started_) {
            if (json)
                *p++ = '"';
            started_ = true;
        }
        if (!reader_.at_end(src)) {
            std::span<const std::byte> block;
            if (auto e = reader_.next(src, in_block_, block, body_.error_detail_)) {
                ec = e;
                return boost::none;
            }
            p += detail::base64::encode(p, block);
        }
        if (reader_.at_end(src)) {
            if (json)
                *p++ = '"';
            done_ = true;
        }
        return std::make_pair(boost::asio::const_buffer(out_.get(), static_cast<std::size_t>(p - out_.get())),
                              !done_);
    }

private:
    value_type& body_;
    detail::block_reader reader_;
    std::unique_ptr<char[]> out_;
    std::size_t out_capacity_ = 0;
    std::size_t in_block_ = 0;
    bool started_ = false;
    bool done_ = false;
};

} // namespace carcheck

#endif
