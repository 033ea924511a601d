#include "output.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <charconv>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

namespace carcheck_cli {

namespace {

// Lines are appended straight into the writer's buffer: a batch writes one line per image,
// and building each from temporaries cost more than the rest of the tool's per-image work.

/// `v` in its shortest form that reads back to the same double (the reply's 94.0910949707031
/// stays 94.0910949707031); `when_not_finite` (JSON null, empty CSV field) otherwise.
void append_number(std::string& out, double v, std::string_view when_not_finite)
{
    if (!std::isfinite(v)) {
        out += when_not_finite;
        return;
    }
    char buf[64];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
}

/// The best label of each vehicle attribute, e.g. {"color":"red","make":"bmw",...}.
const std::vector<carcheck::vehicle_candidate>* attribute(const carcheck::vehicle_details& v, int i)
{
    switch (i) {
    case 0: return &v.color;
    case 1: return &v.make;
    case 2: return &v.make_model;
    case 3: return &v.body_type;
    case 4: return &v.year;
    default: return &v.orientation;
    }
}
const char* const attribute_names[] = {"color", "make", "make_model", "body_type", "year", "orientation"};

std::string_view best_label(const carcheck::vehicle_details& v, int i)
{
    const auto* list = attribute(v, i);
    return list->empty() ? std::string_view() : std::string_view(list->front().name);
}

/// The reply text on one line: raw CR/LF can only be whitespace in JSON (inside strings
/// they are escaped), so replacing them by spaces keeps the JSON identical.
void append_one_line(std::string& out, std::string_view json)
{
    const auto from = out.size();
    out += json;
    for (auto i = from; i < out.size(); ++i)
        if (out[i] == '\n' || out[i] == '\r')
            out[i] = ' ';
    while (out.size() > from && out.back() == ' ')
        out.pop_back();
    if (out.size() == from)
        out += "null";
}

/// Length of the valid UTF-8 sequence at s[i] (1..4), or 0 when it is not one (overlong
/// forms, surrogates and code points above U+10FFFF are not valid).
std::size_t utf8_sequence(std::string_view s, std::size_t i)
{
    const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    const unsigned char c = b(i);
    if (c < 0x80)
        return 1;
    std::size_t n;
    unsigned char lo = 0x80, hi = 0xBF; // range of the second byte
    if (c >= 0xC2 && c <= 0xDF)
        n = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else
        return 0;
    if (i + n > s.size() || b(i + 1) < lo || b(i + 1) > hi)
        return 0;
    for (std::size_t k = 2; k < n; ++k)
        if (b(i + k) < 0x80 || b(i + k) > 0xBF)
            return 0;
    return n;
}

void append_csv_field(std::string& out, std::string_view s)
{
    if (s.find_first_of(",\"\r\n") == std::string_view::npos) {
        out += s;
        return;
    }
    out += '"';
    for (char c : s) {
        if (c == '"')
            out += '"';
        out += c;
    }
    out += '"';
}

const std::string_view csv_header = "input,ok,plate,confidence,region,vehicle_color,vehicle_make,"
                                    "vehicle_make_model,vehicle_body_type,vehicle_year,error,message,http_status";

/// {"input":"<name>" and, for a name that is not valid UTF-8, ,"input_hex":"<its bytes>".
void append_json_input(std::string& out, std::string_view name)
{
    out += "{\"input\":";
    if (!append_json_string(out, name)) {
        out += ",\"input_hex\":\"";
        out += to_hex(name);
        out += '"';
    }
}

void append_success(std::string& line, output_format format, const std::string& input,
                    const carcheck::recognition& r)
{
    const carcheck::plate_details* best = r.results.empty() ? nullptr : &r.results.front();
    const carcheck::vehicle_details* vehicle = best && best->vehicle ? &*best->vehicle : nullptr;
    if (!vehicle && !r.vehicles.empty())
        vehicle = &r.vehicles.front().details;
    if (format == output_format::csv) {
        append_csv_field(line, input);
        line += ",true,";
        if (best) {
            append_csv_field(line, best->plate);
            line += ',';
            append_number(line, best->confidence, "");
            line += ',';
            append_csv_field(line, best->region);
        } else {
            line += ",,";
        }
        for (int i = 0; i < 5; ++i) {
            line += ',';
            if (vehicle)
                append_csv_field(line, best_label(*vehicle, i));
        }
        line += ",,,\n";
        return;
    }
    append_json_input(line, input);
    line += ",\"ok\":true,\"plate\":";
    if (best) {
        append_json_string(line, best->plate);
        line += ",\"confidence\":";
        append_number(line, best->confidence, "null");
        line += ",\"region\":";
        append_json_string(line, best->region);
    } else {
        line += "null,\"confidence\":null,\"region\":null";
    }
    line += ",\"vehicle\":";
    if (vehicle) {
        line += '{';
        for (int i = 0; i < 6; ++i) {
            if (i)
                line += ',';
            append_json_string(line, attribute_names[i]);
            line += ':';
            const auto label = best_label(*vehicle, i);
            if (label.empty())
                line += "null";
            else
                append_json_string(line, label);
        }
        line += '}';
    } else {
        line += "null";
    }
    line += ",\"reply\":";
    append_one_line(line, r.raw_json);
    line += "}\n";
}

void append_error(std::string& line, output_format format, const std::string& input, const std::string& code,
                  const std::string& message, unsigned http_status)
{
    if (format == output_format::csv) {
        append_csv_field(line, input);
        line += ",false,,,,,,,,,";
        append_csv_field(line, code);
        line += ',';
        append_csv_field(line, message);
        line += ',';
        if (http_status)
            line += std::to_string(http_status);
        line += '\n';
        return;
    }
    append_json_input(line, input);
    line += ",\"ok\":false,\"error\":";
    append_json_string(line, code);
    line += ",\"message\":";
    append_json_string(line, message);
    line += ",\"http_status\":";
    line += http_status ? std::to_string(http_status) : std::string("null");
    line += "}\n";
}

} // namespace

bool append_json_string(std::string& out, std::string_view s)
{
    bool valid = true;
    out += '"';
    for (std::size_t i = 0; i < s.size();) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c >= 0x80) {
            if (const std::size_t n = utf8_sequence(s, i)) {
                out.append(s.data() + i, n);
                i += n;
            } else {
                out += "\xEF\xBF\xBD"; // U+FFFD REPLACEMENT CHARACTER
                valid = false;
                ++i;
            }
            continue;
        }
        switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        default:
            if (c < 0x20) {
                char buf[8];
                std::snprintf(buf, sizeof buf, "\\u%04x", c);
                out += buf;
            } else {
                out += static_cast<char>(c);
            }
        }
        ++i;
    }
    out += '"';
    return valid;
}

