#ifndef CARCHECK_DETAIL_FILE_SOURCE_HPP
#define CARCHECK_DETAIL_FILE_SOURCE_HPP

// The byte source shared by the streaming request bodies: either a file (opened and checked
// once, read with pread at explicit offsets so any number of writers -- one per send
// attempt -- can restart from byte 0 without seeking) or a caller-owned memory buffer
// (never copied). Also the content-type sniffing of the first bytes.
//
// Change detection: the size is recorded at open(). Every send attempt starts with an fstat
// (size differs, or the file was deleted -> file_changed before a byte is sent); a read that
// hits EOF before the recorded size -> file_changed; the read of the last block asks for one
// byte more than remains, and getting it means the file grew -> file_changed. A rewrite that
// keeps the size cannot be detected without hashing and is not.
//
// POSIX only (open/fstat/pread).

#include <carcheck/detail/recycled_allocator.hpp>
#include <carcheck/error.hpp>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace carcheck::detail {

/// The media type an image's first bytes announce: JPEG (FF D8 FF), PNG (89 'PNG'),
/// GIF ("GIF8"), BMP ("BM"), else application/octet-stream.
inline std::string_view sniff_content_type(std::span<const std::byte> head) noexcept
{
    auto starts = [&](std::string_view sig) {
        if (head.size() < sig.size())
            return false;
        for (std::size_t i = 0; i < sig.size(); ++i)
            if (static_cast<unsigned char>(head[i]) != static_cast<unsigned char>(sig[i]))
                return false;
        return true;
    };
    if (starts("\xFF\xD8\xFF"))
        return "image/jpeg";
    if (starts("\x89PNG"))
        return "image/png";
    if (starts("GIF8"))
        return "image/gif";
    if (starts("BM"))
        return "image/bmp";
    return "application/octet-stream";
}

/// Owns a POSIX file descriptor.
class file_descriptor {
public:
    explicit file_descriptor(int fd) noexcept : fd_(fd) {}
    file_descriptor(const file_descriptor&) = delete;
    file_descriptor& operator=(const file_descriptor&) = delete;
    ~file_descriptor()
    {
        if (fd_ >= 0)
            ::close(fd_);
    }
    int get() const noexcept { return fd_; }

private:
    int fd_;
};

class file_source {
public:
    /// Opens `path` for reading and records its size and content type. Rejects a missing
    /// or unreadable path, anything but a regular file, and an empty file, with a message
    /// naming the file; the source is then empty.
    error_code open(std::filesystem::path path, std::string& message)
    {
        *this = file_source{};
        auto fail = [&](std::string_view why) {
            message = "file " + path.string() + ": " + std::string(why);
            return error_code(error::invalid_argument);
        };
        if (path.empty())
            return fail("the path is empty");
        int fd;
        do
            // O_NONBLOCK: opening a FIFO must not wait for a writer (it is rejected below);
            // it has no effect on regular files.
            fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        while (fd < 0 && errno == EINTR);
        if (fd < 0) {
            const int e = errno;
            if (e == ENOENT)
                return fail("does not exist");
            return fail("cannot be opened: " + std::system_category().message(e));
        }
        auto owned = std::allocate_shared<file_descriptor>(recycled_allocator<file_descriptor>{}, fd);
        struct stat st {};
        if (::fstat(fd, &st) != 0)
            return fail("cannot be examined: " + std::system_category().message(errno));
        if (S_ISDIR(st.st_mode))
            return fail("is a directory");
        if (!S_ISREG(st.st_mode))
            return fail("is not a regular file");
        if (st.st_size <= 0)
            return fail("is empty");
        size_ = static_cast<std::uint64_t>(st.st_size);
        // A read of a directory-like or otherwise unreadable object fails here, before
        // anything is sent; the first bytes also give the content type.
        std::byte head[16];
        std::string detail;
        std::size_t got = 0;
        const std::size_t head_size = size_ < sizeof head ? static_cast<std::size_t>(size_) : sizeof head;
        if (read_some(fd, 0, head, head_size, head_size, got, detail))
            return fail("cannot be read: " + detail);
        content_type_ = sniff_content_type({head, got});
        fd_ = std::move(owned);
        path_ = std::move(path);
        return {};
    }

    /// Uses the caller's buffer; it must stay valid and unchanged while the request exists.
    void assign(std::span<const std::byte> data) noexcept
    {
        *this = file_source{};
        memory_ = data;
        size_ = data.size();
        content_type_ = sniff_content_type(data.first(data.size() < 16 ? data.size() : 16));
        has_memory_ = true;
    }

    /// Whether open() succeeded or assign() was called.
    bool ready() const noexcept { return fd_ != nullptr || has_memory_; }
    bool is_file() const noexcept { return fd_ != nullptr; }
    bool is_memory() const noexcept { return has_memory_; }

    std::uint64_t size() const noexcept { return size_; }
    const std::filesystem::path& path() const noexcept { return path_; }
    std::string_view content_type() const noexcept { return content_type_; }
    std::span<const std::byte> memory() const noexcept { return memory_; }

    /// Called by a body's writer when a send attempt starts: there must be a source, and a
    /// file must still have its recorded size and still be linked in the file system.
    error_code begin_attempt(std::string& detail) const
    {
        if (!ready()) {
            detail = "the body has no file or buffer";
            return error::invalid_argument;
        }
        return check_unchanged(detail);
    }

