#ifndef CARCHECK_MOCK_MULTIPART_PARSER_HPP
#define CARCHECK_MOCK_MULTIPART_PARSER_HPP

// Incremental multipart/form-data parser (RFC 7578 / RFC 2046). Bytes arrive in arbitrary
// pieces; the delimiter may be split across them. Only a bounded tail (the delimiter length,
// or one part's header block) is ever buffered: the image part streams into an image_sink.

#include "image_sink.hpp"

#include <string>
#include <string_view>

namespace carcheck::mock {

class multipart_parser {
public:
    static constexpr std::size_t max_part_headers = 16 * 1024;

    /// Starts a new body with this boundary; the first part named `image` goes to `sink`.
    void reset(std::string_view boundary, image_sink* sink);
    void write(const char* data, std::size_t size);
    void finish();

    /// Empty while the body is well-formed; else names the problem (mentions "image").
    const std::string& error() const noexcept { return error_; }
    bool found_image() const noexcept { return image_seen_; }
    const std::string& image_field_name() const noexcept { return image_name_; }
    const std::string& image_filename() const noexcept { return image_filename_; }
    const std::string& image_content_type() const noexcept { return image_type_; }

private:
    enum class state { preamble, after_delimiter, headers, body, epilogue, failed };
    void run();
    bool parse_headers(std::string_view block);
    void fail(std::string message);

    image_sink* sink_ = nullptr;
    std::string delimiter_; // "\r\n--" + boundary
    std::string buf_;
    state state_ = state::preamble;
    bool part_is_image_ = false, image_seen_ = false;
    std::string error_, image_name_, image_filename_, image_type_;
};

/// The boundary parameter of a multipart/form-data Content-Type; empty if it is not one.
std::string multipart_boundary(std::string_view content_type);

} // namespace carcheck::mock

#endif
