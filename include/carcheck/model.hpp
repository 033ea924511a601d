#ifndef CARCHECK_MODEL_HPP
#define CARCHECK_MODEL_HPP

// Typed results of the CarCheck API v3 (spec/carcheck-v3.json) and their parsers.
//
// Every property of the spec's response schemas has a member here, named as in the spec.
// A few members the service sends beyond the spec (uuid, plate_index, image_bytes,
// image_bytes_prefix) are kept as well. Parsing rules:
//  - unknown members are ignored;
//  - an absent member (or a JSON null) leaves the default: 0, empty string, empty list,
//    std::nullopt;
//  - a member of the wrong type, or an integer that does not fit, is error::bad_response and
//    `detail` names its JSON path ("results[0].candidates[2].confidence: expected a number,
//    got string");
//  - an integer is accepted where a number is expected, and an integral number (12.0) where
//    an integer is expected;
//  - the members that identify an element are required: `results` of a recognition, `plate`
//    of a plate and of a candidate, `name` of a vehicle candidate, `countries` of /config,
//    `code` of a country and `error` of an error body;
//  - the top level must be an object; text that is not JSON gives
//    "invalid JSON at offset N: <message>";
//  - a member given twice counts as given once, the last time;
//  - the text is read in one pass, and the first problem in document order is the one
//    reported.
// The parsers never throw (running out of memory is reported as errc::not_enough_memory) and
// leave `out` unchanged on failure.

#include <carcheck/config.hpp>
#include <carcheck/error.hpp>

#include <boost/json/fwd.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace carcheck {

/// A point of a plate's polygon (spec: coordinate).
struct coordinate {
    int x = 0;
    int y = 0;
};

/// A rectangle of the image (spec: region_of_interest).
struct region_of_interest {
    int x = 0;
    int y = 0;
    int width = 0;
    int height = 0;
};

/// One reading of a plate (spec: plate_candidate).
struct plate_candidate {
    std::string plate;        ///< required
    double confidence = 0;    ///< percent
    int matches_template = 0; ///< 1 when the text matches a regional pattern
};

/// One classification of a vehicle attribute (spec: vehicle_candidate).
struct vehicle_candidate {
    std::string name;      ///< required; orientation names given as numbers become text
    double confidence = 0; ///< percent
};

/// Vehicle classifications, best first (spec: vehicle_details).
struct vehicle_details {
    std::vector<vehicle_candidate> body_type;
    std::vector<vehicle_candidate> color;
    std::vector<vehicle_candidate> make;
    std::vector<vehicle_candidate> make_model;
    std::vector<vehicle_candidate> orientation;
    std::vector<vehicle_candidate> year;
};

/// Another name for vehicle_details.
using vehicle_attributes = vehicle_details;

/// One plate found in the image (spec: plate_details).
struct plate_details {
    std::string plate;                     ///< required; best reading
    double confidence = 0;                 ///< percent
    int matches_template = 0;
    int plate_index = 0;                   ///< not in the spec; sent by the service
    std::string region;                    ///< e.g. "tx"
    double region_confidence = 0;          ///< percent
    double processing_time_ms = 0;
    int requested_topn = 0;
    std::vector<coordinate> coordinates;   ///< polygon, top-left first, clockwise
    std::vector<plate_candidate> candidates;
    std::optional<vehicle_details> vehicle; ///< present with recognize_vehicle=1
    region_of_interest vehicle_region;
};

/// A vehicle found in the image (spec: vehicles).
struct detected_vehicle {
    int x = 0;
    int y = 0;
    int width = 0;
    int height = 0;
    vehicle_details details;
};

/// Milliseconds spent on the image (spec: api_200 processing_time).
struct processing_times {
    double total = 0;
    double plates = 0;
    double vehicles = 0;
};

/// The 200 reply of /recognize, /recognize_bytes and /recognize_url (spec: api_200).
struct recognition {
    int version = 0;          ///< API format version
    std::string data_type;    ///< "alpr_results", "alpr_group" or "heartbeat"
    double epoch_time = 0;    ///< when the image was processed, milliseconds since the epoch
    int img_width = 0;
    int img_height = 0;
    processing_times processing_time;
    std::vector<region_of_interest> regions_of_interest;
    std::vector<plate_details> results; ///< required
    std::vector<detected_vehicle> vehicles;      ///< empty unless recognize_vehicle=1
    std::int64_t credit_cost = 0;
    std::int64_t credits_monthly_used = 0;
    std::int64_t credits_monthly_total = 0;
    std::string uuid;                        ///< not in the spec; sent by the service
    std::optional<std::string> image_bytes;  ///< base64 image, with return_image=1
    std::string image_bytes_prefix;          ///< e.g. "data:image/jpeg;base64,"
    std::string raw_json;                    ///< the whole reply text
};

