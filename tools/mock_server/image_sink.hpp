#ifndef CARCHECK_MOCK_IMAGE_SINK_HPP
#define CARCHECK_MOCK_IMAGE_SINK_HPP

// Where decoded image bytes end up: hashed (SHA-256), counted, the first 64 KiB kept for
// "recognition", and the whole image kept only when the reply must echo it (return_image).
// Memory stays flat in the image size otherwise.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace carcheck::mock {

/// Incremental SHA-256 over OpenSSL EVP.
class sha256 {
public:
    sha256();
    ~sha256();
    sha256(sha256&&) noexcept;
    sha256& operator=(sha256&&) noexcept;
    void update(const void* data, std::size_t size);
    /// Lower-case hex digest; resets the state for a new message.
    std::string hex_digest();

private:
    struct ctx_deleter {
        void operator()(void*) const noexcept;
    };
    std::unique_ptr<void, ctx_deleter> ctx_;
};

class image_sink {
public:
    static constexpr std::size_t prefix_limit = 64 * 1024;
    static constexpr std::size_t full_limit = 32u << 20;

    /// keep_full: retain the whole image (up to full_limit) for return_image=1.
    void reset(bool keep_full);
    void write(const char* data, std::size_t size);
    /// Computes the digest; call once after the last write.
    void finish();

    std::uint64_t size() const noexcept { return size_; }
    const std::string& prefix() const noexcept { return prefix_; }
    const std::string& full() const noexcept { return full_; }
    bool full_too_big() const noexcept { return too_big_; }
    const std::string& sha256_hex() const noexcept { return digest_; }

private:
    sha256 hash_;
    std::uint64_t size_ = 0;
    std::string prefix_, full_, digest_;
    bool keep_full_ = false, too_big_ = false;
};

} // namespace carcheck::mock

#endif
