#include <carcheck/rate_limit.hpp>

#include <boost/beast/http/fields.hpp>
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <string>

namespace http = boost::beast::http;

BOOST_AUTO_TEST_SUITE(rate_limit_test)

BOOST_AUTO_TEST_CASE(reads_the_three_headers_case_insensitively)
{
    http::fields f;
    f.set("x-ratelimit-limit", "60");
    f.set("X-RATELIMIT-REMAINING", " 7 ");
    f.set("X-Ratelimit-Reset", "1700000060");
    auto info = carcheck::parse_rate_limit(f);
    BOOST_TEST(info.limit.value() == 60);
    BOOST_TEST(info.remaining.value() == 7);
    BOOST_TEST(info.reset_epoch.value() == 1700000060);
    BOOST_TEST(!info.server_date.has_value());
}

BOOST_AUTO_TEST_CASE(missing_and_malformed_headers_are_tolerated)
{
    http::fields f;
    f.set("X-RateLimit-Limit", "sixty");
    f.set("X-Ratelimit-Remaining", "-1");
    f.set("X-Ratelimit-Reset", "12abc");
    f.set(http::field::date, "yesterday");
    auto info = carcheck::parse_rate_limit(f);
    BOOST_TEST(info.empty());
    BOOST_TEST(carcheck::parse_rate_limit(http::fields{}).empty());
    BOOST_TEST(!carcheck::parse_header_integer("").has_value());
    BOOST_TEST(!carcheck::parse_header_integer("99999999999999999999999").has_value());
    BOOST_TEST(!carcheck::parse_header_integer("+5").has_value());
    BOOST_TEST(carcheck::parse_header_integer("\t42").value() == 42);
}

BOOST_AUTO_TEST_CASE(the_first_of_repeated_headers_counts_and_look_alikes_do_not)
{
    http::fields f;
    f.insert("Server", "nginx");
    f.insert("X-RateLimit-Limited", "5");
    f.insert("X-RateLimit-", "6");
    f.insert("X-RateLimit-Limit", "60");
    f.insert(http::field::date, "Sun, 06 Nov 1994 08:49:37 GMT");
    f.insert("x-ratelimit-limit", "70");
    f.insert("X-RateLimit-Remaining", "7");
    f.insert(http::field::date, "Mon, 07 Nov 1994 08:49:37 GMT");
    f.insert("X-RateLimit-Remaining", "8");
    auto info = carcheck::parse_rate_limit(f);
    BOOST_TEST(info.limit.value() == 60);
    BOOST_TEST(info.remaining.value() == 7);
    BOOST_TEST(!info.reset_epoch.has_value());
    BOOST_REQUIRE(info.server_date.has_value());
    BOOST_TEST(std::chrono::duration_cast<std::chrono::seconds>(info.server_date->time_since_epoch()).count() ==
               784111777);
}

BOOST_AUTO_TEST_CASE(http_dates)
{
    using namespace std::chrono;
    auto d = carcheck::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT");
    BOOST_REQUIRE(d.has_value());
    BOOST_TEST(duration_cast<seconds>(d->time_since_epoch()).count() == 784111777);
    auto leap = carcheck::parse_http_date("Thu, 29 Feb 2024 23:59:59 GMT");
    BOOST_REQUIRE(leap.has_value());
    BOOST_TEST(duration_cast<seconds>(leap->time_since_epoch()).count() == 1709251199);
    BOOST_TEST(!carcheck::parse_http_date("Sun, 06 Nov 1994 08:49:37 UTC").has_value());
    BOOST_TEST(!carcheck::parse_http_date("Sun, 06 Foo 1994 08:49:37 GMT").has_value());
    BOOST_TEST(!carcheck::parse_http_date("Sun, 06 Nov 1994 25:49:37 GMT").has_value());
    BOOST_TEST(!carcheck::parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT").has_value());
    // Years a 64-bit nanosecond clock cannot hold (found by fuzzing) and years no server
    // clock shows are refused, not overflowed.
    BOOST_TEST(!carcheck::parse_http_date("Wed, 25 Nov 1013 13:05:35 GMT").has_value());
    BOOST_TEST(!carcheck::parse_http_date("Wed, 25 Nov 9999 13:05:35 GMT").has_value());
    BOOST_TEST(!carcheck::parse_http_date("Wed, 31 Dec 1969 23:59:59 GMT").has_value());
    BOOST_TEST(carcheck::parse_http_date("Mon, 31 Dec 2199 23:59:59 GMT").has_value());
}

BOOST_AUTO_TEST_CASE(http_dates_of_every_month)
{
    using namespace std::chrono;
    const char* names[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    for (unsigned m = 1; m <= 12; ++m) {
        const std::string text = std::string("Mon, 15 ") + names[m - 1] + " 2026 12:00:00 GMT";
        const auto d = carcheck::parse_http_date(text);
        BOOST_REQUIRE_MESSAGE(d.has_value(), text);
        const auto expected = sys_days{year{2026} / month{m} / day{15}} + hours{12};
        BOOST_TEST(duration_cast<seconds>(d->time_since_epoch()).count() ==
                   duration_cast<seconds>(expected.time_since_epoch()).count(), text);
    }
    // Month names are case-sensitive (RFC 9110's IMF-fixdate), and only the twelve.
    BOOST_TEST(!carcheck::parse_http_date("Mon, 15 nov 2026 12:00:00 GMT").has_value());
    BOOST_TEST(!carcheck::parse_http_date("Mon, 15 Jax 2026 12:00:00 GMT").has_value());
    BOOST_TEST(!carcheck::parse_http_date("Mon, 15 Dez 2026 12:00:00 GMT").has_value());
}

BOOST_AUTO_TEST_SUITE_END()
