#ifndef CARCHECK_MOCK_UPLOAD_BODY_HPP
#define CARCHECK_MOCK_UPLOAD_BODY_HPP

// A Beast Body whose reader streams into an `upload` instead of storing the body: a 1 GB
// request costs the mock a few tens of kilobytes.

#include "upload.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/optional/optional.hpp>

namespace carcheck::mock {

struct upload_body {
    using value_type = upload;

    class reader {
        value_type& body_;

    public:
        template <bool isRequest, class Fields>
        reader(boost::beast::http::header<isRequest, Fields>&, value_type& body) : body_(body)
        {
        }

        void init(const boost::optional<std::uint64_t>&, boost::beast::error_code& ec) { ec = {}; }

        template <class ConstBufferSequence>
        std::size_t put(const ConstBufferSequence& buffers, boost::beast::error_code& ec)
        {
            std::size_t n = 0;
            for (auto it = boost::asio::buffer_sequence_begin(buffers); it != boost::asio::buffer_sequence_end(buffers); ++it) {
                boost::asio::const_buffer b = *it;
                body_.write(static_cast<const char*>(b.data()), b.size());
                n += b.size();
            }
            ec = {};
            return n;
        }

        void finish(boost::beast::error_code& ec)
        {
            body_.finish();
            ec = {};
        }
    };
};

} // namespace carcheck::mock

#endif
