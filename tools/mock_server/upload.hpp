#ifndef CARCHECK_MOCK_UPLOAD_HPP
#define CARCHECK_MOCK_UPLOAD_HPP

// One request (or fetched) body as it streams in: the raw bytes are counted and hashed, and
// decoded according to the route (multipart, base64, as-is) into the image_sink.

#include "base64_decoder.hpp"
#include "image_sink.hpp"
#include "multipart_parser.hpp"

#include <cstdint>
#include <string>

namespace carcheck::mock {

enum class upload_mode {
    discard,     ///< count and hash only (no image expected, or the answer is already known)
    raw,         ///< the body is the image (fetched by /recognize_url)
    multipart,   ///< multipart/form-data, field "image"
    base64_json, ///< a JSON string of base64
    base64_raw   ///< base64 text
};

class upload {
public:
    void configure(upload_mode mode, std::string_view boundary = {}, bool keep_full = false);
    void write(const char* data, std::size_t size);
    void finish();

    upload_mode mode() const noexcept { return mode_; }
    /// finish() ran (Beast does not call the reader for a request without a body).
    bool finished() const noexcept { return !body_digest_.empty(); }
    std::uint64_t body_size() const noexcept { return body_size_; }
    const std::string& body_sha256() const noexcept { return body_digest_; }
    const image_sink& image() const noexcept { return image_; }
    const multipart_parser& multipart() const noexcept { return multipart_; }
    /// Empty when the body was well-formed for its mode.
    const std::string& error() const noexcept;

private:
    upload_mode mode_ = upload_mode::discard;
    std::uint64_t body_size_ = 0;
    sha256 body_hash_;
    std::string body_digest_;
    image_sink image_;
    multipart_parser multipart_;
    base64_decoder base64_;
};

} // namespace carcheck::mock

#endif
