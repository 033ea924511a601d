// Choosing a proxy as curl does: no_proxy matching, proxy URLs, the environment helper, and
// the order in which several addresses are tried (RFC 8305).
#include <carcheck/detail/connector.hpp>
#include <carcheck/detail/proxy_target.hpp>
#include <carcheck/proxy.hpp>

#include <boost/test/unit_test.hpp>

#include <cstdlib>

using carcheck::no_proxy_matches;

BOOST_AUTO_TEST_SUITE(no_proxy_test)

BOOST_AUTO_TEST_CASE(names_match_themselves_and_their_subdomains)
{
    BOOST_TEST(no_proxy_matches("example.com", "example.com"));
    BOOST_TEST(no_proxy_matches("api.example.com", "example.com"));
    BOOST_TEST(no_proxy_matches("a.b.example.com", "example.com"));
    BOOST_TEST(!no_proxy_matches("badexample.com", "example.com"));
    BOOST_TEST(!no_proxy_matches("example.com.evil", "example.com"));
    BOOST_TEST(!no_proxy_matches("example.com", "api.example.com"));
    // A leading dot is optional; case and trailing dots do not matter.
    BOOST_TEST(no_proxy_matches("api.example.com", ".example.com"));
    BOOST_TEST(no_proxy_matches("example.com", ".example.com"));
    BOOST_TEST(!no_proxy_matches("badexample.com", ".example.com"));
    BOOST_TEST(no_proxy_matches("API.Example.COM", "example.com"));
    BOOST_TEST(no_proxy_matches("api.example.com.", "example.com"));
    BOOST_TEST(no_proxy_matches("api.example.com", "example.com."));
}

BOOST_AUTO_TEST_CASE(lists_are_comma_separated_with_blanks_trimmed)
{
    BOOST_TEST(no_proxy_matches("b.org", "a.org, b.org"));
    BOOST_TEST(no_proxy_matches("b.org", " a.org ,\tb.org\t"));
    BOOST_TEST(no_proxy_matches("b.org", "a.org,,b.org,"));
    BOOST_TEST(!no_proxy_matches("c.org", "a.org, b.org"));
    BOOST_TEST(!no_proxy_matches("a.org", ""));
    BOOST_TEST(!no_proxy_matches("a.org", " , "));
    BOOST_TEST(!no_proxy_matches("", "a.org"));
}

BOOST_AUTO_TEST_CASE(a_lone_star_matches_everything)
{
    BOOST_TEST(no_proxy_matches("anything.example", "*"));
    BOOST_TEST(no_proxy_matches("10.1.2.3", "*"));
    BOOST_TEST(no_proxy_matches("::1", " * "));
    // As in curl, "*" is a wildcard only as the whole list.
    BOOST_TEST(!no_proxy_matches("anything.example", "a.org,*"));
}

BOOST_AUTO_TEST_CASE(ip_addresses_compare_exactly_or_by_cidr)
{
    BOOST_TEST(no_proxy_matches("127.0.0.1", "127.0.0.1"));
    BOOST_TEST(!no_proxy_matches("127.0.0.10", "127.0.0.1"));
    BOOST_TEST(no_proxy_matches("192.168.7.9", "192.168.0.0/16"));
    BOOST_TEST(!no_proxy_matches("192.169.0.1", "192.168.0.0/16"));
    BOOST_TEST(no_proxy_matches("10.0.0.1", "10.0.0.1/32"));
    BOOST_TEST(!no_proxy_matches("10.0.0.2", "10.0.0.1/32"));
    BOOST_TEST(no_proxy_matches("10.200.0.1", "10.0.0.0/8"));
    BOOST_TEST(!no_proxy_matches("10.0.0.1", "10.0.0.0/33")); // no such prefix length
    BOOST_TEST(!no_proxy_matches("10.0.0.1", "10.0.0.0/x"));
    BOOST_TEST(no_proxy_matches("::1", "::1"));
    BOOST_TEST(no_proxy_matches("[::1]", "::1"));
    BOOST_TEST(no_proxy_matches("::1", "[::1]"));
    BOOST_TEST(no_proxy_matches("fd12:3456::1", "fd00::/8"));
    BOOST_TEST(!no_proxy_matches("fe80::1", "fd00::/8"));
    BOOST_TEST(no_proxy_matches("2001:db8::7", "2001:db8::/33"));
    BOOST_TEST(!no_proxy_matches("2001:db8:8000::7", "2001:db8::/33"));
    // Families and kinds never mix; nothing is resolved.
    BOOST_TEST(!no_proxy_matches("127.0.0.1", "::1"));
    BOOST_TEST(!no_proxy_matches("127.0.0.1", "localhost"));
    BOOST_TEST(!no_proxy_matches("localhost", "127.0.0.1"));
    // Addresses are not domains: "0.0.1" is no suffix match.
    BOOST_TEST(!no_proxy_matches("10.0.0.1", "0.0.1"));
}

BOOST_AUTO_TEST_CASE(ports_are_not_part_of_the_match)
{
    BOOST_TEST(!no_proxy_matches("example.com", "example.com:443"));
}

