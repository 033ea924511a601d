#include "name_index.hpp"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <stdexcept>

#include <fcntl.h>
#include <unistd.h>

namespace carcheck_cli {

namespace {

constexpr std::uint64_t this_run_bit = std::uint64_t{1} << 63;
constexpr std::size_t pending_limit = 256 * 1024;

std::uint64_t default_hash(std::string_view s)
{
    return std::hash<std::string_view>{}(s);
}

/// An unlinked read-write file in $TMPDIR (else /tmp), or -1.
int open_scratch_file()
{
    const char* dir = std::getenv("TMPDIR");
    if (!dir || !*dir)
        dir = "/tmp";
    const int fd = ::open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0)
        return fd;
    // Without O_TMPFILE support: create and unlink at once.
    std::string path = std::string(dir) + "/carcheck-names-XXXXXX";
    const int t = ::mkostemp(path.data(), O_CLOEXEC);
    if (t >= 0)
        ::unlink(path.c_str());
    return t;
}

} // namespace

name_index::name_index() : slots_(1024), hash_(default_hash), fd_(open_scratch_file()), spill_(fd_ >= 0) {}

name_index::~name_index()
{
    if (fd_ >= 0)
        ::close(fd_);
}

std::uint64_t name_index::store(std::string_view name)
{
    const std::uint64_t offset = written_ + pending_.size();
    const auto length = static_cast<std::uint32_t>(name.size());
    pending_.append(reinterpret_cast<const char*>(&length), sizeof length);
    pending_.append(name);
    if (spill_ && pending_.size() >= pending_limit) {
        std::size_t done = 0;
        while (done < pending_.size()) {
            const auto n = ::pwrite(fd_, pending_.data() + done, pending_.size() - done,
                                    static_cast<off_t>(written_ + done));
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                // The scratch file takes no more (disk full): keep further names in memory.
                spill_ = false;
                break;
            }
            done += static_cast<std::size_t>(n);
        }
        if (spill_) {
            written_ += pending_.size();
            pending_.clear();
        }
    }
    return offset;
}

bool name_index::stored_equals(std::uint64_t offset, std::string_view name)
{
    std::uint32_t length = 0;
    if (offset >= written_) {
        const std::size_t at = offset - written_;
        std::memcpy(&length, pending_.data() + at, sizeof length);
        return std::string_view(pending_).substr(at + sizeof length, length) == name;
    }
    scratch_.resize(sizeof length + name.size());
    const auto n = ::pread(fd_, scratch_.data(), scratch_.size(), static_cast<off_t>(offset));
    if (n < static_cast<ssize_t>(sizeof length))
        throw std::runtime_error(std::string("cannot read the names' scratch file: ") +
                                 (n < 0 ? std::strerror(errno) : "short read"));
    std::memcpy(&length, scratch_.data(), sizeof length);
    return length == name.size() && static_cast<std::size_t>(n) == scratch_.size() &&
           std::string_view(scratch_).substr(sizeof length) == name;
}

void name_index::grow()
{
    std::vector<slot> bigger(slots_.size() * 2);
    const std::size_t mask = bigger.size() - 1;
    for (const slot& s : slots_) {
        if (!s.hash)
            continue;
        std::size_t i = s.hash & mask;
        while (bigger[i].hash)
            i = (i + 1) & mask;
        bigger[i] = s;
    }
    slots_.swap(bigger);
}

std::optional<name_index::origin> name_index::find_or_insert(std::string_view name, origin o)
{
    std::uint64_t h = hash_(name);
    if (h == 0)
        h = 1;
    const std::size_t mask = slots_.size() - 1;
    std::size_t i = h & mask;
    for (; slots_[i].hash; i = (i + 1) & mask) {
        if (slots_[i].hash != h)
            continue;
        if (stored_equals(slots_[i].ref & ~this_run_bit, name)) {
            const origin was = slots_[i].ref & this_run_bit ? origin::this_run : origin::output_file;
            if (o == origin::this_run)
                slots_[i].ref |= this_run_bit; // named again later: a duplicate of this run
            return was;
        }
        ++collisions_;
    }
    slots_[i].hash = h;
    slots_[i].ref = store(name) | (o == origin::this_run ? this_run_bit : 0);
    if (++size_ * 4 > slots_.size() * 3)
        grow();
    return std::nullopt;
}

} // namespace carcheck_cli
