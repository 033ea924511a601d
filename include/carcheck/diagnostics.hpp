#ifndef CARCHECK_DIAGNOSTICS_HPP
#define CARCHECK_DIAGNOSTICS_HPP

#include <carcheck/config.hpp>
#include <carcheck/rate_limit.hpp>

#include <boost/system/system_error.hpp>

#include <cstdint>
#include <optional>
#include <string>

namespace carcheck {

/// What is known about a failed (or successful) operation beyond its error_code.
/// Pass one to an operation to receive it on the error-code path; the with_diagnostics
/// token adapter puts it into a thrown carcheck::api_error instead.
/// Never contains the secret key: server text that echoes it is redacted.
struct diagnostics {
    unsigned http_status = 0;   ///< 0 when no response arrived
    std::string server_message; ///< the "error" text of the server's reply, if any
    std::string client_message; ///< what the client found wrong (argument, JSON path, file)
    rate_limit_info rate_limit; ///< rate-limit headers of the last reply, if any
    unsigned attempts = 0;      ///< how many times the request was sent
    /// The "error_code" integer of the server's error reply, if it had one.
    std::optional<std::int64_t> server_error_code{};

    void clear() { *this = diagnostics{}; }

    /// One sentence for logs, each fact once:
    /// "invalid parameter (HTTP 400): <server text>", "operation timed out: <what timed out>",
    /// or the client's own sentence when it already names the error
    /// ("cannot connect to host:443: Connection refused"). The server's error_code is shown
    /// when it says something the HTTP status does not.
    std::string describe(const error_code& ec) const
    {
        std::string out = ec ? ec.message() : std::string("success");
        if (http_status == 0 && server_message.empty() && !client_message.empty() && ec &&
            client_message.find(out) != std::string::npos)
            return client_message;
        std::string status;
        if (http_status != 0 && out.find("HTTP " + std::to_string(http_status)) == std::string::npos)
            status = "HTTP " + std::to_string(http_status);
        if (server_error_code && *server_error_code != static_cast<std::int64_t>(http_status))
            status += (status.empty() ? "" : ", ") + std::string("error_code ") + std::to_string(*server_error_code);
        if (!status.empty())
            out += " (" + status + ")";
        if (!server_message.empty())
            out += ": " + server_message;
        if (!client_message.empty())
            out += (server_message.empty() ? ": " : "; ") + client_message;
        return out;
    }
};

/// Thrown by operations completed through the with_diagnostics token adapter. It is a
/// boost::system::system_error, so code() works as for any Asio error; what() is
/// diagnostics::describe().
class api_error : public boost::system::system_error {
public:
    api_error(const error_code& ec, diagnostics diag)
        : boost::system::system_error(ec), what_(diag.describe(ec)), diag_(std::move(diag))
    {
    }

    const char* what() const noexcept override { return what_.c_str(); }
    const diagnostics& get_diagnostics() const noexcept { return diag_; }

private:
    std::string what_;
    diagnostics diag_;
};

} // namespace carcheck

#endif
