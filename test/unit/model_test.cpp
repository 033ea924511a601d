#include <carcheck/model.hpp>
#include <carcheck/detail/recognition_reply.hpp>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <boost/json/value_from.hpp>
#include <boost/test/unit_test.hpp>

#include <charconv>
#include <cstdint>
#include <iomanip>
#include <random>
#include <fstream>
#include <functional>
#include <set>
#include <iterator>
#include <sstream>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

namespace tt = boost::test_tools;

namespace {

const carcheck::error_code bad_response = carcheck::error::bad_response;

std::string reply(const std::string& name)
{
    std::ifstream in(std::string(CARCHECK_TEST_DATA_DIR) + "/replies/" + name, std::ios::binary);
    BOOST_REQUIRE_MESSAGE(in, "cannot open test/data/replies/" << name);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

struct recognition_result {
    carcheck::error_code ec;
    carcheck::recognition r;
    std::string detail;
};

recognition_result recognize(std::string json)
{
    recognition_result out;
    out.ec = carcheck::parse_recognition(std::move(json), out.r, out.detail);
    return out;
}

struct config_result {
    carcheck::error_code ec;
    carcheck::config c;
    std::string detail;
};

config_result configuration(std::string json)
{
    config_result out;
    out.ec = carcheck::parse_config(std::move(json), out.c, out.detail);
    return out;
}

/// A recognition with one plate whose members are `plate_members` (JSON text without braces).
std::string with_plate(const std::string& plate_members, const std::string& top_members = "")
{
    return "{" + top_members + (top_members.empty() ? "" : ",") + R"("results":[{"plate":"ABC123")" +
           (plate_members.empty() ? "" : ",") + plate_members + "}]}";
}

void check_candidates(const std::vector<carcheck::vehicle_candidate>& got, const std::string& first,
                      double first_confidence, const std::string& second, double second_confidence)
{
    BOOST_REQUIRE_EQUAL(got.size(), 2u);
    BOOST_TEST(got[0].name == first);
    BOOST_TEST(got[0].confidence == first_confidence, tt::tolerance(1e-9));
    BOOST_TEST(got[1].name == second);
    BOOST_TEST(got[1].confidence == second_confidence, tt::tolerance(1e-9));
}

void check_full_vehicle(const carcheck::vehicle_details& v)
{
    check_candidates(v.color, "silver-gray", 91.2, "tan", 45.6);
    check_candidates(v.make, "toyota", 88.04, "volkswagen", 44.02);
    check_candidates(v.make_model, "toyota_camry", 83.5, "toyota_corolla", 41.75);
    check_candidates(v.body_type, "sedan-standard", 79.9, "sedan-wagon", 39.95);
    check_candidates(v.year, "2010-2014", 70.0, "2015-2019", 35.0);
    check_candidates(v.orientation, "45", 97.1, "90", 48.55);
}

/// Every value of `doc` (recursively), one at a time replaced by each JSON kind; `visit` sees
/// the serialized variant.
void for_each_replacement(boost::json::value& doc, boost::json::value& node,
                          const std::function<void(const std::string&)>& visit)
{
    static const std::vector<boost::json::value> kinds{
        nullptr, true, 0, -1, 1.5, 1e300, 18446744073709551615ull, "text", boost::json::array{}, boost::json::object{}};
    if (&node != &doc) {
        boost::json::value saved = node;
        for (const auto& k : kinds) {
            node = k;
            visit(boost::json::serialize(doc));
        }
        node = std::move(saved);
    }
    if (auto* o = node.if_object()) {
        for (auto& m : *o)
            for_each_replacement(doc, m.value(), visit);
    } else if (auto* a = node.if_array()) {
        for (auto& e : *a)
            for_each_replacement(doc, e, visit);
    }
}

} // namespace

BOOST_AUTO_TEST_SUITE(model_test)

BOOST_AUTO_TEST_CASE(full_recognition_reply_fills_every_member)
{
    const std::string text = reply("recognize_full.json");
    auto [ec, r, detail] = recognize(text);
    BOOST_REQUIRE_MESSAGE(!ec, detail);
    BOOST_TEST(detail.empty());
    BOOST_TEST(r.raw_json == text);

    BOOST_TEST(r.version == 2);
    BOOST_TEST(r.data_type == "alpr_results");
    BOOST_TEST(r.epoch_time == 1700000000123.0);
    BOOST_TEST(r.img_width == 1280);
    BOOST_TEST(r.img_height == 720);
    BOOST_TEST(r.processing_time.total == 95.25, tt::tolerance(1e-9));
    BOOST_TEST(r.processing_time.plates == 41.5, tt::tolerance(1e-9));
    BOOST_TEST(r.processing_time.vehicles == 52.25, tt::tolerance(1e-9));
    BOOST_REQUIRE_EQUAL(r.regions_of_interest.size(), 1u);
    BOOST_TEST(r.regions_of_interest[0].x == 0);
    BOOST_TEST(r.regions_of_interest[0].y == 0);
    BOOST_TEST(r.regions_of_interest[0].width == 1280);
    BOOST_TEST(r.regions_of_interest[0].height == 720);
    BOOST_TEST(r.credit_cost == 2);
    BOOST_TEST(r.credits_monthly_used == 42);
    BOOST_TEST(r.credits_monthly_total == 2000);
    BOOST_TEST(r.uuid == "6f1c2a4e-9b3d-4e5f-8a7b-0c1d2e3f4a5b");
    BOOST_REQUIRE(r.image_bytes.has_value());
    BOOST_TEST(r.image_bytes->starts_with("/9j/4AAQ"));
    BOOST_TEST(r.image_bytes_prefix == "data:image/jpeg;base64,");

    BOOST_REQUIRE_EQUAL(r.results.size(), 1u);
    const carcheck::plate_details& p = r.results[0];
    BOOST_TEST(p.plate == "ABC123");
    BOOST_TEST(p.confidence == 94.73, tt::tolerance(1e-9));
    BOOST_TEST(p.matches_template == 1);
    BOOST_TEST(p.plate_index == 0);
    BOOST_TEST(p.region == "us-ca");
    BOOST_TEST(p.region_confidence == 88.5, tt::tolerance(1e-9));
    BOOST_TEST(p.processing_time_ms == 41.5, tt::tolerance(1e-9));
    BOOST_TEST(p.requested_topn == 3);
    BOOST_REQUIRE_EQUAL(p.coordinates.size(), 4u);
    BOOST_TEST(p.coordinates[0].x == 402);
    BOOST_TEST(p.coordinates[0].y == 510);
    BOOST_TEST(p.coordinates[1].x == 558);
    BOOST_TEST(p.coordinates[2].y == 588);
    BOOST_TEST(p.coordinates[3].x == 402);
    BOOST_TEST(p.coordinates[3].y == 588);
    BOOST_REQUIRE_EQUAL(p.candidates.size(), 3u);
    BOOST_TEST(p.candidates[0].plate == "ABC123");
    BOOST_TEST(p.candidates[0].confidence == 94.73, tt::tolerance(1e-9));
    BOOST_TEST(p.candidates[0].matches_template == 1);
    BOOST_TEST(p.candidates[1].plate == "A8C123");
    BOOST_TEST(p.candidates[1].confidence == 85.26, tt::tolerance(1e-9));
    BOOST_TEST(p.candidates[1].matches_template == 0);
    BOOST_TEST(p.candidates[2].plate == "ABC1Z3");
    BOOST_TEST(p.vehicle_region.x == 246);
    BOOST_TEST(p.vehicle_region.y == 354);
    BOOST_TEST(p.vehicle_region.width == 468);
    BOOST_TEST(p.vehicle_region.height == 312);
    BOOST_REQUIRE(p.vehicle.has_value());
    check_full_vehicle(*p.vehicle);

    BOOST_REQUIRE_EQUAL(r.vehicles.size(), 1u);
    BOOST_TEST(r.vehicles[0].x == 246);
    BOOST_TEST(r.vehicles[0].y == 354);
    BOOST_TEST(r.vehicles[0].width == 468);
    BOOST_TEST(r.vehicles[0].height == 312);
    check_full_vehicle(r.vehicles[0].details);
}

BOOST_AUTO_TEST_CASE(reply_without_plates)
{
    auto [ec, r, detail] = recognize(reply("recognize_no_plates.json"));
    BOOST_REQUIRE_MESSAGE(!ec, detail);
    BOOST_TEST(r.results.empty());
    BOOST_TEST(r.vehicles.empty());
    BOOST_TEST(!r.image_bytes.has_value());
    BOOST_TEST(r.image_bytes_prefix.empty());
    BOOST_TEST(r.credit_cost == 1);
    BOOST_TEST(r.img_width == 640);
    BOOST_TEST(r.processing_time.plates == 11.0, tt::tolerance(1e-9));
}

BOOST_AUTO_TEST_CASE(reply_with_two_plates_and_no_vehicle)
{
    auto [ec, r, detail] = recognize(reply("recognize_two_plates.json"));
    BOOST_REQUIRE_MESSAGE(!ec, detail);
    BOOST_REQUIRE_EQUAL(r.results.size(), 2u);
    BOOST_TEST(r.results[0].plate == "XYZ7890");
    BOOST_TEST(r.results[1].plate == "DEF4567");
    BOOST_TEST(r.results[1].plate_index == 1);
    BOOST_TEST(r.results[1].region == "ny");
    BOOST_TEST(r.results[1].candidates.size() == 2u);
    BOOST_TEST(!r.results[0].vehicle.has_value());
    BOOST_TEST(!r.results[1].vehicle.has_value());
    BOOST_TEST(r.vehicles.empty());
}

BOOST_AUTO_TEST_CASE(absent_optional_members_keep_their_defaults)
{
    auto [ec, r, detail] = recognize(R"({"results":[{"plate":"ABC123"}]})");
    BOOST_REQUIRE_MESSAGE(!ec, detail);
    BOOST_TEST(r.version == 0);
    BOOST_TEST(r.data_type.empty());
    BOOST_TEST(r.epoch_time == 0.0);
    BOOST_TEST(r.img_width == 0);
    BOOST_TEST(r.processing_time.total == 0.0);
    BOOST_TEST(r.regions_of_interest.empty());
    BOOST_TEST(r.vehicles.empty());
    BOOST_TEST(r.credit_cost == 0);
    BOOST_TEST(r.uuid.empty());
    BOOST_TEST(!r.image_bytes.has_value());
    BOOST_REQUIRE_EQUAL(r.results.size(), 1u);
    const auto& p = r.results[0];
    BOOST_TEST(p.plate == "ABC123");
    BOOST_TEST(p.confidence == 0.0);
    BOOST_TEST(p.region.empty());
    BOOST_TEST(p.candidates.empty());
    BOOST_TEST(p.coordinates.empty());
    BOOST_TEST(!p.vehicle.has_value());
    BOOST_TEST(p.vehicle_region.width == 0);
}

BOOST_AUTO_TEST_CASE(null_counts_as_absent_for_optional_members)
{
    auto [ec, r, detail] = recognize(with_plate(R"("vehicle":null,"region":null,"candidates":null)",
                                                R"("vehicles":null,"image_bytes":null,"version":null)"));
    BOOST_REQUIRE_MESSAGE(!ec, detail);
    BOOST_TEST(!r.results[0].vehicle.has_value());
    BOOST_TEST(r.results[0].region.empty());
    BOOST_TEST(!r.image_bytes.has_value());
    BOOST_TEST(r.version == 0);
}

BOOST_AUTO_TEST_CASE(unknown_members_are_ignored)
{
    auto [ec, r, detail] = recognize(with_plate(
        R"("future":{"deep":[1,{"x":null}]},"candidates":[{"plate":"ABC123","new":"x","confidence":90}],)"
        R"("vehicle":{"color":[{"name":"red","confidence":50,"extra":[]}],"wheels":4})",
        R"("camera_id":17,"site_id":"lot-4","error":false,"agent_type":"x")"));
    BOOST_REQUIRE_MESSAGE(!ec, detail);
    BOOST_REQUIRE_EQUAL(r.results[0].candidates.size(), 1u);
    BOOST_TEST(r.results[0].candidates[0].confidence == 90.0);
    BOOST_REQUIRE(r.results[0].vehicle.has_value());
    BOOST_REQUIRE_EQUAL(r.results[0].vehicle->color.size(), 1u);
    BOOST_TEST(r.results[0].vehicle->color[0].name == "red");
}

BOOST_AUTO_TEST_CASE(integers_and_numbers_convert_where_harmless)
{
    auto [ec, r, detail] = recognize(with_plate(
        R"("confidence":90,"matches_template":1.0,"requested_topn":5e0,"coordinates":[{"x":-3.0,"y":1}],)"
        R"("vehicle":{"orientation":[{"name":45,"confidence":99},{"name":90.0,"confidence":1},{"name":22.5}]})",
        R"("credit_cost":2.0,"credits_monthly_total":9007199254740993,"epoch_time":1700000000123,"img_width":12.0)"));
    BOOST_REQUIRE_MESSAGE(!ec, detail);
    BOOST_TEST(r.credit_cost == 2);
    BOOST_TEST(r.credits_monthly_total == 9007199254740993);
    BOOST_TEST(r.epoch_time == 1700000000123.0);
    BOOST_TEST(r.img_width == 12);
    const auto& p = r.results[0];
    BOOST_TEST(p.confidence == 90.0);
    BOOST_TEST(p.matches_template == 1);
    BOOST_TEST(p.requested_topn == 5);
    BOOST_TEST(p.coordinates[0].x == -3);
    BOOST_REQUIRE(p.vehicle.has_value());
    BOOST_REQUIRE_EQUAL(p.vehicle->orientation.size(), 3u);
    BOOST_TEST(p.vehicle->orientation[0].name == "45");
    BOOST_TEST(p.vehicle->orientation[1].name == "90");
    BOOST_TEST(p.vehicle->orientation[2].name == "22.5");
}

BOOST_AUTO_TEST_CASE(numbers_read_as_the_nearest_double_and_come_back_unchanged)
{
    // Boost.JSON 1.81's own reading of each of these is a unit in the last place off.
    auto [ec, r, detail] = recognize(with_plate(
        R"("confidence":14.127156320378683,"candidates":[{"plate":"A","confidence":30.400516442581722}],)"
        R"("vehicle":{"orientation":[{"name":99.36527282127801}]})",
        R"("epoch_time":1.3927926388013963E-143,"processing_time":{"total":62.056157557285196})"));
    BOOST_REQUIRE_MESSAGE(!ec, detail);
    const auto& p = r.results[0];
    BOOST_TEST(p.confidence == 14.127156320378683);
    BOOST_TEST(p.candidates[0].confidence == 30.400516442581722);
    BOOST_TEST(p.vehicle->orientation[0].name == "99.36527282127801");
    BOOST_TEST(r.epoch_time == 1.3927926388013963E-143);
    BOOST_TEST(r.processing_time.total == 62.056157557285196);

    // Written back and read again, every number is the same.
    const std::string once = boost::json::serialize(boost::json::value_from(r));
    carcheck::recognition again;
    std::string again_detail;
    BOOST_REQUIRE(!carcheck::parse_recognition(once, again, again_detail));
    BOOST_TEST(boost::json::serialize(boost::json::value_from(again)) == once);

    // Too small for a double is zero, as JSON readers have it.
    auto tiny = recognize(with_plate(R"("confidence":1e-400)"));
    BOOST_REQUIRE_MESSAGE(!tiny.ec, tiny.detail);
    BOOST_TEST(tiny.r.results[0].confidence == 0.0);
}

BOOST_AUTO_TEST_CASE(every_number_reads_as_from_chars_reads_it)
{
    // The reader takes Boost.JSON's reading where it is exact (at most 15 digits, scaled by
    // 10^-22..10^22) and from_chars' otherwise: numbers on both sides of those bounds, and
    // random ones of every length and scale, all read as from_chars reads them.
    std::vector<std::string> texts{"0",
                                   "-0.0",
                                   "92.0",
                                   "38.16",
                                   "1e22",
                                   "1e23",
                                   "1e-22",
                                   "1e-23",
                                   "123456789012345e7",
                                   "123456789012345e8",
                                   "0.123456789012345",
                                   "1234567890123456",
                                   "9007199254740993",
                                   "4.35e-22",
                                   "8.9E+21",
                                   "1.7976931348623157e308",
                                   "2.2250738585072014e-308",
                                   "7e0007",
                                   "14.127156320378683"};
    std::mt19937_64 rng(20261206);
    for (int i = 0; i < 20000; ++i) {
        const int digits = 1 + static_cast<int>(rng() % 19);
        std::string t = (rng() % 4 == 0) ? "-" : "";
        std::string mantissa = std::to_string(1 + rng() % 9);
        while (static_cast<int>(mantissa.size()) < digits)
            mantissa += static_cast<char>('0' + rng() % 10);
        const int point = static_cast<int>(rng() % static_cast<unsigned>(digits + 1));
        t += point == 0 ? "0." + mantissa : (point == digits ? mantissa : mantissa.substr(0, point) + "." + mantissa.substr(point));
        if (t.back() == '.')
            t.pop_back();
        if (rng() % 2 == 0)
            t += "e" + std::to_string(static_cast<int>(rng() % 61) - 30);
        texts.push_back(std::move(t));
    }
    std::string members;
    for (std::size_t i = 0; i < texts.size(); ++i)
        members += std::string(i ? "," : "") + R"({"plate":"A","confidence":)" + texts[i] + "}";
    auto [ec, r, detail] = recognize(with_plate(R"("candidates":[)" + members + "]"));
    BOOST_REQUIRE_MESSAGE(!ec, detail);
    BOOST_REQUIRE_EQUAL(r.results[0].candidates.size(), texts.size());
    int wrong = 0;
    for (std::size_t i = 0; i < texts.size(); ++i) {
        double expected = 0;
        std::from_chars(texts[i].data(), texts[i].data() + texts[i].size(), expected);
        if (r.results[0].candidates[i].confidence != expected && ++wrong <= 5)
            BOOST_ERROR(texts[i] << " read as " << std::setprecision(17) << r.results[0].candidates[i].confidence
                                 << ", from_chars: " << expected);
    }
    BOOST_TEST(wrong == 0);
}

BOOST_AUTO_TEST_CASE(wrong_types_name_the_json_path)
{
    struct case_ {
        std::string json, detail;
    };
    const std::vector<case_> cases{
        {with_plate(R"("candidates":[{"plate":"A"},{"plate":"B"},{"plate":"C","confidence":"high"}])"),
         "results[0].candidates[2].confidence: expected a number, got string"},
        {R"({"results":{}})", "results: expected an array, got object"},
        {R"({"version":2})", "results: missing required member"},
        {R"({"results":null})", "results: expected an array, got null"},
        {R"({"results":[{"confidence":1}]})", "results[0].plate: missing required member"},
        {R"({"results":[{"plate":null}]})", "results[0].plate: expected a string, got null"},
        {R"({"results":[7]})", "results[0]: expected an object, got number"},
        {with_plate(R"("candidates":[{"confidence":1}])"), "results[0].candidates[0].plate: missing required member"},
        {with_plate("", R"("img_width":12.5)"), "img_width: expected an integer, got a number with a fraction"},
        {with_plate("", R"("img_width":4294967296)"), "img_width: integer out of range"},
        {with_plate("", R"("img_height":-2147483649)"), "img_height: integer out of range"},
        {with_plate("", R"("credit_cost":18446744073709551615)"), "credit_cost: integer out of range"},
        {with_plate("", R"("credit_cost":1e300)"), "credit_cost: integer out of range"},
        {with_plate("", R"("epoch_time":1e400)"), "epoch_time: number out of range"},
        {with_plate(R"("confidence":-1e400)"), "results[0].confidence: number out of range"},
        {with_plate(R"("vehicle":{"orientation":[{"name":1e999}]})"),
         "results[0].vehicle.orientation[0].name: number out of range"},
        {with_plate("", R"("credits_monthly_used":true)"), "credits_monthly_used: expected an integer, got boolean"},
        {with_plate("", R"("epoch_time":"1700000000")"), "epoch_time: expected a number, got string"},
        {with_plate("", R"("data_type":1)"), "data_type: expected a string, got number"},
        {with_plate("", R"("processing_time":[])"), "processing_time: expected an object, got array"},
        {with_plate("", R"("processing_time":{"vehicles":"1"})"), "processing_time.vehicles: expected a number, got string"},
        {with_plate("", R"("regions_of_interest":[{"x":0},{"width":[]}])"),
         "regions_of_interest[1].width: expected an integer, got array"},
        {with_plate("", R"("image_bytes":5)"), "image_bytes: expected a string, got number"},
        {with_plate("", R"("uuid":{})"), "uuid: expected a string, got object"},
        {with_plate("", R"("vehicles":[{"details":{"make":"x"}}])"),
         "vehicles[0].details.make: expected an array, got string"},
        {with_plate("", R"("vehicles":[{"x":"1"}])"), "vehicles[0].x: expected an integer, got string"},
        {with_plate(R"("vehicle":{"color":[{"name":"red"},{"name":5}]})"),
         "results[0].vehicle.color[1].name: expected a string, got number"},
        {with_plate(R"("vehicle":{"orientation":[{"name":true}]})"),
         "results[0].vehicle.orientation[0].name: expected a string, got boolean"},
        {with_plate(R"("vehicle":{"year":[{"confidence":1}]})"),
         "results[0].vehicle.year[0].name: missing required member"},
        {with_plate(R"("vehicle":[])"), "results[0].vehicle: expected an object, got array"},
        {with_plate(R"("coordinates":[{"x":1,"y":2},{"x":1,"y":false}])"),
         "results[0].coordinates[1].y: expected an integer, got boolean"},
        {with_plate(R"("vehicle_region":{"height":0.5})"),
         "results[0].vehicle_region.height: expected an integer, got a number with a fraction"},
        {with_plate(R"("region_confidence":"90")"), "results[0].region_confidence: expected a number, got string"},
        {R"([])", "top level: expected an object, got array"},
        {R"("results")", "top level: expected an object, got string"},
        {R"(null)", "top level: expected an object, got null"},
        {R"(42)", "top level: expected an object, got number"},
    };
    for (const auto& c : cases) {
        BOOST_TEST_CONTEXT(c.json)
        {
            carcheck::recognition out;
            out.uuid = "untouched";
            std::string detail = "stale";
            const auto ec = carcheck::parse_recognition(c.json, out, detail);
            BOOST_TEST(ec == bad_response);
            BOOST_TEST(detail == c.detail);
            BOOST_TEST(out.uuid == "untouched"); // left unchanged on failure
            BOOST_TEST(out.raw_json.empty());
        }
    }
}

BOOST_AUTO_TEST_CASE(invalid_json_reports_the_offset)
{
    struct case_ {
        std::string json, detail_prefix;
    };
    const std::vector<case_> cases{
        {"", "invalid JSON at offset 0: "},
        {"   ", "invalid JSON at offset 3: "},
        {"{", "invalid JSON at offset 1: "},
        {R"({"results":[tru]})", "invalid JSON at offset 12: "},
        {R"({"results":[]} x)", "invalid JSON at offset 15: "},
        {R"({"results":[]}{})", "invalid JSON at offset 14: "},
        {"{\"results\":[],\"uuid\":\"\xff\"}", "invalid JSON at offset "},
        {"<html><body>502 Bad Gateway</body></html>", "invalid JSON at offset 0: "},
        {std::string("{\"results\":[]\0}", 15), "invalid JSON at offset 13: "},
    };
    for (const auto& c : cases) {
        BOOST_TEST_CONTEXT(c.json)
        {
            auto [ec, r, detail] = recognize(c.json);
            BOOST_TEST(ec == bad_response);
            BOOST_TEST(detail.starts_with(c.detail_prefix), detail);
            BOOST_TEST(detail.size() > c.detail_prefix.size());
        }
    }
}

BOOST_AUTO_TEST_CASE(every_truncation_is_a_bad_response)
{
    for (const char* name : {"recognize_full.json", "recognize_two_plates.json", "config.json", "error_400.json"}) {
        const std::string text = reply(name);
        const std::size_t end = text.rfind('}');
        BOOST_REQUIRE(end != std::string::npos);
        std::size_t failures = 0;
        for (std::size_t cut = 0; cut <= end; ++cut) {
            const std::string prefix = text.substr(0, cut);
            std::string detail;
            carcheck::recognition r;
            carcheck::config c;
            carcheck::error_body e;
            const bool all_failed = carcheck::parse_recognition(prefix, r, detail) == bad_response &&
                                    detail.starts_with("invalid JSON at offset ") &&
                                    carcheck::parse_config(prefix, c, detail) == bad_response &&
                                    carcheck::parse_error_body(prefix, e, detail) == bad_response;
            failures += all_failed ? 0 : 1;
        }
        BOOST_TEST(failures == 0u, name);
    }
}

BOOST_AUTO_TEST_CASE(deep_nesting_and_huge_input_do_not_crash)
{
    const std::string deep = "{\"x\":" + std::string(100000, '[') + std::string(100000, ']') + "}";
    auto [ec, r, detail] = recognize(deep);
    BOOST_TEST(ec == bad_response);
    BOOST_TEST(detail.starts_with("invalid JSON at offset "), detail);

    std::string nested_results = R"({"results":[{"plate":"A","future":)";
    for (int i = 0; i < 20; ++i)
        nested_results += "{\"a\":";
    nested_results += "1" + std::string(20, '}') + "}]}";
    BOOST_TEST(!recognize(nested_results).ec); // within the depth limit: ignored

    // topn=1000: a thousand candidates, and a 2 MB image.
    std::string big = R"({"image_bytes":")" + std::string(2'000'000, 'A') + R"(","results":[{"plate":"ABC123","candidates":[)";
    for (int i = 0; i < 1000; ++i)
        big += std::string(i ? "," : "") + R"({"plate":"C)" + std::to_string(i) + R"(","confidence":)" +
               std::to_string(99.0 - i * 0.05) + R"(,"matches_template":0})";
    big += "]}]}";
    auto large = recognize(big);
    BOOST_REQUIRE_MESSAGE(!large.ec, large.detail);
    BOOST_TEST(large.r.results[0].candidates.size() == 1000u);
    BOOST_TEST(large.r.results[0].candidates[999].plate == "C999");
    BOOST_TEST(large.r.image_bytes->size() == 2'000'000u);
    BOOST_TEST(large.r.raw_json.size() == big.size());
}

BOOST_AUTO_TEST_CASE(every_member_replaced_by_every_kind_never_crashes)
{
    for (const char* name : {"recognize_full.json", "config.json", "error_400.json"}) {
        boost::json::value doc = boost::json::parse(reply(name));
        std::size_t variants = 0, failures = 0;
        for_each_replacement(doc, doc, [&](const std::string& text) {
            ++variants;
            std::string detail;
            carcheck::recognition r;
            carcheck::config c;
            carcheck::error_body e;
            auto check = [&](carcheck::error_code ec) {
                if (ec ? (ec != bad_response || detail.empty()) : !detail.empty())
                    ++failures;
            };
            check(carcheck::parse_recognition(text, r, detail));
            check(carcheck::parse_config(text, c, detail));
            check(carcheck::parse_error_body(text, e, detail));
        });
        BOOST_TEST(variants > 0u);
        BOOST_TEST(failures == 0u, name);
    }
}

BOOST_AUTO_TEST_CASE(config_reply_fills_every_member)
{
    const std::string text = reply("config.json");
    auto [ec, c, detail] = configuration(text);
    BOOST_REQUIRE_MESSAGE(!ec, detail);
    BOOST_TEST(c.raw_json == text);
    BOOST_REQUIRE_EQUAL(c.countries.size(), 4u);
    BOOST_TEST(c.countries[0].code == "us");
    BOOST_TEST(c.countries[0].name == "North America");
    BOOST_TEST(c.countries[3].code == "gb");
    BOOST_TEST(c.countries[3].name == "Great Britain");
    const std::vector<std::string> bodytype{"car-sedan", "sedan-compact", "suv-standard", "van-mini"};
    const std::vector<std::string> color{"black", "blue", "silver-gray", "white"};
    const std::vector<std::string> make{"ford", "toyota", "volvo"};
    const std::vector<std::string> makemodel{"ford_focus", "toyota_camry", "volvo_v40"};
    const std::vector<std::string> orientation{"0", "45", "90", "135", "180", "225", "270", "315"};
    const std::vector<std::string> year{"2000-2004", "2005-2009", "2010-2014"};
    BOOST_TEST(c.labels.bodytype == bodytype, tt::per_element());
    BOOST_TEST(c.labels.color == color, tt::per_element());
    BOOST_TEST(c.labels.make == make, tt::per_element());
    BOOST_TEST(c.labels.makemodel == makemodel, tt::per_element());
    BOOST_TEST(c.labels.orientation == orientation, tt::per_element());
    BOOST_TEST(c.labels.year == year, tt::per_element());
}

BOOST_AUTO_TEST_CASE(config_edge_cases)
{
    {
        // The spec's example gives orientation labels as numbers.
        auto [ec, c, detail] = configuration(R"({"countries":[],"vehicle_labels":{"orientation":[0,45,"90"]}})");
        BOOST_REQUIRE_MESSAGE(!ec, detail);
        const std::vector<std::string> orientation{"0", "45", "90"};
        BOOST_TEST(c.labels.orientation == orientation, tt::per_element());
        BOOST_TEST(c.labels.color.empty());
    }
    {
        auto [ec, c, detail] = configuration(R"({"countries":[{"code":"us"}],"unknown":1})");
        BOOST_REQUIRE_MESSAGE(!ec, detail);
        BOOST_TEST(c.countries[0].name.empty());
    }
    const std::vector<std::pair<std::string, std::string>> bad{
        {R"({"vehicle_labels":{}})", "countries: missing required member"},
        {R"({"countries":[{"code":"us"},{"name":"Europe"}]})", "countries[1].code: missing required member"},
        {R"({"countries":[{"code":"us","name":7}]})", "countries[0].name: expected a string, got number"},
        {R"({"countries":[],"vehicle_labels":{"color":["red","blue",7]}})",
         "vehicle_labels.color[2]: expected a string, got number"},
        {R"({"countries":[],"vehicle_labels":{"orientation":[{}]}})",
         "vehicle_labels.orientation[0]: expected a string, got object"},
        {R"({"countries":[],"vehicle_labels":[]})", "vehicle_labels: expected an object, got array"},
        {R"([{"code":"us"}])", "top level: expected an object, got array"},
    };
    for (const auto& [json, expected] : bad) {
        BOOST_TEST_CONTEXT(json)
        {
            auto [ec, c, detail] = configuration(json);
            BOOST_TEST(ec == bad_response);
            BOOST_TEST(detail == expected);
        }
    }
}

BOOST_AUTO_TEST_CASE(error_bodies)
{
    for (const auto& [name, message] :
         std::vector<std::pair<std::string, std::string>>{{"error_400.json", "Invalid country: xx"},
                                                          {"error_402.json", "Monthly usage limit exceeded: 2000 credits this month"}}) {
        carcheck::error_body body;
        std::string detail;
        const std::string text = reply(name);
        BOOST_TEST(!carcheck::parse_error_body(text, body, detail));
        BOOST_TEST(body.error == message);
        BOOST_TEST(detail.empty());
    }

    // A view into a larger buffer: only the view is parsed.
    const std::string buffer = R"({"error":"invalid secret_key"}trailing bytes)";
    carcheck::error_body body;
    std::string detail;
    BOOST_TEST(!carcheck::parse_error_body(std::string_view(buffer).substr(0, 30), body, detail));
    BOOST_TEST(body.error == "invalid secret_key");

    const std::vector<std::pair<std::string, std::string>> bad{
        {R"({})", "error: missing required member"},
        {R"({"error":false,"results":[]})", "error: expected a string, got boolean"},
        {R"({"error":null})", "error: expected a string, got null"},
        {R"(["error"])", "top level: expected an object, got array"},
        {"", "invalid JSON at offset 0: incomplete JSON"},
    };
    for (const auto& [json, expected] : bad) {
        BOOST_TEST_CONTEXT(json)
        {
            carcheck::error_body b;
            b.error = "untouched";
            std::string d;
            BOOST_TEST(carcheck::parse_error_body(json, b, d) == bad_response);
            BOOST_TEST(d == expected);
            BOOST_TEST(b.error == "untouched");
        }
    }
    // HTML from a proxy is not the API's error body.
    BOOST_TEST(carcheck::parse_error_body("<html>502</html>", body, detail) == bad_response);
}

BOOST_AUTO_TEST_CASE(a_success_reply_is_not_an_error_body_and_vice_versa)
{
    carcheck::error_body body;
    std::string detail;
    BOOST_TEST(carcheck::parse_error_body(reply("recognize_full.json"), body, detail) == bad_response);
    auto [ec, r, d] = recognize(reply("error_400.json"));
    BOOST_TEST(ec == bad_response);
    BOOST_TEST(d == "results: missing required member");
}

BOOST_AUTO_TEST_CASE(parsing_again_replaces_the_previous_result)
{
    carcheck::recognition r;
    std::string detail;
    BOOST_REQUIRE(!carcheck::parse_recognition(reply("recognize_full.json"), r, detail));
    BOOST_REQUIRE(!carcheck::parse_recognition(reply("recognize_no_plates.json"), r, detail));
    BOOST_TEST(r.results.empty());
    BOOST_TEST(r.vehicles.empty());
    BOOST_TEST(!r.image_bytes.has_value());
    BOOST_TEST(r.credits_monthly_used == 43);
}

// Keys and strings with escapes reach the reader in pieces; they are read whole.
BOOST_AUTO_TEST_CASE(escaped_keys_and_strings_are_read_whole)
{
    // 300 KB of base64 as PHP's encoder sends it, with every '/' escaped.
    std::string image, escaped;
    for (int i = 0; i < 100'000; ++i) {
        image += "ab/";
        escaped += "ab\\/";
    }
    auto [ec, r, detail] = recognize(R"({"res\u0075lts":[{"pl\u0061te":"A\u0042C","region":"\"tx\""}],)"
                                     R"("image_bytes":")" + escaped + R"(","uu\u0069d":"\u00e9"})");
    BOOST_REQUIRE_MESSAGE(!ec, detail);
    BOOST_REQUIRE_EQUAL(r.results.size(), 1u);
    BOOST_TEST(r.results[0].plate == "ABC");
    BOOST_TEST(r.results[0].region == "\"tx\"");
    BOOST_REQUIRE(r.image_bytes.has_value());
    BOOST_TEST(r.image_bytes->size() == image.size());
    BOOST_TEST((*r.image_bytes == image));
    BOOST_TEST(r.uuid == "\xc3\xa9");

    // An escaped key the model does not know is skipped with its value.
    auto unknown = recognize(R"({"results":[],"\u0078":{"results":7}})");
    BOOST_TEST(!unknown.ec, unknown.detail);
}

