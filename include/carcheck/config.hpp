#ifndef CARCHECK_CONFIG_HPP
#define CARCHECK_CONFIG_HPP

// Build modes.
//
// Header-only (default): every out-of-line definition lives in impl/*.ipp and is included
// by the header that declares it, marked inline.
//
// Separate compilation: define CARCHECK_SEPARATE_COMPILATION for every translation unit of
// the program (the carcheck::carcheck CMake target does this when built with
// -DCARCHECK_SEPARATE_COMPILATION=ON) and compile <carcheck/src.hpp> in exactly one of them
// (src/carcheck.cpp). The heavy Beast/SSL/JSON code is then compiled once.

#include <boost/system/error_code.hpp>

#ifdef CARCHECK_SEPARATE_COMPILATION
#define CARCHECK_DECL
#else
#define CARCHECK_HEADER_ONLY 1
#define CARCHECK_DECL inline
#endif

namespace boost::asio {
} // declared for the alias below; each header includes the Asio parts it uses

namespace carcheck {

namespace asio = boost::asio;
using error_code = boost::system::error_code;

} // namespace carcheck

#endif
