#ifndef CARCHECK_DETAIL_RECYCLED_FIELDS_HPP
#define CARCHECK_DETAIL_RECYCLED_FIELDS_HPP

// The header fields of the client's requests and replies, in memory that is recycled.
//
// Beast's basic_fields allocates every field (and a request's target) on its own; a request
// and its reply carry some fifteen, built and freed once per request. On recycled_allocator
// they cost no call to the heap in a steady state.

#include <carcheck/config.hpp>
#include <carcheck/detail/recycled_allocator.hpp>

#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

namespace carcheck {
struct rate_limit_info; // <carcheck/rate_limit.hpp> (its implementation includes this header)
} // namespace carcheck

namespace carcheck::detail {

namespace http = boost::beast::http;

/// Header fields of the client's requests and replies.
using client_fields = http::basic_fields<recycled_allocator<char>>;
/// A request as the client sends it.
template <class Body>
using client_request = http::request<Body, client_fields>;
/// A reply as the client reads it.
using client_response = http::response<http::string_body, client_fields>;
using client_response_parser = http::response_parser<http::string_body, recycled_allocator<char>>;

/// carcheck::parse_rate_limit for the client's own fields (in impl/rate_limit.ipp).
CARCHECK_DECL rate_limit_info parse_rate_limit(const client_fields& headers);

} // namespace carcheck::detail

#endif
