#include "output.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <charconv>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>

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

void append_json_quoted(std::string& out, std::string_view s)
{
    out += '"';
    for (char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
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
                out += ch;
            }
        }
    }
    out += '"';
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

} // namespace

output_writer::output_writer(std::FILE* f, bool owns, output_format format) : f_(f), owns_(owns), format_(format) {}

output_writer::~output_writer()
{
    flush();
    if (owns_ && f_)
        std::fclose(f_);
}

void output_writer::line_added()
{
    if (buffer_.size() > 64 * 1024)
        flush();
}

void output_writer::flush()
{
    if (!f_ || buffer_.empty())
        return;
    if (std::fwrite(buffer_.data(), 1, buffer_.size(), f_) != buffer_.size() || std::fflush(f_) != 0) {
        if (failure_.empty())
            failure_ = std::strerror(errno);
    }
    buffer_.clear();
}

void output_writer::write_header()
{
    if (format_ == output_format::csv)
    {
        buffer_ += "input,ok,plate,confidence,region,vehicle_color,vehicle_make,vehicle_make_model,"
                   "vehicle_body_type,vehicle_year,error,message,http_status\n";
        line_added();
    }
}

void output_writer::append_success(std::string& line, const std::string& input,
                                   const carcheck::recognition& r) const
{
    const carcheck::plate_details* best = r.results.empty() ? nullptr : &r.results.front();
    const carcheck::vehicle_details* vehicle = best && best->vehicle ? &*best->vehicle : nullptr;
    if (!vehicle && !r.vehicles.empty())
        vehicle = &r.vehicles.front().details;
    if (format_ == output_format::csv) {
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
    line += "{\"input\":";
    append_json_quoted(line, input);
    line += ",\"ok\":true,\"plate\":";
    if (best) {
        append_json_quoted(line, best->plate);
        line += ",\"confidence\":";
        append_number(line, best->confidence, "null");
        line += ",\"region\":";
        append_json_quoted(line, best->region);
    } else {
        line += "null,\"confidence\":null,\"region\":null";
    }
    line += ",\"vehicle\":";
    if (vehicle) {
        line += '{';
        for (int i = 0; i < 6; ++i) {
            if (i)
                line += ',';
            append_json_quoted(line, attribute_names[i]);
            line += ':';
            const auto label = best_label(*vehicle, i);
            if (label.empty())
                line += "null";
            else
                append_json_quoted(line, label);
        }
        line += '}';
    } else {
        line += "null";
    }
    line += ",\"reply\":";
    append_one_line(line, r.raw_json);
    line += "}\n";
}

void output_writer::append_error(std::string& line, const std::string& input, const std::string& code,
                                 const std::string& message, unsigned http_status) const
{
    if (format_ == output_format::csv) {
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
    line += "{\"input\":";
    append_json_quoted(line, input);
    line += ",\"ok\":false,\"error\":";
    append_json_quoted(line, code);
    line += ",\"message\":";
    append_json_quoted(line, message);
    line += ",\"http_status\":";
    line += http_status ? std::to_string(http_status) : std::string("null");
    line += "}\n";
}

void output_writer::write_success(const std::string& input, const carcheck::recognition& r)
{
    append_success(buffer_, input, r);
    line_added();
}

void output_writer::write_error(const std::string& input, const std::string& code, const std::string& message,
                                unsigned http_status)
{
    append_error(buffer_, input, code, message, http_status);
    line_added();
}

namespace {

/// The first field of every CSV record (RFC 4180: quoted fields may hold commas, quotes and
/// line breaks). A record cut short by the end of the file is ignored.
void csv_first_fields(const std::string& text, std::unordered_set<std::string>& out)
{
    std::size_t i = 0;
    bool header = true;
    while (i < text.size()) {
        std::string first;
        std::size_t field = 0;
        bool complete = false;
        std::string cur;
        while (i < text.size()) {
            if (text[i] == '"') {
                ++i;
                bool closed = false;
                while (i < text.size()) {
                    if (text[i] == '"') {
                        if (i + 1 < text.size() && text[i + 1] == '"') {
                            cur += '"';
                            i += 2;
                            continue;
                        }
                        ++i;
                        closed = true;
                        break;
                    }
                    cur += text[i++];
                }
                if (!closed)
                    break;
            }
            if (i >= text.size())
                break;
            const char c = text[i];
            if (c == ',' || c == '\n' || c == '\r') {
                if (field == 0)
                    first = cur;
                ++field;
                cur.clear();
                ++i;
                if (c == '\r' && i < text.size() && text[i] == '\n')
                    ++i;
                if (c != ',') {
                    complete = true;
                    break;
                }
                continue;
            }
            cur += c;
            ++i;
        }
        if (!complete)
            break;
        if (header) {
            header = false;
            if (first == "input")
                continue;
        }
        if (!first.empty())
            out.insert(first);
    }
}

} // namespace

existing_output read_existing_output(const std::string& path, output_format format, bool collect_inputs)
{
    existing_output e;
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        if (errno == ENOENT)
            return e;
        throw usage_error("cannot read the output file '" + path + "': " + std::strerror(errno));
    }
    e.exists = true;
    if (!collect_inputs) {
        in.seekg(0, std::ios::end);
        const auto size = static_cast<long long>(in.tellg());
        e.empty = size <= 0;
        if (size > 0) {
            in.seekg(size - 1);
            e.ends_with_newline = in.get() == '\n';
        }
        return e;
    }
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string text = ss.str();
    e.empty = text.empty();
    e.ends_with_newline = text.empty() || text.back() == '\n';
    if (format == output_format::csv) {
        csv_first_fields(text, e.inputs);
        return e;
    }
    std::size_t start = 0;
    while (start < text.size()) {
        const auto end = text.find('\n', start);
        if (end == std::string::npos)
            break; // half a line: not a result
        boost::system::error_code ec;
        const auto v = boost::json::parse(std::string_view(text).substr(start, end - start), ec);
        if (!ec && v.is_object())
            if (const auto* name = v.as_object().if_contains("input"); name && name->is_string())
                e.inputs.insert(std::string(name->as_string()));
        start = end + 1;
    }
    return e;
}

std::unique_ptr<output_writer> open_output(const std::string& path, output_format format,
                                           const existing_output& existing)
{
    if (path.empty()) {
        auto w = std::make_unique<output_writer>(stdout, false, format);
        w->write_header();
        return w;
    }
    std::FILE* f = std::fopen(path.c_str(), "ab");
    if (!f)
        throw usage_error("cannot open the output file '" + path + "': " + std::strerror(errno));
    auto w = std::make_unique<output_writer>(f, true, format);
    if (!existing.ends_with_newline) {
        std::fputc('\n', f);
        std::fflush(f);
    }
    if (existing.empty)
        w->write_header();
    return w;
}

} // namespace carcheck_cli
