// Names of the fault enumerators, for logs and the command line.
#include "mock_server.hpp"

#include <ostream>

namespace carcheck::mock {

const char* to_string(fault f) noexcept
{
    switch (f) {
    case fault::none: return "none";
    case fault::close_before_response: return "close_before_response";
    case fault::close_mid_headers: return "close_mid_headers";
    case fault::close_mid_body: return "close_mid_body";
    case fault::truncated_body: return "truncated_body";
    case fault::malformed_json: return "malformed_json";
    case fault::non_json_body: return "non_json_body";
    case fault::html_200: return "html_200";
    case fault::status_500: return "status_500";
    case fault::status_502: return "status_502";
    case fault::status_503: return "status_503";
    case fault::status_500_empty: return "status_500_empty";
    case fault::slow_headers: return "slow_headers";
    case fault::slow_body: return "slow_body";
    case fault::stall: return "stall";
    case fault::huge_reply: return "huge_reply";
    case fault::chunked_truncated: return "chunked_truncated";
    case fault::wrong_content_length: return "wrong_content_length";
    case fault::reset_during_request: return "reset_during_request";
    case fault::close_delimited: return "close_delimited";
    }
    return "unknown";
}

std::ostream& operator<<(std::ostream& os, fault f)
{
    return os << to_string(f);
}

} // namespace carcheck::mock
