#ifndef CARCHECK_BENCHMARK_ALLOCATION_COUNTER_HPP
#define CARCHECK_BENCHMARK_ALLOCATION_COUNTER_HPP

#include <cstdint>

namespace bench {

/// Heap allocations (malloc, calloc, realloc, the aligned variants, and so operator new) the
/// whole process made so far, its libraries included (OpenSSL, libcurl, libstdc++). Only in
/// programs linked with allocation_counter.cpp.
std::uint64_t allocations() noexcept;

} // namespace bench

#endif
