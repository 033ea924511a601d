// Counts the process's heap allocations for the benchmark's "allocations per request".
//
// glibc lets a program replace malloc: the definitions below are found before libc's, also
// for calls made inside the shared libraries (libstdc++'s operator new, OpenSSL, libcurl).
// Each counts and forwards to glibc's own implementation (__libc_malloc and friends, which
// glibc exports for this purpose), so the allocator under test is unchanged. free is not
// counted: the figure is allocations, not allocations and releases.
#include "allocation_counter.hpp"

#include <atomic>
#include <cerrno>
#include <cstddef>

extern "C" {
void* __libc_malloc(std::size_t size);
void* __libc_calloc(std::size_t count, std::size_t size);
void* __libc_realloc(void* p, std::size_t size);
void* __libc_memalign(std::size_t alignment, std::size_t size);
void __libc_free(void* p);
}

namespace {
std::atomic<std::uint64_t> count{0};
void counted() noexcept { count.fetch_add(1, std::memory_order_relaxed); }
} // namespace

std::uint64_t bench::allocations() noexcept { return count.load(std::memory_order_relaxed); }

extern "C" {

void* malloc(std::size_t size) noexcept
{
    counted();
    return __libc_malloc(size);
}

void* calloc(std::size_t n, std::size_t size) noexcept
{
    counted();
    return __libc_calloc(n, size);
}

void* realloc(void* p, std::size_t size) noexcept
{
    counted();
    return __libc_realloc(p, size);
}

void free(void* p) noexcept { __libc_free(p); }

void* memalign(std::size_t alignment, std::size_t size) noexcept
{
    counted();
    return __libc_memalign(alignment, size);
}

void* aligned_alloc(std::size_t alignment, std::size_t size) noexcept
{
    counted();
    return __libc_memalign(alignment, size);
}

int posix_memalign(void** out, std::size_t alignment, std::size_t size) noexcept
{
    if (alignment % sizeof(void*) != 0 || (alignment & (alignment - 1)) != 0)
        return EINVAL;
    counted();
    void* p = __libc_memalign(alignment, size);
    if (!p && size != 0)
        return ENOMEM;
    *out = p;
    return 0;
}

} // extern "C"