std::string to_hex(std::string_view s)
{
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(2 * s.size());
    for (char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        out += digits[c >> 4];
        out += digits[c & 15];
    }
    return out;
}

std::optional<std::string> from_hex(std::string_view hex)
{
    if (hex.size() % 2)
        return std::nullopt;
    const auto digit = [](char c) -> int {
        if (c >= '0' && c <= '9')
            return c - '0';
        if (c >= 'a' && c <= 'f')
            return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
            return c - 'A' + 10;
        return -1;
    };
    std::string out;
    out.reserve(hex.size() / 2);
    for (std::size_t i = 0; i < hex.size(); i += 2) {
        const int hi = digit(hex[i]), lo = digit(hex[i + 1]);
        if (hi < 0 || lo < 0)
            return std::nullopt;
        out += static_cast<char>(hi * 16 + lo);
    }
    return out;
}

output_writer::output_writer(int fd, bool owns, output_format format, std::string where)
    : fd_(fd), owns_(owns), format_(format), where_(std::move(where))
{
}

output_writer::~output_writer()
{
    close();
}

bool output_writer::write_buffer()
{
    const std::string_view data = buffer_;
    std::size_t done = 0;
    while (failure_.empty() && done < data.size()) {
        const auto n = ::write(fd_, data.data() + done, data.size() - done);
        if (n >= 0) {
            done += static_cast<std::size_t>(n);
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            pollfd p{fd_, POLLOUT, 0}; // a non-blocking descriptor inherited from the caller
            (void)::poll(&p, 1, -1);
        } else if (errno != EINTR) {
            failure_ = where_ + ": " + std::strerror(errno);
        }
    }
    buffer_.clear();
    return failure_.empty();
}

bool output_writer::close()
{
    if (owns_ && fd_ >= 0) {
        if (::close(fd_) != 0 && failure_.empty())
            failure_ = where_ + ": " + std::strerror(errno);
        fd_ = -1;
    }
    return failure_.empty();
}

bool output_writer::write_header()
{
    if (format_ != output_format::csv || !failure_.empty())
        return failure_.empty();
    buffer_ += csv_header;
    buffer_ += '\n';
    return write_buffer();
}

bool output_writer::write_success(const std::string& input, const carcheck::recognition& r)
{
    if (!failure_.empty())
        return false;
    append_success(buffer_, format_, input, r);
    return write_buffer();
}

bool output_writer::write_error(const std::string& input, const std::string& code, const std::string& message,
                                unsigned http_status)
{
    if (!failure_.empty())
        return false;
    append_error(buffer_, format_, input, code, message, http_status);
    return write_buffer();
}