BOOST_AUTO_TEST_CASE(a_member_given_twice_counts_the_last_time)
{
    auto [ec, r, detail] = recognize(
        R"({"results":[{"plate":"A"}],"processing_time":{"total":1,"plates":2},"version":1,)"
        R"("results":[{"plate":"B","candidates":[{"plate":"B1"}],"candidates":[{"plate":"B2"},{"plate":"B3"}]}],)"
        R"("processing_time":{"total":3},"version":2,"image_bytes":"x","image_bytes":"yz"})");
    BOOST_REQUIRE_MESSAGE(!ec, detail);
    BOOST_REQUIRE_EQUAL(r.results.size(), 1u);
    BOOST_TEST(r.results[0].plate == "B");
    BOOST_REQUIRE_EQUAL(r.results[0].candidates.size(), 2u);
    BOOST_TEST(r.results[0].candidates[0].plate == "B2");
    BOOST_TEST(r.processing_time.total == 3.0);
    BOOST_TEST(r.processing_time.plates == 0.0); // the second object replaces the first whole
    BOOST_TEST(r.version == 2);
    BOOST_TEST(r.image_bytes.value_or("") == "yz");
}

BOOST_AUTO_TEST_CASE(the_first_problem_in_document_order_is_reported)
{
    const std::vector<std::pair<std::string, std::string>> cases{
        {R"({"results":7,"version":"x"})", "results: expected an array, got number"},
        {R"({"version":"x","results":7})", "version: expected an integer, got string"},
        {R"({"results":[{"confidence":"x"}]})", "results[0].confidence: expected a number, got string"},
        {R"({"results":[{"plate":"A"},{"plate":"B","coordinates":[{"x":1},{"y":"2"}]}],"version":[]})",
         "results[1].coordinates[1].y: expected an integer, got string"},
        {R"({"results":"x",)", "results: expected an array, got string"},
    };
    for (const auto& [json, expected] : cases) {
        BOOST_TEST_CONTEXT(json)
        {
            auto [ec, r, detail] = recognize(json);
            BOOST_TEST(ec == bad_response);
            BOOST_TEST(detail == expected);
        }
    }
}

