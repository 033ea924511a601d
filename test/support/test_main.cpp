// The one translation unit that defines the Boost.Test entry point.
#define BOOST_TEST_MODULE carcheck
#include <boost/test/unit_test.hpp>
