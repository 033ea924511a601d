#ifndef CARCHECK_CLI_NAME_INDEX_HPP
#define CARCHECK_CLI_NAME_INDEX_HPP

// The set of input names a batch has seen: those the output file already has a line for
// (--resume) and those this run has taken (duplicates are processed once).
//
// A batch may have millions of inputs, so the names themselves are not kept in memory: the
// table holds a 64-bit hash and the position of the name in an append-only scratch file (an
// unlinked temporary file, so the kernel's page cache holds it, not this process). A hash
// match is confirmed by reading the name back and comparing it exactly, so two names that
// share a hash are still told apart. Memory: 16 bytes per slot, at most 4/3 slots per name
// rounded up to a power of two (about 32 MB for a million names).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace carcheck_cli {

class name_index {
public:
    /// Where a name was first seen.
    enum class origin : std::uint8_t { output_file, this_run };

    /// Creates the scratch file (in $TMPDIR, else /tmp); when none can be created the names
    /// are kept in memory instead.
    name_index();
    ~name_index();
    name_index(const name_index&) = delete;
    name_index& operator=(const name_index&) = delete;

    /// The origin of an equal name seen before; otherwise records `name` with `o` and
    /// returns nullopt.
    std::optional<origin> find_or_insert(std::string_view name, origin o);

    std::size_t size() const noexcept { return size_; }
    /// Bytes of the hash table (for tests and the benchmark).
    std::size_t table_bytes() const noexcept { return slots_.size() * sizeof(slot); }
    /// Exact comparisons that found a different name behind an equal hash (for tests).
    std::size_t hash_collisions() const noexcept { return collisions_; }

    /// The hash of a name; replaceable in tests to force collisions.
    using hash_function = std::uint64_t (*)(std::string_view);
    void set_hash_for_testing(hash_function h) { hash_ = h; }

private:
    struct slot {
        std::uint64_t hash = 0; ///< 0: empty (a real hash of 0 is stored as 1)
        std::uint64_t ref = 0;  ///< bit 63: origin::this_run; bits 0..62: offset of the name
    };

    std::uint64_t store(std::string_view name);
    bool stored_equals(std::uint64_t offset, std::string_view name);
    void grow();

    std::vector<slot> slots_;
    std::size_t size_ = 0;
    std::size_t collisions_ = 0;
    hash_function hash_;

    // The scratch store: [u32 length][bytes] records. Appends go through `pending_`, which is
    // written to the file when it grows large; `memory_` replaces the file when there is none.
    int fd_ = -1;
    bool spill_ = false;        ///< appends still go to the file
    std::uint64_t written_ = 0; ///< bytes already in the file
    std::string pending_;       ///< bytes after `written_`, not yet in the file
    std::string scratch_;       ///< a name read back
};

} // namespace carcheck_cli

#endif
