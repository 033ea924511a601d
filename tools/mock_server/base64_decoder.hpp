#ifndef CARCHECK_MOCK_BASE64_DECODER_HPP
#define CARCHECK_MOCK_BASE64_DECODER_HPP

// Incremental base64 decoder for /recognize_bytes. The body is the bare base64 text or, when
// JSON is allowed (Content-Type application/json), either that or a JSON string holding it
// (quotes, JSON escapes such as "\/" and "\n" unwrapped): the first character that is not
// blank tells which, since '"' is no base64 character. Whitespace between base64 characters
// is ignored; padding is optional. Decoded bytes stream into an image_sink.

#include "image_sink.hpp"

#include <array>
#include <string>

namespace carcheck::mock {

class base64_decoder {
public:
    /// json_allowed: a JSON string is accepted beside the bare text.
    void reset(bool json_allowed, image_sink* sink);
    void write(const char* data, std::size_t size);
    void finish();
    /// Empty while valid; else names the problem (mentions "image_bytes").
    const std::string& error() const noexcept { return error_; }

private:
    enum class state { before_string, in_string, escape, unicode, after_string, failed };
    void symbol(char c);
    void flush();
    void fail(std::string message);

    image_sink* sink_ = nullptr;
    bool json_ = false;
    state state_ = state::in_string;
    unsigned quad_ = 0, have_ = 0, pad_ = 0, unicode_digits_ = 0, unicode_value_ = 0;
    std::array<char, 3 * 4096> out_{};
    std::size_t out_size_ = 0;
    std::string error_;
};

} // namespace carcheck::mock

#endif
