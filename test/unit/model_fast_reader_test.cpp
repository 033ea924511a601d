// The fast reader of replies (impl/model_fast_reader.ipp): it takes the usual form of a reply,
// fills the structs exactly as the general reader does, and leaves everything else to it.
#include <carcheck/model.hpp>
// After model.hpp, which a header-only build needs first (model_reader.ipp).
#include "support/reader_agreement.hpp"

#include <boost/test/unit_test.hpp>

#include <cstddef>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

namespace model = carcheck::detail::model;
using carcheck_test::both_readers;
using carcheck_test::written;

namespace {

std::string read_text(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    BOOST_REQUIRE_MESSAGE(in, "cannot open " << path);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string reply(const std::string& name)
{
    return read_text(std::string(CARCHECK_TEST_DATA_DIR) + "/replies/" + name);
}

} // namespace

BOOST_AUTO_TEST_SUITE(model_fast_reader_test)

BOOST_AUTO_TEST_CASE(usual_replies_take_the_fast_reader_and_read_alike)
{
    for (const char* name : {"recognize_full.json", "recognize_no_plates.json", "recognize_two_plates.json"}) {
        BOOST_TEST_CONTEXT(name)
        {
            const both_readers<carcheck::recognition> r(reply(name));
            BOOST_TEST(r.fast_took_it);
            BOOST_TEST(!r.general_ec);
            BOOST_TEST(r.agree());
        }
    }
    // The reply the benchmark's server sends.
    const both_readers<carcheck::recognition> bench(read_text(std::string(CARCHECK_TEST_DATA_DIR) +
                                                              "/../../benchmark/reply.json"));
    BOOST_TEST(bench.fast_took_it);
    BOOST_TEST(bench.agree());
    BOOST_TEST(bench.fast.results.size() == 1u);

    const both_readers<carcheck::config> config(reply("config.json"));
    BOOST_TEST(config.fast_took_it);
    BOOST_TEST(config.agree());
    BOOST_TEST(!config.fast.countries.empty());

    for (const char* name : {"error_400.json", "error_402.json"}) {
        BOOST_TEST_CONTEXT(name)
        {
            const both_readers<carcheck::error_body> e(reply(name));
            BOOST_TEST(e.fast_took_it);
            BOOST_TEST(e.agree());
            BOOST_TEST(!e.fast.error.empty());
        }
    }
}

BOOST_AUTO_TEST_CASE(numbers_conversions_and_members_read_alike)
{
    // Texts in the usual form that exercise each conversion of model_shapes.ipp.
    const char* texts[] = {
        R"({"results":[],"epoch_time":1700000000123,"img_width":12.0,"credit_cost":3,"version":2})",
        R"({"results":[],"processing_time":{"total":1e2,"plates":-0.0,"vehicles":123456789012345.6}})",
        R"({"results":[],"processing_time":{"total":0.1,"plates":2.5e-3,"vehicles":123456789012345678e-5}})",
        R"({"results":[],"processing_time":{"total":17,"plates":-3,"vehicles":0}})",
        R"({"results":[],"vehicles":[{"x":1,"details":{"orientation":[{"name":45,"confidence":9.5},{"name":67.5,"confidence":1}]}}]})",
        R"({"results":[],"uuid":null,"credits_monthly_used":null,"credits_monthly_total":7,"image_bytes_prefix":"x"})",
        R"( {"results" : [ ] , "extra" : {"a":[1,2,{"b":true}],"c":false,"d":null,"e":-1.5E+3} } )",
        R"({"results":[{"plate":"A","vehicle":null,"candidates":[{"plate":"A"},{"plate":"B","confidence":1}]}],"results":[]})",
        R"({"results":[{"plate":"A","region":"x","region":"y","coordinates":[{"x":1,"y":2}],"vehicle":{"color":[]}}]})",
    };
    for (const char* text : texts) {
        BOOST_TEST_CONTEXT(text)
        {
            const both_readers<carcheck::recognition> r(text);
            BOOST_TEST(r.fast_took_it);
            BOOST_TEST(!r.general_ec);
            BOOST_TEST(r.agree());
        }
    }
}

BOOST_AUTO_TEST_CASE(anything_else_is_left_to_the_general_reader)
{
    const char* texts[] = {
        R"({"results":[],"uuid":"a\u0062c"})",               // an escape
        "{\"results\":[],\"uuid\":\"caf\xc3\xa9\"}",          // a byte above 0x7F
        R"({"results":[],"credit_cost":-0})",                 // "-0"
        R"({"results":[],"epoch_time":1234567890123456789})", // 19 digits
        R"({"results":[],"processing_time":{"total":1e400}})", // out of range
        R"({"results":[],"processing_time":{"total":1e-400}})",
        R"({"results":[],"processing_time":{"total":0e0000000000000000000000000006000000000000000000000}})",
        R"({"results":[],"img_width":012})",   // a leading zero
        R"({"results":[],"img_width":1.})",    // no digit after the point
        R"({"results":[],"img_width":1.5})",   // a fraction for an integer
        R"({"results":[],"img_width":3000000000})", // out of an int's range
        R"({"results":[],})",                  // a trailing comma
        R"({"results":[1,]})",
        R"({"version":2})",                    // a required member missing
        R"({"results":null})",                 // null for a required member
        R"({"results":[],"version":true})",    // a boolean for a number
        R"({"results":[null]})",
        R"({"results":[]} x)",                 // extra text
        R"({"results":[]})"
        "\x0c",                                // not JSON whitespace
        R"({"results":[],"extra":[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]})", // deeper than the fast reader goes
        R"({"results":[],"extra":"tab	inside"})",                          // a control character
        R"({"results":[],"extra":tru})",
        R"({"results":[],"extra":nul})",
        R"([])",
        "",
    };
    for (const char* text : texts) {
        BOOST_TEST_CONTEXT(text)
        {
            const both_readers<carcheck::recognition> r(text);
            BOOST_TEST(!r.fast_took_it);
        }
    }
    // What the general reader makes of them is pinned by model_test; two of them here:
    carcheck::recognition r;
    std::string detail;
    BOOST_TEST(!carcheck::parse_recognition(R"({"results":[],"uuid":"a\u0062c"})", r, detail));
    BOOST_TEST(r.uuid == "abc");
    BOOST_TEST(carcheck::parse_recognition(R"({"results":[],"img_width":1.5})", r, detail) ==
               carcheck::error::bad_response);
    BOOST_TEST(detail == "img_width: expected an integer, got a number with a fraction");
}

BOOST_AUTO_TEST_CASE(mutated_replies_never_make_the_readers_disagree)
{
    // Every reply damaged by random byte changes, insertions and deletions: whatever the
    // fast reader still takes, the general reader must read to the same value.
    std::vector<std::string> seeds{reply("recognize_full.json"), reply("recognize_two_plates.json"),
                                   reply("config.json"), reply("error_400.json")};
    const std::string alphabet = "{}[]\",:0123456789.eE+- \tnulltruefalse\\ax";
    std::mt19937 rng(20261206);
    std::size_t taken = 0;
    for (int round = 0; round < 6000; ++round) {
        std::string text = seeds[round % seeds.size()];
        const int edits = 1 + static_cast<int>(rng() % 3);
        for (int e = 0; e < edits && !text.empty(); ++e) {
            const std::size_t at = rng() % text.size();
            const char c = alphabet[rng() % alphabet.size()];
            switch (rng() % 3) {
            case 0: text[at] = c; break;
            case 1: text.insert(text.begin() + static_cast<std::ptrdiff_t>(at), c); break;
            default: text.erase(at, 1 + rng() % 4); break;
            }
        }
        const both_readers<carcheck::recognition> r(text);
        const both_readers<carcheck::config> c(text);
        const both_readers<carcheck::error_body> e(text);
        BOOST_REQUIRE_MESSAGE(r.agree(), text);
        BOOST_REQUIRE_MESSAGE(c.agree(), text);
        BOOST_REQUIRE_MESSAGE(e.agree(), text);
        taken += r.fast_took_it + c.fast_took_it + e.fast_took_it;
    }
    // Many damaged texts are still JSON of the right shape: the check above is not empty.
    BOOST_TEST(taken > 500u);
}

BOOST_AUTO_TEST_SUITE_END()
