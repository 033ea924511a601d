// The compiled mode of carcheck: every out-of-line definition, compiled once.
#include <carcheck/src.hpp>
