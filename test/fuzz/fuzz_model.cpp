// Fuzz target: reply bodies parsed into the typed model. Any input must give either a
// value or bad_response with a detail, never a crash, a leak or undefined behaviour; the
// one-pass reader must agree with Boost.JSON's document parser on what is JSON, and a value
// it gives must come back unchanged through value_from and a second parse; and what the fast
// reader (the usual form of a reply) accepts, the general reader must accept too, filling the
// structs to the same value and reporting the same members.
#include <carcheck/error.hpp>
#include <carcheck/model.hpp>
// After model.hpp, which a header-only build needs first.
#include "support/reader_agreement.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <boost/json/value_from.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

namespace {

template <class T>
void check_round_trip(const T& value, carcheck::error_code (*parse)(std::string, T&, std::string&))
{
    const std::string once = boost::json::serialize(boost::json::value_from(value));
    T again;
    std::string detail;
    if (parse(once, again, detail))
        std::abort();
    if (boost::json::serialize(boost::json::value_from(again)) != once)
        std::abort();
}

/// The reader agrees with the document parser (strict JSON, depth 32) on what is JSON: it
/// refuses what is not (with a syntax error, or a type error it met first), and names no
/// syntax error in what is.
void check_syntax_verdict(carcheck::error_code ec, const std::string& detail, bool is_json)
{
    const bool syntax_error = ec && detail.starts_with("invalid JSON at offset ");
    if (is_json ? syntax_error : !ec)
        std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    const std::string text(reinterpret_cast<const char*>(data), size);
    boost::json::error_code json_ec;
    (void)boost::json::parse(text, json_ec);
    const bool is_json = !json_ec;
    std::string detail;

    if (!carcheck_test::both_readers<carcheck::recognition>(text).agree() ||
        !carcheck_test::both_readers<carcheck::config>(text).agree() ||
        !carcheck_test::both_readers<carcheck::error_body>(text).agree())
        std::abort();

    carcheck::recognition r;
    auto ec = carcheck::parse_recognition(text, r, detail);
    if (ec && (ec != carcheck::error::bad_response || detail.empty()))
        std::abort();
    if (!ec && r.raw_json != text)
        std::abort();
    check_syntax_verdict(ec, detail, is_json);
    if (!ec)
        check_round_trip(r, &carcheck::parse_recognition);

    detail.clear();
    carcheck::config c;
    ec = carcheck::parse_config(text, c, detail);
    if (ec && (ec != carcheck::error::bad_response || detail.empty()))
        std::abort();
    check_syntax_verdict(ec, detail, is_json);
    if (!ec)
        check_round_trip(c, &carcheck::parse_config);

    detail.clear();
    carcheck::error_body e;
    ec = carcheck::parse_error_body(text, e, detail);
    if (ec && ec != carcheck::error::bad_response)
        std::abort();
    check_syntax_verdict(ec, detail, is_json);
    return 0;
}
