#ifndef CARCHECK_MOCK_PLAIN_JSON_HPP
#define CARCHECK_MOCK_PLAIN_JSON_HPP

// JSON text of the mock's replies with numbers as the live service writes them: plain
// decimals (94.0910949707031, 0.0), never exponent form. Boost.JSON's serializer prints
// doubles as 9.698E1 or 0E0, valid JSON but not what clients of the real service ever see.

#include <boost/json/value.hpp>

#include <string>

namespace carcheck::mock {

/// `v` as compact JSON; doubles in the shortest fixed-point form that reads back to the
/// same value, always with a fraction (".0" when whole) so they stay numbers with a point.
/// Non-finite doubles (not JSON) are written as null.
std::string to_plain_json(const boost::json::value& v);

/// Appends one double in that form.
void append_plain_number(std::string& out, double d);

} // namespace carcheck::mock

#endif
