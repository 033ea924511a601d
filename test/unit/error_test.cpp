#include <carcheck/diagnostics.hpp>
#include <carcheck/error.hpp>

#include <boost/asio/error.hpp>
#include <boost/test/unit_test.hpp>

BOOST_AUTO_TEST_SUITE(error_test)

BOOST_AUTO_TEST_CASE(statuses_map_to_named_errors)
{
    BOOST_TEST(!carcheck::error_from_status(200));
    BOOST_TEST(carcheck::error_from_status(400) == carcheck::error::invalid_parameter);
    BOOST_TEST(carcheck::error_from_status(401) == carcheck::error::invalid_secret_key);
    BOOST_TEST(carcheck::error_from_status(402) == carcheck::error::monthly_limit);
    BOOST_TEST(carcheck::error_from_status(403) == carcheck::error::rate_limited);
    BOOST_TEST(carcheck::error_from_status(500) == carcheck::error::unexpected_status);
    BOOST_TEST(carcheck::error_from_status(302) == carcheck::error::unexpected_status);
}

BOOST_AUTO_TEST_CASE(every_code_has_a_message_in_the_carcheck_category)
{
    for (int e = static_cast<int>(carcheck::error::invalid_parameter);
         e <= static_cast<int>(carcheck::error::client_closed); ++e) {
        carcheck::error_code ec = static_cast<carcheck::error>(e);
        BOOST_TEST(std::string(ec.category().name()) == "carcheck");
        BOOST_TEST(ec.message() != "unknown carcheck error");
        BOOST_TEST(!ec.message().empty());
    }
    carcheck::error_code unknown(999, carcheck::error_category());
    BOOST_TEST(unknown.message() == "unknown carcheck error");
}

BOOST_AUTO_TEST_CASE(api_error_carries_diagnostics_in_what)
{
    carcheck::diagnostics d;
    d.http_status = 402;
    d.server_message = "Monthly usage limit exceeded";
    d.rate_limit.remaining = 0;
    carcheck::api_error e(carcheck::error::monthly_limit, d);
    BOOST_TEST(e.code() == carcheck::error::monthly_limit);
    const std::string what = e.what();
    BOOST_TEST(what.find("HTTP 402") != std::string::npos);
    BOOST_TEST(what.find("Monthly usage limit exceeded") != std::string::npos);
    BOOST_TEST(e.get_diagnostics().rate_limit.remaining.value() == 0);
    BOOST_TEST(what.find("error_code") == std::string::npos); // none was received
    d.server_error_code = 402; // the same as the status: not said twice
    BOOST_TEST(carcheck::api_error(carcheck::error::monthly_limit, d).what() ==
               std::string(e.code().message()) + ": Monthly usage limit exceeded");
    d.server_error_code = 4021; // something the status does not say
    BOOST_TEST(carcheck::api_error(carcheck::error::monthly_limit, d).what() ==
               std::string(e.code().message()) + " (error_code 4021): Monthly usage limit exceeded");
    // Catchable as the error type Asio throws for plain error codes.
    try {
        throw e;
    } catch (const boost::system::system_error& s) {
        BOOST_TEST(s.code() == carcheck::error::monthly_limit);
    }
}

BOOST_AUTO_TEST_CASE(describe_without_response)
{
    carcheck::diagnostics d;
    d.client_message = "topn must be within 1..1000, got 0";
    BOOST_TEST(d.describe(carcheck::error::invalid_argument) ==
               "invalid argument: topn must be within 1..1000, got 0");
    d.clear();
    BOOST_TEST(d.describe({}) == "success");
}

// Each fact once: the status is not repeated after a message that names it, and a client
// sentence that already names the error is the whole description.
BOOST_AUTO_TEST_CASE(describe_says_each_fact_once)
{
    carcheck::diagnostics d;
    d.http_status = 400;
    d.server_message = "Unable to base64 decode image_bytes body";
    BOOST_TEST(d.describe(carcheck::error::invalid_parameter) ==
               "invalid parameter (HTTP 400): Unable to base64 decode image_bytes body");
    d.clear();
    d.http_status = 413;
    d.server_message = "Request body too large";
    BOOST_TEST(d.describe(carcheck::error::unexpected_status) ==
               "unexpected HTTP status (HTTP 413): Request body too large");
    d.clear();
    const carcheck::error_code refused = boost::asio::error::connection_refused;
    d.client_message = "cannot connect to 127.0.0.1:9: " + refused.message();
    BOOST_TEST(d.describe(refused) == d.client_message);
    d.client_message = "request deadline expired while reading the response";
    BOOST_TEST(d.describe(carcheck::error::timeout) ==
               "operation timed out: request deadline expired while reading the response");
}

BOOST_AUTO_TEST_SUITE_END()
