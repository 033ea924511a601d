#ifndef CARCHECK_DETAIL_RECOGNITION_REPLY_HPP
#define CARCHECK_DETAIL_RECOGNITION_REPLY_HPP

#include <carcheck/model.hpp>

#include <cstdint>
#include <optional>
#include <string>

namespace carcheck::detail {

/// The credit counters a 200 reply carried. recognition keeps 0 for an absent counter;
/// the scheduler's accounting must tell "absent" from 0.
struct reply_credits {
    std::optional<std::int64_t> used;
    std::optional<std::int64_t> total;
};

/// parse_recognition, also reporting which credit counters the reply had: the one parse of
/// a reply serves both the operation's result and the scheduler.
CARCHECK_DECL error_code parse_recognition_reply(std::string json, recognition& out, std::string& detail,
                                                 reply_credits& credits);

} // namespace carcheck::detail

#ifdef CARCHECK_HEADER_ONLY
#include <carcheck/impl/recognition_reply.ipp>
#endif

#endif
