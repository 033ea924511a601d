#ifndef CARCHECK_IMPL_RECOGNITION_REPLY_IPP
#define CARCHECK_IMPL_RECOGNITION_REPLY_IPP

#include <carcheck/detail/recognition_reply.hpp>
#include <carcheck/impl/model.ipp>

namespace carcheck::detail {

CARCHECK_DECL error_code parse_recognition_reply(std::string json, recognition& out, std::string& detail,
                                                 reply_credits& credits)
{
    recognition result;
    const error_code ec = model::parse_into(json, result, detail, [&](const boost::json::value& doc) {
        // Looked up in the parsed document (the read above accepted their types).
        const boost::json::object& o = doc.get_object();
        if (o.contains("credits_monthly_used"))
            credits.used = result.credits_monthly_used;
        if (o.contains("credits_monthly_total"))
            credits.total = result.credits_monthly_total;
    });
    if (!ec) {
        result.raw_json = std::move(json);
        out = std::move(result);
    }
    return ec;
}

} // namespace carcheck::detail

#endif
