// Fuzz target: reply bodies parsed into the typed model. Any input must give either a
// value or bad_response with a detail, never a crash, a leak or undefined behaviour.
#include <carcheck/error.hpp>
#include <carcheck/model.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    const std::string text(reinterpret_cast<const char*>(data), size);
    std::string detail;

    carcheck::recognition r;
    auto ec = carcheck::parse_recognition(text, r, detail);
    if (ec && (ec != carcheck::error::bad_response || detail.empty()))
        std::abort();
    if (!ec && r.raw_json != text)
        std::abort();

    detail.clear();
    carcheck::config c;
    ec = carcheck::parse_config(text, c, detail);
    if (ec && (ec != carcheck::error::bad_response || detail.empty()))
        std::abort();

    detail.clear();
    carcheck::error_body e;
    ec = carcheck::parse_error_body(text, e, detail);
    if (ec && ec != carcheck::error::bad_response)
        std::abort();
    return 0;
}