// Serialisation (value_from) ------------------------------------------------------------------

namespace {

namespace json = boost::json;

void same(const carcheck::vehicle_candidate& a, const carcheck::vehicle_candidate& b)
{
    BOOST_TEST(a.name == b.name);
    BOOST_TEST(a.confidence == b.confidence);
}

void same(const std::vector<carcheck::vehicle_candidate>& a, const std::vector<carcheck::vehicle_candidate>& b)
{
    BOOST_REQUIRE_EQUAL(a.size(), b.size());
    for (std::size_t i = 0; i < a.size(); ++i)
        same(a[i], b[i]);
}

void same(const carcheck::vehicle_details& a, const carcheck::vehicle_details& b)
{
    same(a.body_type, b.body_type);
    same(a.color, b.color);
    same(a.make, b.make);
    same(a.make_model, b.make_model);
    same(a.orientation, b.orientation);
    same(a.year, b.year);
}

void same(const carcheck::region_of_interest& a, const carcheck::region_of_interest& b)
{
    BOOST_TEST(a.x == b.x);
    BOOST_TEST(a.y == b.y);
    BOOST_TEST(a.width == b.width);
    BOOST_TEST(a.height == b.height);
}

void same(const carcheck::plate_details& a, const carcheck::plate_details& b)
{
    BOOST_TEST(a.plate == b.plate);
    BOOST_TEST(a.confidence == b.confidence);
    BOOST_TEST(a.matches_template == b.matches_template);
    BOOST_TEST(a.plate_index == b.plate_index);
    BOOST_TEST(a.region == b.region);
    BOOST_TEST(a.region_confidence == b.region_confidence);
    BOOST_TEST(a.processing_time_ms == b.processing_time_ms);
    BOOST_TEST(a.requested_topn == b.requested_topn);
    BOOST_REQUIRE_EQUAL(a.coordinates.size(), b.coordinates.size());
    for (std::size_t i = 0; i < a.coordinates.size(); ++i) {
        BOOST_TEST(a.coordinates[i].x == b.coordinates[i].x);
        BOOST_TEST(a.coordinates[i].y == b.coordinates[i].y);
    }
    BOOST_REQUIRE_EQUAL(a.candidates.size(), b.candidates.size());
    for (std::size_t i = 0; i < a.candidates.size(); ++i) {
        BOOST_TEST(a.candidates[i].plate == b.candidates[i].plate);
        BOOST_TEST(a.candidates[i].confidence == b.candidates[i].confidence);
        BOOST_TEST(a.candidates[i].matches_template == b.candidates[i].matches_template);
    }
    BOOST_REQUIRE_EQUAL(a.vehicle.has_value(), b.vehicle.has_value());
    if (a.vehicle)
        same(*a.vehicle, *b.vehicle);
    same(a.vehicle_region, b.vehicle_region);
}

void same(const carcheck::recognition& a, const carcheck::recognition& b)
{
    BOOST_TEST(a.version == b.version);
    BOOST_TEST(a.data_type == b.data_type);
    BOOST_TEST(a.epoch_time == b.epoch_time);
    BOOST_TEST(a.img_width == b.img_width);
    BOOST_TEST(a.img_height == b.img_height);
    BOOST_TEST(a.processing_time.total == b.processing_time.total);
    BOOST_TEST(a.processing_time.plates == b.processing_time.plates);
    BOOST_TEST(a.processing_time.vehicles == b.processing_time.vehicles);
    BOOST_REQUIRE_EQUAL(a.regions_of_interest.size(), b.regions_of_interest.size());
    for (std::size_t i = 0; i < a.regions_of_interest.size(); ++i)
        same(a.regions_of_interest[i], b.regions_of_interest[i]);
    BOOST_REQUIRE_EQUAL(a.results.size(), b.results.size());
    for (std::size_t i = 0; i < a.results.size(); ++i)
        same(a.results[i], b.results[i]);
    BOOST_REQUIRE_EQUAL(a.vehicles.size(), b.vehicles.size());
    for (std::size_t i = 0; i < a.vehicles.size(); ++i) {
        BOOST_TEST(a.vehicles[i].x == b.vehicles[i].x);
        BOOST_TEST(a.vehicles[i].y == b.vehicles[i].y);
        BOOST_TEST(a.vehicles[i].width == b.vehicles[i].width);
        BOOST_TEST(a.vehicles[i].height == b.vehicles[i].height);
        same(a.vehicles[i].details, b.vehicles[i].details);
    }
    BOOST_TEST(a.credit_cost == b.credit_cost);
    BOOST_TEST(a.credits_monthly_used == b.credits_monthly_used);
    BOOST_TEST(a.credits_monthly_total == b.credits_monthly_total);
    BOOST_TEST(a.uuid == b.uuid);
    BOOST_TEST((a.image_bytes == b.image_bytes));
    BOOST_TEST(a.image_bytes_prefix == b.image_bytes_prefix);
}

/// The property names of a schema of the spec.
std::set<std::string> spec_properties(const json::value& schema)
{
    std::set<std::string> out;
    for (const auto& kv : schema.at("properties").as_object())
        out.insert(std::string(kv.key()));
    return out;
}

std::set<std::string> member_names(const json::value& v)
{
    std::set<std::string> out;
    for (const auto& kv : v.as_object())
        out.insert(std::string(kv.key()));
    return out;
}

json::value load_spec()
{
    std::ifstream in(std::string(CARCHECK_TEST_DATA_DIR) + "/../../spec/carcheck-v3.json", std::ios::binary);
    BOOST_REQUIRE_MESSAGE(in, "cannot open spec/carcheck-v3.json");
    return json::parse(std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()));
}

