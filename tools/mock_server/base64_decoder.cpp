#include "base64_decoder.hpp"

#include <utility>

namespace carcheck::mock {

namespace {

int sextet(char c) noexcept
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

bool blank(char c) noexcept { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

int hex_value(char c) noexcept
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

} // namespace

void base64_decoder::reset(bool json_allowed, image_sink* sink)
{
    sink_ = sink;
    json_ = false; // set once the body turns out to be a JSON string
    state_ = json_allowed ? state::before_string : state::in_string;
    quad_ = have_ = pad_ = unicode_digits_ = unicode_value_ = 0;
    out_size_ = 0;
    error_.clear();
}

void base64_decoder::fail(std::string message)
{
    if (state_ != state::failed)
        error_ = std::move(message);
    state_ = state::failed;
}

void base64_decoder::flush()
{
    sink_->write(out_.data(), out_size_);
    out_size_ = 0;
}

void base64_decoder::symbol(char c)
{
    if (blank(c))
        return;
    if (c == '=') {
        // Padding completes a quad that has 2 or 3 data characters.
        if (have_ < 2 || have_ + pad_ >= 4)
            return fail("image_bytes is not valid base64 (misplaced '=')");
        ++pad_;
        if (have_ + pad_ == 4) {
            const unsigned value = quad_ << (6 * pad_);
            for (unsigned i = 0; i + 1 < have_; ++i)
                out_[out_size_++] = static_cast<char>((value >> (16 - 8 * i)) & 0xFF);
            if (out_size_ + 3 > out_.size())
                flush();
        }
        return;
    }
    const int v = sextet(c);
    if (v < 0)
        return fail("image_bytes is not valid base64 (unexpected character)");
    if (pad_ != 0)
        return fail("image_bytes is not valid base64 (data after '=')");
    quad_ = (quad_ << 6) | static_cast<unsigned>(v);
    if (++have_ == 4) {
        out_[out_size_++] = static_cast<char>((quad_ >> 16) & 0xFF);
        out_[out_size_++] = static_cast<char>((quad_ >> 8) & 0xFF);
        out_[out_size_++] = static_cast<char>(quad_ & 0xFF);
        quad_ = have_ = 0;
        if (out_size_ + 3 > out_.size())
            flush();
    }
}

void base64_decoder::write(const char* data, std::size_t size)
{
    for (std::size_t i = 0; i < size && state_ != state::failed; ++i) {
        const char c = data[i];
        switch (state_) {
        case state::before_string:
            if (c == '"') {
                json_ = true;
                state_ = state::in_string;
            } else if (sextet(c) >= 0 || c == '=') {
                state_ = state::in_string; // the bare text, as the live service takes it
                symbol(c);
            } else if (!blank(c)) {
                fail("image_bytes must be base64 text or a JSON string of it");
            }
            break;
        case state::in_string:
            if (json_ && c == '"')
                state_ = state::after_string;
            else if (json_ && c == '\\')
                state_ = state::escape;
            else if (json_ && static_cast<unsigned char>(c) < 0x20)
                fail("image_bytes is not a valid JSON string (raw control character)");
            else
                symbol(c);
            break;
        case state::escape:
            state_ = state::in_string;
            switch (c) {
            case '/': symbol('/'); break;
            case 'n': case 'r': case 't': break; // line breaks of MIME-style base64
            case 'u': state_ = state::unicode; unicode_digits_ = unicode_value_ = 0; break;
            default: fail("image_bytes is not valid base64 (unexpected JSON escape)");
            }
            break;
        case state::unicode: {
            const int h = hex_value(c);
            if (h < 0)
                return fail("image_bytes is not a valid JSON string (bad \\u escape)");
            unicode_value_ = unicode_value_ * 16 + static_cast<unsigned>(h);
            if (++unicode_digits_ == 4) {
                state_ = state::in_string;
                if (unicode_value_ >= 0x80)
                    fail("image_bytes is not valid base64 (unexpected character)");
                else
                    symbol(static_cast<char>(unicode_value_));
            }
            break;
        }
        case state::after_string:
            if (!blank(c))
                fail("image_bytes must be a JSON string of base64 text (trailing data)");
            break;
        case state::failed:
            break;
        }
    }
    if (state_ != state::failed && out_size_ != 0)
        flush();
}

void base64_decoder::finish()
{
    if (state_ == state::failed)
        return;
    if (json_ && state_ != state::after_string)
        return fail("image_bytes must be a JSON string of base64 text (unterminated)");
    if (pad_ == 0 && have_ != 0) {
        // Unpadded tail: 2 or 3 characters carry 1 or 2 bytes.
        if (have_ == 1)
            return fail("image_bytes is not valid base64 (truncated)");
        const unsigned bits = have_ * 6;
        const unsigned bytes = have_ - 1;
        const unsigned value = quad_ << (24 - bits);
        for (unsigned i = 0; i < bytes; ++i)
            out_[out_size_++] = static_cast<char>((value >> (16 - 8 * i)) & 0xFF);
        flush();
    } else if (pad_ != 0 && have_ + pad_ != 4) {
        return fail("image_bytes is not valid base64 (incomplete padding)");
    }
    quad_ = have_ = pad_ = 0;
}

} // namespace carcheck::mock
