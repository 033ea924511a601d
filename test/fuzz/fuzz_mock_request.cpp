// Fuzz target: the bundled mock server's request-body parsers (multipart/form-data and
// base64). The first input byte picks the parser and how the rest is split into writes,
// so delimiters and escapes land across write boundaries.
#include "base64_decoder.hpp"
#include "image_sink.hpp"
#include "multipart_parser.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    if (size < 1)
        return 0;
    const unsigned mode = data[0];
    const char* p = reinterpret_cast<const char*>(data + 1);
    std::size_t n = size - 1;
    const std::size_t chunk = 1 + (mode >> 2);

    carcheck::mock::image_sink sink;
    sink.reset((mode & 2) != 0);
    if ((mode & 1) == 0) {
        carcheck::mock::multipart_parser parser;
        parser.reset("fuzzBoundary123", &sink);
        for (std::size_t i = 0; i < n; i += chunk)
            parser.write(p + i, std::min(chunk, n - i));
        parser.finish();
        if (parser.error().empty() && parser.found_image())
            sink.finish();
    } else {
        carcheck::mock::base64_decoder decoder;
        decoder.reset((mode & 2) != 0, &sink);
        for (std::size_t i = 0; i < n; i += chunk)
            decoder.write(p + i, std::min(chunk, n - i));
        decoder.finish();
        // Decoding never produces more than 3 bytes per 4 input characters.
        if (sink.size() > (n / 4 + 1) * 3)
            std::abort();
    }
    return 0;
}