    /// A file must still have its recorded size and still be linked in the file system.
    error_code check_unchanged(std::string& detail) const
    {
        if (!fd_)
            return {};
        struct stat st {};
        if (::fstat(fd_->get(), &st) != 0) {
            detail = std::system_category().message(errno);
            return error::file_read_failed;
        }
        if (st.st_nlink == 0) {
            detail = "the file was deleted after it was opened";
            return error::file_changed;
        }
        if (static_cast<std::uint64_t>(st.st_size) != size_) {
            detail = "size changed from " + std::to_string(size_) + " to " + std::to_string(st.st_size) +
                     " bytes after it was opened";
            return error::file_changed;
        }
        return {};
    }

    /// Reads exactly `want` bytes at `offset` into `buf` (offset + want <= size()). When
    /// they are the last bytes of the file, `buf` must have room for want + 1 bytes: one more
    /// byte is asked for, and getting it means the file grew. Errors: file_changed (EOF
    /// before the recorded size, or the file grew), file_read_failed (with the OS error).
    error_code read_exact(std::uint64_t offset, std::byte* buf, std::size_t want, std::string& detail) const
    {
        const bool last = offset + want == size_;
        const std::size_t ask = want + (last ? 1 : 0);
        std::size_t got = 0;
        if (auto ec = read_some(fd_->get(), offset, buf, ask, want, got, detail))
            return ec;
        if (got < want) {
            detail = "the file ended at byte " + std::to_string(offset + got) + " of the " + std::to_string(size_) +
                     " it had when it was opened";
            return error::file_changed;
        }
        if (got > want) {
            detail = "the file grew beyond the " + std::to_string(size_) + " bytes it had when it was opened";
            return error::file_changed;
        }
        return {};
    }

private:
    /// pread until `ask` bytes or EOF. Once `enough` bytes are in, a short read is taken as
    /// the end of the file (what a regular file's short read means) instead of being
    /// confirmed by one more call that returns 0: the growth probe of read_exact then costs
    /// no system call of its own.
    static error_code read_some(int fd, std::uint64_t offset, std::byte* buf, std::size_t ask, std::size_t enough,
                                std::size_t& got, std::string& detail)
    {
        got = 0;
        while (got < ask) {
            const std::size_t asked = ask - got;
            const ::ssize_t n = ::pread(fd, buf + got, asked, static_cast<::off_t>(offset + got));
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                detail = std::system_category().message(errno);
                return error::file_read_failed;
            }
            if (n == 0)
                break;
            got += static_cast<std::size_t>(n);
            if (static_cast<std::size_t>(n) < asked && got >= enough)
                break;
        }
        return {};
    }

    std::shared_ptr<const file_descriptor> fd_; // shared by copies of a body: pread has no file position
    std::filesystem::path path_;
    std::span<const std::byte> memory_;
    bool has_memory_ = false;
    std::uint64_t size_ = 0;
    std::string_view content_type_ = "application/octet-stream"; // a string literal
};

/// Hands a file_source out front to back, one block at a time, for one send attempt: a
/// buffer's bytes in place, a file's through one buffer (from block_buffer_cache: a small
/// upload's buffer serves the next one) taken at the first attempt and kept for retries.
/// What the Body writers share.
class block_reader {
public:
    /// Starts an attempt at offset 0: the source must be ready and a file unchanged since
    /// it was opened. `block` is the largest block a file is read in.
    error_code begin(const file_source& src, std::size_t block, std::string& detail)
    {
        offset_ = 0;
        block_ = src.size() < block ? static_cast<std::size_t>(src.size()) : block;
        return src.begin_attempt(detail);
    }

    /// The next at most `max` bytes (a file's at most one block); empty at the end.
    error_code next(const file_source& src, std::uint64_t max, std::span<const std::byte>& out,
                    std::string& detail)
    {
        std::uint64_t want = src.size() - offset_;
        if (want > max)
            want = max;
        if (src.is_memory()) {
            out = src.memory().subspan(static_cast<std::size_t>(offset_), static_cast<std::size_t>(want));
        } else {
            // Taken at the first block and kept for retries (a no-op when it is large enough);
            // read_exact's growth probe needs one more byte at the end.
            buffer_.reserve(block_ + 1);
            if (want > block_)
                want = block_;
            const auto n = static_cast<std::size_t>(want);
            if (n != 0)
                if (auto ec = src.read_exact(offset_, buffer_.data(), n, detail))
                    return ec;
            out = {buffer_.data(), n};
        }
        offset_ += want;
        return {};
    }

    /// What is left of the source, copied (a file: read) into `dst`, which must have room for
    /// it and one byte more (read_exact's growth probe). For sources small enough to be held
    /// whole; no block buffer is used.
    error_code rest_into(const file_source& src, std::byte* dst, std::string& detail)
    {
        const auto n = static_cast<std::size_t>(src.size() - offset_);
        if (src.is_memory()) {
            if (n != 0)
                std::memcpy(dst, src.memory().data() + offset_, n);
        } else if (n != 0) {
            if (auto ec = src.read_exact(offset_, dst, n, detail))
                return ec;
        }
        offset_ += n;
        return {};
    }

    bool at_end(const file_source& src) const noexcept { return offset_ == src.size(); }

private:
    recycled_block buffer_;
    std::size_t block_ = 0;
    std::uint64_t offset_ = 0;
};

} // namespace carcheck::detail

#endif
