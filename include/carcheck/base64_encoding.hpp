#ifndef CARCHECK_BASE64_ENCODING_HPP
#define CARCHECK_BASE64_ENCODING_HPP

namespace carcheck {

/// How POST /recognize_bytes carries the base64 of the image. Both are sent with
/// Content-Type: application/json, as the spec declares for the path.
enum class base64_encoding {
    /// The bare base64 text is the whole body. What OpenALPR's own samples send
    /// (Python requests.post(url, data=img_base64), C# StringContent(imagebase64), Java
    /// os.write(encoded)) and what the live service has been seen to accept with HTTP 200;
    /// a JSON object body ({"image_bytes": "..."}) got 400 "Unable to base64 decode
    /// image_bytes body". The default.
    raw,
    /// The base64 as a JSON string: the same text between two double quotes. Follows the
    /// spec's body parameter of type string literally; whether the live service accepts it
    /// has never been shown (carcheck-mock does).
    json_string,
};

} // namespace carcheck

#endif