namespace {

/// Reads a file in pieces of 64 KiB.
class chunk_reader {
public:
    chunk_reader(int fd, const std::string& path) : fd_(fd), path_(path) {}
    /// The next piece; empty at the end.
    std::string_view next()
    {
        for (;;) {
            const auto n = ::read(fd_, buf_, sizeof buf_);
            if (n >= 0)
                return {buf_, static_cast<std::size_t>(n)};
            if (errno != EINTR)
                throw usage_error("cannot read the output file '" + path_ + "': " + std::strerror(errno));
        }
    }

private:
    int fd_;
    const std::string& path_;
    char buf_[64 * 1024];
};

/// The input named by one complete JSON line, if it has one.
std::optional<std::string> jsonl_input(std::string_view line)
{
    boost::system::error_code ec;
    const auto v = boost::json::parse(line, ec);
    if (ec || !v.is_object())
        return std::nullopt;
    const auto& o = v.as_object();
    if (const auto* hex = o.if_contains("input_hex"); hex && hex->is_string())
        if (auto bytes = from_hex(hex->as_string()))
            return bytes;
    if (const auto* name = o.if_contains("input"); name && name->is_string())
        return std::string(name->as_string());
    return std::nullopt;
}

void read_jsonl(chunk_reader& reader, std::string_view first, existing_output& e, name_index* index)
{
    std::string line;
    std::uint64_t offset = 0;
    for (std::string_view piece = first; !piece.empty(); piece = reader.next()) {
        std::size_t from = 0;
        for (auto nl = piece.find('\n'); nl != std::string_view::npos; nl = piece.find('\n', from)) {
            line.append(piece.substr(from, nl - from));
            e.valid_length = offset + nl + 1;
            if (index) {
                ++e.lines;
                if (auto name = jsonl_input(line))
                    index->find_or_insert(*name, name_index::origin::output_file);
            }
            line.clear();
            from = nl + 1;
        }
        line.append(piece.substr(from));
        offset += piece.size();
    }
}

/// RFC 4180 records, read byte by byte; the first field of each complete record (the
/// header excepted) goes to the index.
void read_csv(chunk_reader& reader, std::string_view first_piece, existing_output& e, name_index* index)
{
    std::string first; // the record's first field
    std::size_t field = 0;
    bool quoted = false, quote_closed = false, header = true;
    std::uint64_t offset = 0;
    for (std::string_view piece = first_piece; !piece.empty(); piece = reader.next()) {
        for (std::size_t i = 0; i < piece.size(); ++i) {
            const char c = piece[i];
            if (quoted) {
                if (c == '"') {
                    quoted = false;
                    quote_closed = true;
                } else if (field == 0) {
                    first += c;
                }
                continue;
            }
            if (c == '"') {
                if (quote_closed && field == 0)
                    first += '"'; // "" inside a quoted field
                quoted = true;
                quote_closed = false;
                continue;
            }
            quote_closed = false;
            if (c == ',') {
                ++field;
            } else if (c == '\n') {
                e.valid_length = offset + i + 1;
                if (header && first == "input") {
                    header = false;
                } else if (index) {
                    header = false;
                    ++e.lines;
                    if (!first.empty())
                        index->find_or_insert(first, name_index::origin::output_file);
                }
                first.clear();
                field = 0;
            } else if (c != '\r' && field == 0) {
                first += c;
            }
        }
        offset += piece.size();
    }
}

} // namespace

existing_output read_existing_output(const std::string& path, name_index* index)
{
    existing_output e;
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return e;
        throw usage_error("cannot read the output file '" + path + "': " + std::strerror(errno));
    }
    struct closer {
        int fd;
        ~closer() { ::close(fd); }
    } close_at_end{fd};
    e.exists = true;
    struct stat st{};
    if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
        e.size = static_cast<std::uint64_t>(st.st_size);
    else
        return e; // a device or a pipe (/dev/null, /dev/full): nothing to resume, nothing to repair
    chunk_reader reader(fd, path);
    const std::string_view first = reader.next();
    if (first.empty())
        return e;
    if (first.front() == '{') {
        e.format = output_format::jsonl;
    } else if (first.substr(0, csv_header.size()) == csv_header.substr(0, first.size()) &&
               (first.size() <= csv_header.size() || first[csv_header.size()] == '\n' ||
                first[csv_header.size()] == '\r')) {
        e.format = output_format::csv;
    } else {
        throw usage_error("the output file '" + path + "' is neither carcheck JSON Lines (a line starting with '{') "
                          "nor carcheck CSV (its header row); refusing to append to it");
    }
    if (*e.format == output_format::jsonl)
        read_jsonl(reader, first, e, index);
    else
        read_csv(reader, first, e, index);
    return e;
}

std::unique_ptr<output_writer> open_output(const std::string& path, output_format format,
                                           const existing_output& existing)
{
    if (path.empty()) {
        auto w = std::make_unique<output_writer>(STDOUT_FILENO, false, format, "standard output");
        w->write_header();
        return w;
    }
    const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0)
        throw usage_error("cannot open the output file '" + path + "': " + std::strerror(errno));
    auto w = std::make_unique<output_writer>(fd, true, format, path);
    if (existing.size > existing.valid_length) {
        // The end of a line that was being written when the process was killed.
        if (::ftruncate(fd, static_cast<off_t>(existing.valid_length)) != 0)
            throw usage_error("cannot repair the output file '" + path + "' (cut its incomplete last line): " +
                              std::strerror(errno));
        std::fprintf(stderr, "carcheck: %s: removed an incomplete last line (%llu bytes) left by an interrupted run\n",
                     path.c_str(), static_cast<unsigned long long>(existing.size - existing.valid_length));
    }
    if (existing.valid_length == 0)
        w->write_header();
    return w;
}

} // namespace carcheck_cli