/// Every property of the spec's schema is written, and nothing else but the `extras`.
void check_names(const json::value& written, const json::value& schema, const std::set<std::string>& extras,
                 const std::string& what)
{
    BOOST_TEST_CONTEXT(what)
    {
        const auto spec = spec_properties(schema);
        for (const auto& name : spec)
            BOOST_TEST(written.as_object().contains(name), "missing " << name);
        for (const auto& name : member_names(written))
            BOOST_TEST((spec.count(name) + extras.count(name)) == 1u, "unexpected " << name);
    }
}

} // namespace

BOOST_AUTO_TEST_CASE(recognitions_round_trip_through_value_from)
{
    for (const char* name : {"recognize_full.json", "recognize_two_plates.json", "recognize_no_plates.json"}) {
        BOOST_TEST_CONTEXT(name)
        {
            auto [ec, r, detail] = recognize(reply(name));
            BOOST_REQUIRE_MESSAGE(!ec, detail);
            const json::value written = json::value_from(r);
            BOOST_TEST(!written.as_object().contains("raw_json"));
            const std::string text = json::serialize(written);
            auto [ec2, again, detail2] = recognize(text);
            BOOST_REQUIRE_MESSAGE(!ec2, detail2);
            same(r, again);
            BOOST_TEST(again.raw_json == text);
            BOOST_TEST(json::value_from(again) == written);
        }
    }
}