/// A country (training data set) the service knows (spec: /config countries).
struct country {
    std::string code; ///< required; the value of the `country` parameter, e.g. "us"
    std::string name; ///< e.g. "North America"
};

/// Every label the vehicle classifiers can return (spec: /config vehicle_labels).
struct vehicle_labels {
    std::vector<std::string> bodytype;
    std::vector<std::string> color;
    std::vector<std::string> make;
    std::vector<std::string> makemodel;
    std::vector<std::string> orientation; ///< labels given as numbers become text
    std::vector<std::string> year;
};

/// The 200 reply of GET /config.
struct config {
    std::vector<country> countries; ///< required
    vehicle_labels labels;          ///< the reply's `vehicle_labels`
    std::string raw_json;           ///< the whole reply text
};

/// The body of a 400/401/402/403 reply (spec: api_400 ... api_403). The live service also
/// sends an integer "error_code" (the HTTP status so far): {"error_code": 402, "error": "..."}.
struct error_body {
    std::string error;                     ///< required
    std::optional<std::int64_t> error_code{}; ///< not in the spec; sent by the service
};

/// Parses a recognition reply; `json` ends up in out.raw_json.
CARCHECK_DECL error_code parse_recognition(std::string json, recognition& out, std::string& detail);

/// Parses the reply of GET /config; `json` ends up in out.raw_json.
CARCHECK_DECL error_code parse_config(std::string json, config& out, std::string& detail);

/// Parses an error reply ({"error_code": 401, "error": "..."}; error_code optional).
CARCHECK_DECL error_code parse_error_body(std::string_view json, error_body& out, std::string& detail);

// Serialisation back to JSON (boost::json::value_from(x) / boost::json::serialize(value_from(x))),
// e.g. for tools that print results. Members are written with the spec's names (config::labels
// as "vehicle_labels"); std::optional members, and the extras the spec does not name (uuid,
// image_bytes_prefix) when empty, are left out; raw_json is never written. Parsing the output
// again gives the same values. Include <boost/json/value_from.hpp> to call value_from.
CARCHECK_DECL void tag_invoke(boost::json::value_from_tag, boost::json::value& jv, const coordinate& v);
CARCHECK_DECL void tag_invoke(boost::json::value_from_tag, boost::json::value& jv, const region_of_interest& v);
CARCHECK_DECL void tag_invoke(boost::json::value_from_tag, boost::json::value& jv, const plate_candidate& v);
CARCHECK_DECL void tag_invoke(boost::json::value_from_tag, boost::json::value& jv, const vehicle_candidate& v);
CARCHECK_DECL void tag_invoke(boost::json::value_from_tag, boost::json::value& jv, const vehicle_details& v);
CARCHECK_DECL void tag_invoke(boost::json::value_from_tag, boost::json::value& jv, const plate_details& v);
CARCHECK_DECL void tag_invoke(boost::json::value_from_tag, boost::json::value& jv, const detected_vehicle& v);
CARCHECK_DECL void tag_invoke(boost::json::value_from_tag, boost::json::value& jv, const processing_times& v);
CARCHECK_DECL void tag_invoke(boost::json::value_from_tag, boost::json::value& jv, const recognition& v);
CARCHECK_DECL void tag_invoke(boost::json::value_from_tag, boost::json::value& jv, const country& v);
CARCHECK_DECL void tag_invoke(boost::json::value_from_tag, boost::json::value& jv, const vehicle_labels& v);
CARCHECK_DECL void tag_invoke(boost::json::value_from_tag, boost::json::value& jv, const config& v);
CARCHECK_DECL void tag_invoke(boost::json::value_from_tag, boost::json::value& jv, const error_body& v);

} // namespace carcheck

#ifdef CARCHECK_HEADER_ONLY
#include <carcheck/impl/model.ipp>
#endif

#endif
