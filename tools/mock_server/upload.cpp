#include "upload.hpp"

namespace carcheck::mock {

void upload::configure(upload_mode mode, std::string_view boundary, bool keep_full)
{
    mode_ = mode;
    body_size_ = 0;
    body_digest_.clear();
    image_.reset(keep_full);
    if (mode == upload_mode::multipart)
        multipart_.reset(boundary, &image_);
    else if (mode == upload_mode::base64_json || mode == upload_mode::base64_raw)
        base64_.reset(mode == upload_mode::base64_json, &image_);
}

void upload::write(const char* data, std::size_t size)
{
    body_size_ += size;
    body_hash_.update(data, size);
    switch (mode_) {
    case upload_mode::discard: break;
    case upload_mode::raw: image_.write(data, size); break;
    case upload_mode::multipart: multipart_.write(data, size); break;
    case upload_mode::base64_json:
    case upload_mode::base64_raw: base64_.write(data, size); break;
    }
}

void upload::finish()
{
    body_digest_ = body_hash_.hex_digest();
    if (mode_ == upload_mode::multipart)
        multipart_.finish();
    else if (mode_ == upload_mode::base64_json || mode_ == upload_mode::base64_raw)
        base64_.finish();
    image_.finish();
}

const std::string& upload::error() const noexcept
{
    if (mode_ == upload_mode::multipart)
        return multipart_.error();
    return base64_.error(); // empty unless a base64 mode failed (reset() clears it)
}

} // namespace carcheck::mock
