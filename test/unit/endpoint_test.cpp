#include <carcheck/detail/endpoint.hpp>
#include <carcheck/error.hpp>

#include <boost/test/unit_test.hpp>

using carcheck::detail::endpoint;
using carcheck::detail::parse_endpoint;

BOOST_AUTO_TEST_SUITE(endpoint_test)

BOOST_AUTO_TEST_CASE(https_defaults)
{
    endpoint ep;
    std::string msg;
    BOOST_TEST(!parse_endpoint("https://api.openalpr.com/v3/", false, ep, msg));
    BOOST_TEST(ep.tls);
    BOOST_TEST(ep.host == "api.openalpr.com");
    BOOST_TEST(ep.port == 443);
    BOOST_TEST(ep.base_path == "/v3");
    BOOST_TEST(ep.host_header == "api.openalpr.com");
    BOOST_TEST(!ep.is_ip_literal());
    BOOST_TEST(!ep.is_loopback());
}

BOOST_AUTO_TEST_CASE(ports_and_ip_literals)
{
    endpoint ep;
    std::string msg;
    BOOST_TEST(!parse_endpoint("http://127.0.0.1:8080/v3", false, ep, msg));
    BOOST_TEST(!ep.tls);
    BOOST_TEST(ep.port == 8080);
    BOOST_TEST(ep.host_header == "127.0.0.1:8080");
    BOOST_TEST(ep.is_loopback());
    BOOST_TEST(!parse_endpoint("http://[::1]:9000/v3", false, ep, msg));
    BOOST_TEST(ep.host == "::1");
    BOOST_TEST(ep.is_loopback());
    BOOST_TEST(ep.host_header == "[::1]:9000");
    BOOST_TEST(!parse_endpoint("http://localhost/v3", false, ep, msg));
    BOOST_TEST(ep.port == 80);
}

BOOST_AUTO_TEST_CASE(plain_http_only_to_loopback_unless_allowed)
{
    endpoint ep;
    std::string msg;
    BOOST_TEST(parse_endpoint("http://api.openalpr.com/v3", false, ep, msg) == carcheck::error::insecure_endpoint);
    BOOST_TEST(msg.find("api.openalpr.com") != std::string::npos);
    BOOST_TEST(parse_endpoint("http://10.0.0.1/v3", false, ep, msg) == carcheck::error::insecure_endpoint);
    BOOST_TEST(!parse_endpoint("http://api.openalpr.com/v3", true, ep, msg));
}

BOOST_AUTO_TEST_CASE(rejects_unusable_endpoints)
{
    endpoint ep;
    std::string msg;
    BOOST_TEST(parse_endpoint("api.openalpr.com/v3", false, ep, msg) == carcheck::error::invalid_argument);
    BOOST_TEST(parse_endpoint("ftp://host/v3", false, ep, msg) == carcheck::error::invalid_argument);
    BOOST_TEST(msg.find("ftp") != std::string::npos);
    BOOST_TEST(parse_endpoint("https://user:pw@host/v3", false, ep, msg) == carcheck::error::invalid_argument);
    BOOST_TEST(parse_endpoint("https://host/v3?x=1", false, ep, msg) == carcheck::error::invalid_argument);
    BOOST_TEST(parse_endpoint("https:///v3", false, ep, msg) == carcheck::error::invalid_argument);
}

BOOST_AUTO_TEST_CASE(ports_above_65535_are_refused_not_wrapped)
{
    endpoint ep;
    std::string msg;
    BOOST_TEST(parse_endpoint("https://127.0.0.1:99999/v3", false, ep, msg) == carcheck::error::invalid_argument);
    BOOST_TEST(msg.find("99999") != std::string::npos);
    BOOST_TEST(parse_endpoint("https://127.0.0.1:65536/v3", false, ep, msg) == carcheck::error::invalid_argument);
    BOOST_TEST(parse_endpoint("https://127.0.0.1:0/v3", false, ep, msg) == carcheck::error::invalid_argument);
    BOOST_TEST(parse_endpoint("https://127.0.0.1:123456/v3", false, ep, msg) == carcheck::error::invalid_argument);
    BOOST_TEST(!parse_endpoint("https://127.0.0.1:65535/v3", false, ep, msg));
    BOOST_TEST(ep.port == 65535);
}

BOOST_AUTO_TEST_CASE(schemes_are_case_insensitive)
{
    endpoint ep;
    std::string msg;
    BOOST_TEST(!parse_endpoint("HTTP://127.0.0.1:8080/v3", false, ep, msg));
    BOOST_TEST(!ep.tls);
    BOOST_TEST(!parse_endpoint("HttpS://api.openalpr.com/v3", false, ep, msg));
    BOOST_TEST(ep.tls);
    BOOST_TEST(ep.port == 443);
    BOOST_TEST(parse_endpoint("HTTP://api.openalpr.com/v3", false, ep, msg) == carcheck::error::insecure_endpoint);
}

BOOST_AUTO_TEST_SUITE_END()