BOOST_AUTO_TEST_CASE(value_from_leaves_out_empty_optional_members)
{
    carcheck::recognition r;
    r.results.emplace_back().plate = "ABC123";
    r.raw_json = "{}";
    const json::value v = json::value_from(r);
    for (const char* absent : {"image_bytes", "uuid", "image_bytes_prefix", "raw_json"})
        BOOST_TEST(!v.as_object().contains(absent), absent);
    BOOST_TEST(!v.at("results").at(0).as_object().contains("vehicle"));
    // Integral epoch times are written as integers, others as numbers.
    r.epoch_time = 1700000000123.0;
    BOOST_TEST(json::value_from(r).at("epoch_time").is_int64());
    r.epoch_time = 12.5;
    BOOST_TEST(json::value_from(r).at("epoch_time").as_double() == 12.5);
    // An empty but present image is written.
    r.image_bytes = "";
    BOOST_TEST(json::value_from(r).at("image_bytes").as_string().empty());
}

BOOST_AUTO_TEST_CASE(config_and_error_body_round_trip_through_value_from)
{
    auto [ec, c, detail] = configuration(reply("config.json"));
    BOOST_REQUIRE_MESSAGE(!ec, detail);
    const json::value written = json::value_from(c);
    BOOST_TEST(!written.as_object().contains("raw_json"));
    auto [ec2, again, detail2] = configuration(json::serialize(written));
    BOOST_REQUIRE_MESSAGE(!ec2, detail2);
    BOOST_REQUIRE_EQUAL(again.countries.size(), c.countries.size());
    for (std::size_t i = 0; i < c.countries.size(); ++i) {
        BOOST_TEST(again.countries[i].code == c.countries[i].code);
        BOOST_TEST(again.countries[i].name == c.countries[i].name);
    }
    BOOST_TEST(again.labels.bodytype == c.labels.bodytype, tt::per_element());
    BOOST_TEST(again.labels.color == c.labels.color, tt::per_element());
    BOOST_TEST(again.labels.make == c.labels.make, tt::per_element());
    BOOST_TEST(again.labels.makemodel == c.labels.makemodel, tt::per_element());
    BOOST_TEST(again.labels.orientation == c.labels.orientation, tt::per_element());
    BOOST_TEST(again.labels.year == c.labels.year, tt::per_element());

    carcheck::error_body body;
    std::string d;
    BOOST_REQUIRE(!carcheck::parse_error_body(reply("error_402.json"), body, d));
    carcheck::error_body body2;
    BOOST_REQUIRE(!carcheck::parse_error_body(json::serialize(json::value_from(body)), body2, d));
    BOOST_TEST(body2.error == body.error);
}

