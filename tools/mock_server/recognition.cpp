#include "recognition.hpp"

#include <boost/json/array.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstdint>
#include <unordered_set>

namespace carcheck::mock {

namespace json = boost::json;

namespace {

// Label sets shared by /config and the vehicle classifications.
const std::vector<std::string> colors{"black", "blue", "brown", "gold", "green", "grey", "orange",
                                      "pink", "purple", "red", "silver-gray", "tan", "white", "yellow"};
const std::vector<std::string> make_models{
    "acura_mdx", "audi_a4", "bmw_3-series", "chevrolet_silverado", "chrysler_300", "dodge_ram",
    "ford_f-150", "ford_focus", "gmc_sierra", "honda_accord", "honda_civic", "hyundai_elantra",
    "jeep_wrangler", "kia_soul", "lexus_rx", "mazda_cx-5", "mercedes-benz_c-class", "nissan_altima",
    "subaru_outback", "tesla_model-3", "toyota_camry", "toyota_corolla", "toyota_prius",
    "volkswagen_golf", "volvo_v40", "volvo_xc90"};
const std::vector<std::string> body_types{
    "antique", "car-sedan", "convertible", "motorcycle", "pickup-truck", "sedan-compact",
    "sedan-sports", "sedan-standard", "sedan-wagon", "suv-crossover", "suv-standard",
    "tractor-trailer", "truck-standard", "van-full", "van-mini"};
const std::vector<std::string> orientations{"0", "45", "90", "135", "180", "225", "270", "315"};
const std::vector<std::string> years{"1995-1999", "2000-2004", "2005-2009", "2010-2014", "2015-2019", "2020-2024"};
const std::vector<std::pair<std::string, std::string>> countries{
    {"us", "North America"}, {"eu", "Europe"}, {"au", "Australia"}, {"auwide", "Australia (wide plates)"},
    {"br", "Brazil"}, {"gb", "Great Britain"}, {"in", "India"}, {"jp", "Japan"}, {"kr", "Korea"},
    {"mx", "Mexico"}, {"sg", "Singapore"}, {"th", "Thailand"}, {"vn", "Vietnam"}};

std::vector<std::string> makes()
{
    std::vector<std::string> out;
    for (const auto& mm : make_models) {
        auto make = mm.substr(0, mm.find('_'));
        if (std::find(out.begin(), out.end(), make) == out.end())
            out.push_back(make);
    }
    return out;
}

/// splitmix64: a deterministic stream of numbers from the image hash.
struct prng {
    std::uint64_t state;
    std::uint64_t next()
    {
        std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }
    int between(int lo, int hi) { return lo + static_cast<int>(next() % static_cast<std::uint64_t>(hi - lo + 1)); }
};

std::uint64_t seed_of(std::string_view text)
{
    std::uint64_t h = 1469598103934665603ull; // FNV-1a
    for (unsigned char c : text)
        h = (h ^ c) * 1099511628211ull;
    return h;
}

double round2(double v) { return std::max(0.01, std::round(v * 100.0) / 100.0); }

/// A confidence as the live service writes it: a float widened to double, 15 significant
/// digits (94.0910949707031); at least 0.01.
double float_precision(double v)
{
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.15g", static_cast<double>(static_cast<float>(std::max(0.01, v))));
    return std::strtod(buf, nullptr);
}

bool plate_char(char c) { return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }
bool region_char(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; }

unsigned be16(std::string_view s, std::size_t i)
{
    return (static_cast<unsigned char>(s[i]) << 8) | static_cast<unsigned char>(s[i + 1]);
}

std::uint32_t be32(std::string_view s, std::size_t i) { return (be16(s, i) << 16) | be16(s, i + 2); }

const std::vector<std::string>& regions_for(const std::string& country)
{
    // v3 style: the country, a dash, the state or country within it.
    static const std::vector<std::string> us{"us-ca", "us-tx", "us-ny", "us-fl", "us-wa", "us-il"};
    static const std::vector<std::string> eu{"eu-de", "eu-fr", "eu-nl", "eu-it", "eu-es", "eu-pl"};
    static const std::vector<std::string> none{};
    return country == "us" ? us : country == "eu" ? eu : none;
}

json::array ranked(const std::vector<std::string>& labels, std::size_t first, std::size_t topn, prng& r)
{
    // The chosen label first, then the others in list order, with falling confidences.
    json::array out;
    double confidence = 60.0 + r.between(0, 3900) / 100.0 + r.between(0, 9999) / 1e6;
    for (std::size_t i = 0; i < labels.size() && out.size() < topn; ++i) {
        const auto& name = labels[(first + i) % labels.size()];
        out.push_back(json::object{{"name", name}, {"confidence", float_precision(confidence)}});
        confidence *= 0.5;
    }
    return out;
}

json::object vehicle_details(std::size_t topn, prng& r)
{
    const std::size_t model = static_cast<std::size_t>(r.between(0, static_cast<int>(make_models.size()) - 1));
    const auto all_makes = makes();
    const auto make_name = make_models[model].substr(0, make_models[model].find('_'));
    const auto make = static_cast<std::size_t>(std::find(all_makes.begin(), all_makes.end(), make_name) - all_makes.begin());
    auto pick = [&](const std::vector<std::string>& labels) {
        return static_cast<std::size_t>(r.between(0, static_cast<int>(labels.size()) - 1));
    };
    json::object v;
    v["color"] = ranked(colors, pick(colors), topn, r);
    v["make"] = ranked(all_makes, make, topn, r);
    v["make_model"] = ranked(make_models, model, topn, r);
    v["body_type"] = ranked(body_types, pick(body_types), topn, r);
    v["year"] = ranked(years, pick(years), topn, r);
    v["orientation"] = ranked(orientations, pick(orientations), topn, r);
    return v;
}

} // namespace

std::vector<plate_marker> find_plate_markers(std::string_view bytes)
{
    std::vector<plate_marker> out;
    constexpr std::string_view tag = "plate=", region_tag = ";region=";
    for (std::size_t at = bytes.find(tag); at != std::string_view::npos; at = bytes.find(tag, at + 1)) {
        std::size_t i = at + tag.size(), n = 0;
        while (i + n < bytes.size() && plate_char(bytes[i + n]))
            ++n;
        if (n == 0 || n > 10)
            continue; // not a plate: empty, or longer than any plate
        plate_marker m{std::string(bytes.substr(i, n)), {}};
        i += n;
        if (bytes.substr(i, region_tag.size()) == region_tag) {
            // Two letters, optionally "-" and up to three more ("ca", "us-ca"); what follows
            // (padding, binary data) is not part of it.
            i += region_tag.size();
            auto letter = [&](std::size_t at) { return at < bytes.size() && bytes[at] >= 'a' && bytes[at] <= 'z'; };
            if (letter(i) && letter(i + 1)) {
                std::size_t k = 2;
                if (i + 2 < bytes.size() && bytes[i + 2] == '-' && i + 3 < bytes.size() && region_char(bytes[i + 3])) {
                    k = 3;
                    while (k < 6 && i + k < bytes.size() && region_char(bytes[i + k]) && bytes[i + k] != '-')
                        ++k;
                }
                m.region = std::string(bytes.substr(i, k));
            }
        }
        out.push_back(std::move(m));
    }
    return out;
}

std::pair<int, int> image_dimensions(std::string_view s)
{
    // PNG: signature, then the IHDR chunk with width and height (big-endian).
    if (s.size() >= 24 && s.substr(0, 8) == "\x89PNG\r\n\x1a\n" && s.substr(12, 4) == "IHDR")
        return {static_cast<int>(be32(s, 16) & 0x7FFFFFFF), static_cast<int>(be32(s, 20) & 0x7FFFFFFF)};
    // JPEG: walk the segments after SOI until a SOFn (not DHT C4, JPG C8, DAC CC).
    if (s.size() < 4 || static_cast<unsigned char>(s[0]) != 0xFF || static_cast<unsigned char>(s[1]) != 0xD8)
        return {0, 0};
    std::size_t i = 2;
    while (i + 4 <= s.size()) {
        if (static_cast<unsigned char>(s[i]) != 0xFF)
            return {0, 0};
        const unsigned marker = static_cast<unsigned char>(s[i + 1]);
        if (marker == 0xFF) { // fill byte
            ++i;
            continue;
        }
        if (marker == 0xD8 || marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) {
            i += 2; // markers without a length
            continue;
        }
        if (marker == 0xD9 || marker == 0xDA)
            return {0, 0}; // end of image or start of scan before any frame header
        const unsigned len = be16(s, i + 2);
        if (marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC) {
            if (i + 9 > s.size() || len < 7)
                return {0, 0};
            return {static_cast<int>(be16(s, i + 7)), static_cast<int>(be16(s, i + 5))};
        }
        if (len < 2)
            return {0, 0};
        i += 2 + len;
    }
    return {0, 0};
}

std::string sniff_content_type(std::string_view s)
{
    if (s.size() >= 3 && s.substr(0, 3) == "\xFF\xD8\xFF")
        return "image/jpeg";
    if (s.size() >= 8 && s.substr(0, 8) == "\x89PNG\r\n\x1a\n")
        return "image/png";
    if (s.size() >= 6 && (s.substr(0, 6) == "GIF87a" || s.substr(0, 6) == "GIF89a"))
        return "image/gif";
    if (s.size() >= 12 && s.substr(0, 4) == "RIFF" && s.substr(8, 4) == "WEBP")
        return "image/webp";
    if (s.size() >= 2 && s.substr(0, 2) == "BM")
        return "image/bmp";
    return "application/octet-stream";
}

std::vector<std::string> candidate_plates(const std::string& plate, std::size_t topn)
{
    static constexpr std::string_view alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    static const std::vector<std::pair<char, char>> confusions{
        {'O', '0'}, {'0', 'O'}, {'I', '1'}, {'1', 'I'}, {'B', '8'}, {'8', 'B'}, {'S', '5'},
        {'5', 'S'}, {'Z', '2'}, {'2', 'Z'}, {'G', '6'}, {'6', 'G'}, {'D', '0'}, {'Q', 'O'}};
    std::vector<std::string> out;
    std::unordered_set<std::string> seen;
    auto add = [&](std::string s) {
        if (out.size() < topn && !s.empty() && seen.insert(s).second)
            out.push_back(std::move(s));
        return out.size() < topn;
    };
    add(plate);
    for (std::size_t i = 0; i < plate.size(); ++i)
        for (auto [from, to] : confusions)
            if (plate[i] == from) {
                auto v = plate;
                v[i] = to;
                add(v);
            }
    for (std::size_t i = 0; i < plate.size(); ++i)
        for (char c : alphabet) {
            auto v = plate;
            v[i] = c;
            if (!add(v))
                return out;
        }
    for (std::size_t i = 0; i < plate.size(); ++i)
        add(plate.substr(0, i) + plate.substr(i + 1));
    for (char c : alphabet)
        add(plate + c);
    // Enough for any topn <= 1000 even for one-character plates (36 * 36 more).
    for (char c : alphabet)
        for (char d : alphabet)
            if (!add(plate + c + d))
                return out;
    return out;
}

json::object recognize(const recognize_params& params, const image_facts& image)
{
    const auto [width, height] = image_dimensions(image.prefix);
    const int w = width > 0 ? width : 640, h = height > 0 ? height : 480; // geometry for boxes
    prng image_rng{seed_of(image.sha256_hex)};

    auto markers = find_plate_markers(image.prefix);
    if (markers.empty()) {
        // No marker: a plate of seven characters derived from the image hash.
        static constexpr std::string_view alphabet = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789";
        plate_marker m;
        for (int i = 0; i < 7; ++i)
            m.plate += alphabet[image_rng.next() % alphabet.size()];
        markers.push_back(std::move(m));
    }

    const auto topn = static_cast<std::size_t>(params.topn);
    json::array results, vehicles;
    double plates_ms = 0, vehicles_ms = 0;
    for (std::size_t i = 0; i < markers.size(); ++i) {
        auto& m = markers[i];
        prng r{seed_of(image.sha256_hex) ^ seed_of(m.plate) ^ (i * 0x51ED27ull)};
        if (m.region.empty()) {
            const auto& regions = regions_for(params.country);
            m.region = regions.empty() ? params.country : regions[r.next() % regions.size()];
        }
        const double confidence = float_precision(80.0 + r.between(0, 1900) / 100.0 + r.between(0, 9999) / 1e6);
        const double time_ms = round2(10.0 + r.between(0, 4000) / 100.0);
        plates_ms += time_ms;

        // Plate box inside the image, one slot per result so boxes do not overlap much.
        const int slot_w = std::max(1, w / static_cast<int>(markers.size()));
        const int pw = std::max(2, std::min(slot_w - 2, w / 5)), ph = std::max(2, pw / 2);
        const int px = static_cast<int>(i) * slot_w + r.between(0, std::max(0, slot_w - pw - 1));
        const int py = r.between(h / 2, std::max(h / 2, h - ph - 1));
        json::array coordinates{json::object{{"x", px}, {"y", py}}, json::object{{"x", px + pw}, {"y", py}},
                                json::object{{"x", px + pw}, {"y", py + ph}}, json::object{{"x", px}, {"y", py + ph}}};
        const int vx = std::max(0, px - pw), vy = std::max(0, py - 2 * ph);
        json::object vehicle_region{{"x", vx}, {"y", vy}, {"width", std::min(w - vx, 3 * pw)},
                                    {"height", std::min(h - vy, 4 * ph)}};

        json::array candidates;
        const auto plates = candidate_plates(m.plate, topn);
        for (std::size_t k = 0; k < plates.size(); ++k)
            candidates.push_back(json::object{{"plate", plates[k]},
                                              {"confidence", float_precision(confidence * std::pow(0.9, static_cast<double>(k)))},
                                              {"matches_template", k == 0 ? 1 : 0}});

        json::object result{
            {"plate", m.plate},
            {"confidence", confidence},
            {"matches_template", 1},
            {"plate_index", static_cast<std::int64_t>(i)},
            {"region", m.region},
            {"region_confidence", float_precision(50.0 + r.between(0, 4900) / 100.0 + r.between(0, 9999) / 1e6)},
            {"processing_time_ms", time_ms},
            {"requested_topn", params.topn},
            {"coordinates", std::move(coordinates)},
            {"candidates", std::move(candidates)},
            {"vehicle_region", vehicle_region},
        };
        if (params.recognize_vehicle) {
            vehicles_ms += round2(20.0 + r.between(0, 6000) / 100.0);
            auto details = vehicle_details(topn, r);
            result["vehicle"] = details;
            json::object v = vehicle_region;
            v["details"] = std::move(details);
            vehicles.push_back(std::move(v));
        }
        results.push_back(std::move(result));
    }

    // As the live service: "vehicles" timing only when vehicles were asked for.
    json::object times{{"total", round2(plates_ms + vehicles_ms + 1.5)}, {"plates", round2(plates_ms)}};
    if (params.recognize_vehicle)
        times["vehicles"] = round2(vehicles_ms);
    json::object out{
        {"version", 3},
        {"data_type", "alpr_results"},
        {"img_width", width},
        {"img_height", height},
        {"processing_time", std::move(times)},
        {"regions_of_interest", json::array{json::object{{"x", 0}, {"y", 0}, {"width", width}, {"height", height}}}},
        {"results", std::move(results)},
    };
    if (params.recognize_vehicle)
        out["vehicles"] = std::move(vehicles);
    return out;
}

json::object config_json()
{
    json::array country_list;
    for (const auto& [code, name] : countries)
        country_list.push_back(json::object{{"code", code}, {"name", name}});
    auto strings = [](const std::vector<std::string>& v) {
        json::array a;
        for (const auto& s : v)
            a.push_back(json::string(s));
        return a;
    };
    return json::object{
        {"countries", std::move(country_list)},
        {"vehicle_labels", json::object{{"bodytype", strings(body_types)}, {"color", strings(colors)},
                                        {"make", strings(makes())}, {"makemodel", strings(make_models)},
                                        {"orientation", strings(orientations)}, {"year", strings(years)}}},
    };
}

} // namespace carcheck::mock
