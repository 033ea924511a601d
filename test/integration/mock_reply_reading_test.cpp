// The replies the mock writes (as the live service writes them) are in the usual form the
// client's fast reader takes, and it reads them as the general reader does: so the fast
// path is the one the client takes against the mock and the service, not a side path.
#include <carcheck/model.hpp>
// After model.hpp, which a header-only build needs first (model_reader.ipp).
#include "support/reader_agreement.hpp"

#include "plain_json.hpp"
#include "recognition.hpp"

#include <boost/test/unit_test.hpp>

#include <string>

namespace {

/// The fast reader takes `text`, and the general reader gives the same value and members.
template <class T>
void check_read_alike(const std::string& text)
{
    const carcheck_test::both_readers<T> r(text);
    BOOST_TEST_REQUIRE(r.fast_took_it);
    BOOST_TEST(!r.general_ec);
    BOOST_TEST(r.agree());
}

} // namespace

BOOST_AUTO_TEST_SUITE(mock_reply_reading_test)

BOOST_AUTO_TEST_CASE(recognition_replies_take_the_fast_reader)
{
    const std::string image = "\xFF\xD8\xFF\xE0 plate=ABC1234;region=us-ca plate=XYZ987 plate=QRS55";
    const std::string sha = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    for (const bool vehicle : {false, true}) {
        for (const int topn : {1, 10, 40}) {
            BOOST_TEST_CONTEXT("recognize_vehicle " << vehicle << ", topn " << topn)
            {
                carcheck::mock::recognize_params params;
                params.country = "us";
                params.recognize_vehicle = vehicle;
                params.topn = topn;
                boost::json::object body =
                    carcheck::mock::recognize(params, carcheck::mock::image_facts{image, sha, image.size()});
                // What the service adds around the recognition (see service.cpp).
                body["epoch_time"] = 1765000000123;
                body["credit_cost"] = vehicle ? 2 : 1;
                body["credits_monthly_total"] = 2000;
                body["credits_monthly_used"] = 43;
                body["error"] = false;
                body["uuid"] = "0a9b8c7d-6e5f-4a3b-9c2d-1e0f2a3b4c5d";
                body["image_bytes"] = "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAgGBgcGBQgHBwcJCQgKDBQNDAsLDBkSEw8UHRofHh0a";
                body["image_bytes_prefix"] = "data:image/jpeg;base64,";
                check_read_alike<carcheck::recognition>(carcheck::mock::to_plain_json(body));
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(config_and_error_replies_take_the_fast_reader)
{
    check_read_alike<carcheck::config>(carcheck::mock::to_plain_json(carcheck::mock::config_json()));
    check_read_alike<carcheck::error_body>(
        carcheck::mock::to_plain_json(boost::json::object{{"error_code", 401}, {"error", "Invalid credentials"}}));
}

BOOST_AUTO_TEST_SUITE_END()