BOOST_AUTO_TEST_CASE(error_code_of_the_live_service_is_kept)
{
    // The error bodies the live service has been seen to send.
    for (const auto& [text, code, message] : std::vector<std::tuple<std::string, std::int64_t, std::string>>{
             {R"({"error_code": 401, "error": "Invalid credentials"})", 401, "Invalid credentials"},
             {R"({"error_code": 402, "error": "Monthly Usage (50) exceeded for this month"})", 402,
              "Monthly Usage (50) exceeded for this month"},
             {R"({"error": "Unable to base64 decode image_bytes body", "error_code": 400})", 400,
              "Unable to base64 decode image_bytes body"}}) {
        carcheck::error_body body;
        std::string d;
        BOOST_REQUIRE(!carcheck::parse_error_body(text, body, d));
        BOOST_TEST(body.error == message);
        BOOST_TEST_REQUIRE(body.error_code.has_value());
        BOOST_TEST(*body.error_code == code);
        // Written back with the service's names, and read again to the same values.
        const json::value written = json::value_from(body);
        BOOST_TEST(written == json::parse(text));
        carcheck::error_body again;
        BOOST_REQUIRE(!carcheck::parse_error_body(json::serialize(written), again, d));
        BOOST_TEST((again.error_code == body.error_code));
    }
    // Absent: stays empty and is not written; a wrong type names the member.
    carcheck::error_body body;
    std::string d;
    BOOST_REQUIRE(!carcheck::parse_error_body(R"({"error":"x"})", body, d));
    BOOST_TEST(!body.error_code.has_value());
    BOOST_TEST(!json::value_from(body).as_object().contains("error_code"));
    BOOST_TEST(carcheck::parse_error_body(R"({"error":"x","error_code":"401"})", body, d) == bad_response);
    BOOST_TEST(d == "error_code: expected an integer, got string");
}

