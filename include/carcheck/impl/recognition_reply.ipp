#ifndef CARCHECK_IMPL_RECOGNITION_REPLY_IPP
#define CARCHECK_IMPL_RECOGNITION_REPLY_IPP

#include <carcheck/detail/recognition_reply.hpp>
#include <carcheck/impl/model.ipp>

namespace carcheck::detail {

CARCHECK_DECL error_code parse_recognition_reply(std::string json, recognition& out, std::string& detail,
                                                 reply_credits& credits)
{
    recognition result;
    model::member_set given = 0;
    const error_code ec = model::parse_into(json, result, detail, &given);
    constexpr std::size_t used_bit = model::member_index(model::recognition_members, "credits_monthly_used");
    constexpr std::size_t total_bit = model::member_index(model::recognition_members, "credits_monthly_total");
    static_assert(used_bit < std::size(model::recognition_members) && total_bit < std::size(model::recognition_members));
    if (!ec) {
        if (given & (model::member_set{1} << used_bit))
            credits.used = result.credits_monthly_used;
        if (given & (model::member_set{1} << total_bit))
            credits.total = result.credits_monthly_total;
    }
    if (!ec) {
        result.raw_json = std::move(json);
        out = std::move(result);
    }
    return ec;
}

} // namespace carcheck::detail

#endif
