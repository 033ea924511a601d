// The CLI's set of input names (tools/cli/name_index.*): exact answers whatever the hash
// says, origins kept apart, names spilled to the scratch file read back correctly.

#include "cli/name_index.hpp"

#include <boost/test/unit_test.hpp>

#include <string>

namespace {

using carcheck_cli::name_index;

std::uint64_t same_hash_for_all(std::string_view)
{
    return 42;
}

} // namespace

BOOST_AUTO_TEST_SUITE(name_index_test)

BOOST_AUTO_TEST_CASE(a_shared_hash_does_not_make_two_names_equal)
{
    name_index idx;
    idx.set_hash_for_testing(same_hash_for_all);
    BOOST_TEST(!idx.find_or_insert("a.jpg", name_index::origin::output_file));
    BOOST_TEST(!idx.find_or_insert("b.jpg", name_index::origin::this_run)); // same hash, other name
    BOOST_TEST(!idx.find_or_insert(std::string("a.jpg\0x", 7), name_index::origin::this_run));
    BOOST_TEST(idx.size() == 3u);
    BOOST_TEST(idx.hash_collisions() >= 2u);
    BOOST_TEST((idx.find_or_insert("a.jpg", name_index::origin::this_run) == name_index::origin::output_file));
    BOOST_TEST((idx.find_or_insert("b.jpg", name_index::origin::this_run) == name_index::origin::this_run));
    // Named again in this run after being found in the output: a duplicate from then on.
    BOOST_TEST((idx.find_or_insert("a.jpg", name_index::origin::this_run) == name_index::origin::this_run));
    BOOST_TEST(idx.size() == 3u);
}

BOOST_AUTO_TEST_CASE(many_names_spilled_and_read_back)
{
    name_index idx;
    const int n = 200000; // several MB of names: most are read back from the scratch file
    for (int i = 0; i < n; ++i)
        BOOST_TEST_REQUIRE(!idx.find_or_insert("/data/frames/camera-7/frame-" + std::to_string(i) + ".jpg",
                                               name_index::origin::output_file));
    for (int i = 0; i < n; i += 7)
        BOOST_TEST_REQUIRE((idx.find_or_insert("/data/frames/camera-7/frame-" + std::to_string(i) + ".jpg",
                                               name_index::origin::this_run) == name_index::origin::output_file));
    BOOST_TEST(!idx.find_or_insert("/data/frames/camera-7/frame-" + std::to_string(n) + ".jpg",
                                   name_index::origin::this_run));
    BOOST_TEST(idx.size() == static_cast<std::size_t>(n) + 1);
    // 16 bytes a slot, at most 3/4 full: bounded memory per name.
    BOOST_TEST(idx.table_bytes() <= 16u * 4 * static_cast<std::size_t>(n) / 3 * 2);
}

BOOST_AUTO_TEST_SUITE_END()