BOOST_AUTO_TEST_CASE(value_from_writes_the_spec_member_names)
{
    const json::value spec = load_spec();
    const json::value& defs = spec.at("definitions");
    const json::value& ok = spec.at("responses").at("api_200").at("schema");
    const json::value& cfg = spec.at("paths").at("/config").at("get").at("responses").at("200").at("schema");

    auto [ec, r, detail] = recognize(reply("recognize_full.json"));
    BOOST_REQUIRE_MESSAGE(!ec, detail);
    BOOST_REQUIRE(!r.results.empty() && r.results[0].vehicle && !r.vehicles.empty());
    const json::value v = json::value_from(r);
    // Members the service sends beyond the spec, kept by the model.
    check_names(v, ok, {"uuid", "image_bytes", "image_bytes_prefix"}, "api_200");
    check_names(v.at("processing_time"), ok.at("properties").at("processing_time"), {}, "processing_time");
    check_names(v.at("regions_of_interest").at(0), defs.at("region_of_interest"), {}, "region_of_interest");
    const json::value& plate = v.at("results").at(0);
    check_names(plate, defs.at("plate_details"), {"plate_index"}, "plate_details");
    check_names(plate.at("coordinates").at(0), defs.at("coordinate"), {}, "coordinate");
    check_names(plate.at("candidates").at(0), defs.at("plate_candidate"), {}, "plate_candidate");
    check_names(plate.at("vehicle"), defs.at("vehicle_details"), {}, "vehicle_details");
    check_names(plate.at("vehicle").at("color").at(0), defs.at("vehicle_candidate"), {}, "vehicle_candidate");
    check_names(v.at("vehicles").at(0), defs.at("vehicles"), {}, "vehicles");
    check_names(v.at("vehicles").at(0).at("details"), defs.at("vehicle_details"), {}, "vehicles.details");

    auto [ec2, c, detail2] = configuration(reply("config.json"));
    BOOST_REQUIRE_MESSAGE(!ec2, detail2);
    const json::value cv = json::value_from(c);
    check_names(cv, cfg, {}, "config");
    check_names(cv.at("countries").at(0), cfg.at("properties").at("countries").at("items"), {}, "country");
    check_names(cv.at("vehicle_labels"), cfg.at("properties").at("vehicle_labels"), {}, "vehicle_labels");

    for (const char* status : {"api_400", "api_401", "api_402", "api_403"})
        check_names(json::value_from(carcheck::error_body{"x", 401}), spec.at("responses").at(status).at("schema"),
                    {"error_code"}, status);
}

