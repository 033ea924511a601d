#ifndef CARCHECK_MOCK_RECOGNITION_HPP
#define CARCHECK_MOCK_RECOGNITION_HPP

// The mock's "recognition": a pure function of the image bytes and the query parameters, so
// the same image always gives the same plates (README.md documents the plate= convention).

#include <boost/json/object.hpp>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace carcheck::mock {

struct recognize_params {
    std::string country;
    bool recognize_vehicle = false, return_image = false, is_cropped = false;
    int topn = 10;
};

/// What the mock knows of an image: its first 64 KiB, its SHA-256 and size.
struct image_facts {
    std::string_view prefix;
    std::string_view sha256_hex;
    std::uint64_t size = 0;
};

struct plate_marker {
    std::string plate, region;
};

/// Every `plate=XXXX[;region=xx]` marker in the bytes, in order.
std::vector<plate_marker> find_plate_markers(std::string_view bytes);

/// Width and height from a JPEG SOFn segment or a PNG IHDR chunk; {0, 0} otherwise.
std::pair<int, int> image_dimensions(std::string_view prefix);

/// image/jpeg, image/png, image/gif, image/bmp, image/webp or application/octet-stream.
std::string sniff_content_type(std::string_view prefix);

/// `topn` distinct plate strings: `plate` first, then deterministic look-alike variants.
std::vector<std::string> candidate_plates(const std::string& plate, std::size_t topn);

/// The recognition part of a 200 reply (version, data_type, img_*, processing_time,
/// regions_of_interest, results, vehicles). The caller adds credits, epoch_time, uuid, image.
boost::json::object recognize(const recognize_params& params, const image_facts& image);

/// The body of GET /v3/config.
boost::json::object config_json();

} // namespace carcheck::mock

#endif
