#ifndef CARCHECK_TEST_SUPPORT_READER_AGREEMENT_HPP
#define CARCHECK_TEST_SUPPORT_READER_AGREEMENT_HPP

// The two readers of a reply side by side: the fast reader of the usual form and the general
// Boost.JSON reader. Whatever the fast one takes, the general one must read to the same value
// and report the same members; the unit tests, the mock's replies and the model fuzz target
// all check that one rule.
//
// Include <carcheck/model.hpp> first (a header-only build needs it before model_reader.ipp).

#include <carcheck/error.hpp>
#include <carcheck/impl/model_reader.ipp>

#include <boost/json/serialize.hpp>
#include <boost/json/value_from.hpp>

#include <string>

namespace carcheck_test {

/// `value` written back as JSON text: equal texts, equal values.
template <class T>
std::string written(const T& value)
{
    return boost::json::serialize(boost::json::value_from(value));
}

/// What each reader made of one text.
template <class T>
struct both_readers {
    bool fast_took_it = false;
    T fast;
    carcheck::detail::model::member_set fast_members = 0;
    carcheck::error_code general_ec;
    T general;
    carcheck::detail::model::member_set general_members = 0;
    std::string detail;

    explicit both_readers(const std::string& text)
    {
        namespace model = carcheck::detail::model;
        fast_took_it = model::read_usual_form(text, fast, fast_members);
        general_ec = model::read_any_form(text, general, detail, general_members);
    }

    /// The fast reader took the text only if the general one reads it to the same value.
    bool agree() const
    {
        return !fast_took_it ||
               (!general_ec && fast_members == general_members && written(fast) == written(general));
    }
};

} // namespace carcheck_test

#endif