// The client reads a 200 reply once: the typed result and the credit counters the scheduler
// accounts come from the same parse, and a counter the reply lacks is reported as absent
// (not as the 0 the recognition keeps).
BOOST_AUTO_TEST_CASE(one_parse_gives_the_result_and_the_credit_counters)
{
    carcheck::recognition r;
    std::string detail;
    carcheck::detail::reply_credits credits;
    BOOST_TEST(!carcheck::detail::parse_recognition_reply(
        R"({"results": [], "credits_monthly_used": 43, "credits_monthly_total": 2000, "credit_cost": 1})", r, detail,
        credits));
    BOOST_TEST(credits.used.value_or(-1) == 43);
    BOOST_TEST(credits.total.value_or(-1) == 2000);
    BOOST_TEST(r.credits_monthly_used == 43);

    carcheck::detail::reply_credits none;
    BOOST_TEST(!carcheck::detail::parse_recognition_reply(R"({"results": [], "credits_monthly_total": 5})", r,
                                                          detail, none));
    BOOST_TEST(!none.used.has_value());
    BOOST_TEST(none.total.value_or(-1) == 5);

    // A nested member of the same name is not the account's counter.
    carcheck::detail::reply_credits nested;
    BOOST_TEST(!carcheck::detail::parse_recognition_reply(
        R"({"results": [], "extra": {"credits_monthly_used": 9}})", r, detail, nested));
    BOOST_TEST(!nested.used.has_value());

    // null counts as absent, as for every optional member.
    carcheck::detail::reply_credits null_used;
    BOOST_TEST(!carcheck::detail::parse_recognition_reply(
        R"({"results": [], "credits_monthly_used": null, "credits_monthly_total": 9})", r, detail, null_used));
    BOOST_TEST(!null_used.used.has_value());
    BOOST_TEST(null_used.total.value_or(-1) == 9);

    carcheck::detail::reply_credits broken;
    BOOST_TEST(carcheck::detail::parse_recognition_reply(R"({"results": 3, "credits_monthly_used": 1})", r, detail,
                                                         broken) == bad_response);
    BOOST_TEST(!broken.used.has_value());
}

BOOST_AUTO_TEST_SUITE_END()