BOOST_AUTO_TEST_CASE(proxy_urls)
{
    using carcheck::detail::parse_proxy;
    using carcheck::detail::proxy_target;
    proxy_target p;
    std::string message;
    BOOST_TEST(!parse_proxy("http://proxy.example:3128", p, message));
    BOOST_TEST(p.host == "proxy.example");
    BOOST_TEST(p.port == 3128);
    BOOST_TEST(p.authorization.empty());
    BOOST_TEST(p.name() == "proxy proxy.example:3128");

    BOOST_TEST(!parse_proxy("http://proxy.example", p, message));
    BOOST_TEST(p.port == 1080); // curl's default
    BOOST_TEST(!parse_proxy("proxy.example:8080", p, message)); // no scheme: http
    BOOST_TEST(p.port == 8080);
    BOOST_TEST(!parse_proxy("HTTP://[::1]:3128/", p, message));
    BOOST_TEST(p.host == "::1");
    BOOST_TEST(p.name() == "proxy [::1]:3128");

    // RFC 7617 over the percent-decoded user info: base64("Aladdin:open sesame").
    BOOST_TEST(!parse_proxy("http://Aladdin:open%20sesame@proxy.example:3128", p, message));
    BOOST_TEST(p.authorization == "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
    BOOST_TEST(p.name().find("sesame") == std::string::npos);

    const std::pair<const char*, const char*> bad[] = {
        {"socks5://u:hunter2@h:1080", "got 'socks5'"},
        {"https://u:hunter2@h:1080", "https"},
        {"http://u:hunter2@h:0", "port '0'"},
        {"http://u:hunter2@h:65536", "port '65536'"},
        {"http://u:hunter2@h:3128/x", "path"},
        {"http://u:hunter2@h:3128?q", "query"},
        {"http://u:hunter2@", "no host"},
        {"http://u:hunter2@h:3128 x", "not a URL"},
    };
    for (const auto& [url, expected] : bad) {
        message.clear();
        BOOST_TEST(parse_proxy(url, p, message) == carcheck::error::invalid_argument, url);
        BOOST_TEST(message.find(expected) != std::string::npos, url << ": " << message);
        BOOST_TEST(message.find("hunter2") == std::string::npos, message);
    }
}

BOOST_AUTO_TEST_CASE(proxy_from_the_environment)
{
    for (const char* v : {"https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY", "no_proxy", "NO_PROXY"})
        ::unsetenv(v);
    using carcheck::proxy_from_environment;
    BOOST_TEST(proxy_from_environment("https://api.example.com/v3") == "");
    ::setenv("HTTPS_PROXY", "http://upper:1", 1);
    BOOST_TEST(proxy_from_environment("https://api.example.com/v3") == "http://upper:1");
    ::setenv("https_proxy", "http://lower:2", 1);
    BOOST_TEST(proxy_from_environment("https://api.example.com/v3") == "http://lower:2");
    // http endpoints: http_proxy in lower case only, as curl.
    ::setenv("HTTP_PROXY", "http://upper:3", 1);
    BOOST_TEST(proxy_from_environment("http://127.0.0.1:8080/v3") == "");
    ::setenv("http_proxy", "http://lower:4", 1);
    BOOST_TEST(proxy_from_environment("http://127.0.0.1:8080/v3") == "http://lower:4");
    // no_proxy first, else NO_PROXY.
    ::setenv("NO_PROXY", "example.com", 1);
    BOOST_TEST(proxy_from_environment("https://api.example.com/v3") == "");
    ::setenv("no_proxy", "other.org", 1);
    BOOST_TEST(proxy_from_environment("https://api.example.com/v3") == "http://lower:2");
    ::setenv("no_proxy", "127.0.0.0/8", 1);
    BOOST_TEST(proxy_from_environment("http://127.0.0.1:8080/v3") == "");
    BOOST_TEST(proxy_from_environment("not a url") == "");
    for (const char* v : {"https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY", "no_proxy", "NO_PROXY"})
        ::unsetenv(v);
}

BOOST_AUTO_TEST_CASE(addresses_are_tried_ipv6_first_then_alternating)
{
    using boost::asio::ip::make_address;
    using ep = boost::asio::ip::tcp::endpoint;
    const std::vector<ep> in{{make_address("192.0.2.1"), 1}, {make_address("192.0.2.2"), 1},
                             {make_address("192.0.2.3"), 1}, {make_address("2001:db8::1"), 1},
                             {make_address("2001:db8::2"), 1}};
    const std::vector<ep> expected{{make_address("2001:db8::1"), 1}, {make_address("192.0.2.1"), 1},
                                   {make_address("2001:db8::2"), 1}, {make_address("192.0.2.2"), 1},
                                   {make_address("192.0.2.3"), 1}};
    BOOST_TEST((carcheck::detail::interleave_families(in) == expected));
    BOOST_TEST(carcheck::detail::interleave_families({}).empty());
}

BOOST_AUTO_TEST_SUITE_END()
