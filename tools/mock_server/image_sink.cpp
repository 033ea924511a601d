#include "image_sink.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <stdexcept>

namespace carcheck::mock {

void sha256::ctx_deleter::operator()(void* p) const noexcept
{
    EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(p));
}

sha256::sha256() : ctx_(EVP_MD_CTX_new())
{
    if (!ctx_ || EVP_DigestInit_ex(static_cast<EVP_MD_CTX*>(ctx_.get()), EVP_sha256(), nullptr) != 1)
        throw std::runtime_error("EVP SHA-256 initialisation failed");
}

sha256::~sha256() = default;
sha256::sha256(sha256&&) noexcept = default;
sha256& sha256::operator=(sha256&&) noexcept = default;

void sha256::update(const void* data, std::size_t size)
{
    if (size != 0)
        EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(ctx_.get()), data, size);
}

std::string sha256::hex_digest()
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    auto* ctx = static_cast<EVP_MD_CTX*>(ctx_.get());
    EVP_DigestFinal_ex(ctx, md, &len);
    EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(len * 2);
    for (unsigned i = 0; i < len; ++i) {
        out += digits[md[i] >> 4];
        out += digits[md[i] & 0xF];
    }
    return out;
}

void image_sink::reset(bool keep_full)
{
    (void)hash_.hex_digest(); // restarts the digest
    size_ = 0;
    prefix_.clear();
    full_.clear();
    digest_.clear();
    keep_full_ = keep_full;
    too_big_ = false;
}

void image_sink::write(const char* data, std::size_t size)
{
    if (size == 0)
        return;
    hash_.update(data, size);
    size_ += size;
    if (prefix_.size() < prefix_limit)
        prefix_.append(data, std::min(size, prefix_limit - prefix_.size()));
    if (keep_full_ && !too_big_) {
        if (full_.size() + size > full_limit) {
            too_big_ = true; // remember, and free what was kept: the reply will be a 400
            std::string().swap(full_);
        } else {
            full_.append(data, size);
        }
    }
}

void image_sink::finish()
{
    digest_ = hash_.hex_digest();
}

} // namespace carcheck::mock
