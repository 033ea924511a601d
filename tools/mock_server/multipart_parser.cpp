#include "multipart_parser.hpp"

#include <algorithm>
#include <cctype>
#include <utility>
#include <vector>

namespace carcheck::mock {

namespace {

bool iequals(std::string_view a, std::string_view b)
{
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
           });
}

std::string_view trim(std::string_view s)
{
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
        s.remove_suffix(1);
    return s;
}

/// Parses `type; a=b; c="d \" e"` into the type and a parameter lookup.
struct header_value {
    std::string type;
    std::vector<std::pair<std::string, std::string>> params;

    explicit header_value(std::string_view v)
    {
        std::size_t i = 0;
        auto skip_ws = [&] {
            while (i < v.size() && (v[i] == ' ' || v[i] == '\t'))
                ++i;
        };
        skip_ws();
        while (i < v.size() && v[i] != ';')
            type += v[i++];
        type = std::string(trim(type));
        while (i < v.size()) {
            ++i; // ';'
            skip_ws();
            std::string name, value;
            while (i < v.size() && v[i] != '=' && v[i] != ';')
                name += static_cast<char>(std::tolower(static_cast<unsigned char>(v[i++])));
            if (i < v.size() && v[i] == '=') {
                ++i;
                skip_ws();
                if (i < v.size() && v[i] == '"') {
                    ++i;
                    while (i < v.size() && v[i] != '"') {
                        if (v[i] == '\\' && i + 1 < v.size())
                            ++i;
                        value += v[i++];
                    }
                    if (i < v.size())
                        ++i; // closing quote
                    while (i < v.size() && v[i] != ';')
                        ++i;
                } else {
                    while (i < v.size() && v[i] != ';')
                        value += v[i++];
                    value = std::string(trim(value));
                }
            }
            params.emplace_back(std::string(trim(name)), std::move(value));
        }
    }

    const std::string* param(std::string_view name) const
    {
        for (const auto& [n, v] : params)
            if (n == name)
                return &v;
        return nullptr;
    }
};

} // namespace

std::string multipart_boundary(std::string_view content_type)
{
    header_value v(content_type);
    if (!iequals(v.type, "multipart/form-data"))
        return {};
    const auto* b = v.param("boundary");
    // RFC 2046: 1..70 characters.
    if (!b || b->empty() || b->size() > 70)
        return {};
    return *b;
}

void multipart_parser::reset(std::string_view boundary, image_sink* sink)
{
    sink_ = sink;
    delimiter_ = "\r\n--";
    delimiter_.append(boundary);
    // The first delimiter may open the body without a preceding CRLF: pretend there was one.
    buf_ = "\r\n";
    state_ = state::preamble;
    part_is_image_ = image_seen_ = false;
    error_.clear();
    image_name_.clear();
    image_filename_.clear();
    image_type_.clear();
}

void multipart_parser::fail(std::string message)
{
    error_ = std::move(message);
    state_ = state::failed;
    std::string().swap(buf_);
}

void multipart_parser::write(const char* data, std::size_t size)
{
    if (state_ == state::failed || state_ == state::epilogue)
        return;
    buf_.append(data, size);
    run();
}

void multipart_parser::run()
{
    // Consumes as much of buf_ as the current state allows; erases it at the end.
    std::size_t pos = 0;
    const std::string_view all(buf_);
    for (;;) {
        const std::string_view rest = all.substr(pos);
        switch (state_) {
        case state::preamble: {
            const auto at = rest.find(delimiter_);
            if (at == std::string_view::npos) {
                // Keep only what could still be the start of a delimiter.
                if (rest.size() >= delimiter_.size())
                    pos += rest.size() - (delimiter_.size() - 1);
                goto done;
            }
            pos += at + delimiter_.size();
            state_ = state::after_delimiter;
            break;
        }
        case state::after_delimiter: {
            if (rest.size() < 2)
                goto done;
            if (rest.substr(0, 2) == "--") {
                state_ = state::epilogue;
                pos = all.size();
                goto done;
            }
            std::size_t i = 0; // transport padding before the CRLF
            while (i < rest.size() && (rest[i] == ' ' || rest[i] == '\t'))
                ++i;
            if (rest.size() - i < 2) {
                if (rest.size() > 256)
                    return fail("image: malformed multipart delimiter line");
                goto done;
            }
            if (rest.substr(i, 2) != "\r\n")
                return fail("image: malformed multipart delimiter line");
            pos += i + 2;
            state_ = state::headers;
            break;
        }
        case state::headers: {
            std::string_view block;
            if (rest.substr(0, 2) == "\r\n") {
                pos += 2; // a part without header fields
            } else {
                const auto end = rest.find("\r\n\r\n");
                if (end == std::string_view::npos) {
                    if (rest.size() > max_part_headers)
                        return fail("image: multipart part headers too long");
                    goto done;
                }
                block = rest.substr(0, end);
                pos += end + 4;
            }
            if (!parse_headers(block))
                return;
            state_ = state::body;
            break;
        }
        case state::body: {
            const auto at = rest.find(delimiter_);
            if (at == std::string_view::npos) {
                if (rest.size() >= delimiter_.size()) {
                    const auto n = rest.size() - (delimiter_.size() - 1);
                    if (part_is_image_)
                        sink_->write(rest.data(), n);
                    pos += n;
                }
                goto done;
            }
            if (part_is_image_)
                sink_->write(rest.data(), at);
            part_is_image_ = false;
            pos += at + delimiter_.size();
            state_ = state::after_delimiter;
            break;
        }
        case state::epilogue:
        case state::failed:
            pos = all.size();
            goto done;
        }
    }
done:
    buf_.erase(0, pos);
}

bool multipart_parser::parse_headers(std::string_view block)
{
    std::string name, filename, type;
    bool form_data = false;
    while (!block.empty()) {
        auto eol = block.find("\r\n");
        std::string_view line = block.substr(0, eol);
        block = eol == std::string_view::npos ? std::string_view{} : block.substr(eol + 2);
        const auto colon = line.find(':');
        if (colon == std::string_view::npos) {
            fail("image: malformed multipart part header");
            return false;
        }
        const auto field = trim(line.substr(0, colon));
        const auto value = trim(line.substr(colon + 1));
        if (iequals(field, "Content-Disposition")) {
            header_value v(value);
            form_data = iequals(v.type, "form-data");
            if (const auto* n = v.param("name"))
                name = *n;
            if (const auto* f = v.param("filename"))
                filename = *f;
        } else if (iequals(field, "Content-Type")) {
            type = std::string(value);
        }
    }
    part_is_image_ = form_data && name == "image" && !image_seen_;
    if (part_is_image_) {
        image_seen_ = true;
        image_name_ = name;
        image_filename_ = filename;
        image_type_ = type;
    }
    return true;
}

void multipart_parser::finish()
{
    if (state_ == state::failed)
        return;
    if (state_ != state::epilogue)
        return fail("image: multipart body ended before its closing boundary");
    if (!image_seen_)
        fail("image is required: no multipart form-data field named 'image'");
}

} // namespace carcheck::mock
