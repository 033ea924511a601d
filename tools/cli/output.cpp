#include "output.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>

namespace carcheck_cli {

namespace {

std::string number(double v)
{
    if (!std::isfinite(v))
        return "null";
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.10g", v);
    return buf;
}

std::string csv_number(double v)
{
    if (!std::isfinite(v))
        return "";
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.10g", v);
    return buf;
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

std::string best_label(const carcheck::vehicle_details& v, int i)
{
    const auto* list = attribute(v, i);
    return list->empty() ? std::string() : list->front().name;
}

/// The reply text on one line: raw CR/LF can only be whitespace in JSON (inside strings
/// they are escaped), so replacing them by spaces keeps the JSON identical.
std::string one_line(std::string_view json)
{
    std::string out(json);
    for (char& c : out)
        if (c == '\n' || c == '\r')
            c = ' ';
    while (!out.empty() && out.back() == ' ')
        out.pop_back();
    return out.empty() ? "null" : out;
}

} // namespace

std::string json_quote(std::string_view s)
{
    std::string out;
    out.reserve(s.size() + 2);
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
    return out;
}

std::string csv_field(std::string_view s)
{
    if (s.find_first_of(",\"\r\n") == std::string_view::npos)
        return std::string(s);
    std::string out = "\"";
    for (char c : s) {
        if (c == '"')
            out += '"';
        out += c;
    }
    out += '"';
    return out;
}

output_writer::output_writer(std::FILE* f, bool owns, output_format format) : f_(f), owns_(owns), format_(format) {}

output_writer::~output_writer()
{
    flush();
    if (owns_ && f_)
        std::fclose(f_);
}

void output_writer::emit(const std::string& line)
{
    buffer_ += line;
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
        emit("input,ok,plate,confidence,region,vehicle_color,vehicle_make,vehicle_make_model,"
             "vehicle_body_type,vehicle_year,error,message,http_status\n");
}

std::string output_writer::success_line(const std::string& input, const carcheck::recognition& r) const
{
    const carcheck::plate_details* best = r.results.empty() ? nullptr : &r.results.front();
    const carcheck::vehicle_details* vehicle = best && best->vehicle ? &*best->vehicle : nullptr;
    if (!vehicle && !r.vehicles.empty())
        vehicle = &r.vehicles.front().details;
    std::string line;
    if (format_ == output_format::csv) {
        line = csv_field(input) + ",true,";
        if (best)
            line += csv_field(best->plate) + "," + csv_number(best->confidence) + "," + csv_field(best->region);
        else
            line += ",,";
        for (int i = 0; i < 5; ++i) {
            line += ',';
            if (vehicle)
                line += csv_field(best_label(*vehicle, i));
        }
        line += ",,,\n";
        return line;
    }
    line = "{\"input\":" + json_quote(input) + ",\"ok\":true,\"plate\":";
    if (best)
        line += json_quote(best->plate) + ",\"confidence\":" + number(best->confidence) +
                ",\"region\":" + json_quote(best->region);
    else
        line += "null,\"confidence\":null,\"region\":null";
    line += ",\"vehicle\":";
    if (vehicle) {
        line += '{';
        for (int i = 0; i < 6; ++i) {
            if (i)
                line += ',';
            const auto label = best_label(*vehicle, i);
            line += json_quote(attribute_names[i]) + ":" + (label.empty() ? std::string("null") : json_quote(label));
        }
        line += '}';
    } else {
        line += "null";
    }
    line += ",\"reply\":" + one_line(r.raw_json) + "}\n";
    return line;
}

std::string output_writer::error_line(const std::string& input, const std::string& code, const std::string& message,
                                      unsigned http_status) const
{
    if (format_ == output_format::csv)
        return csv_field(input) + ",false,,,,,,,,," + csv_field(code) + "," + csv_field(message) + "," +
               (http_status ? std::to_string(http_status) : std::string()) + "\n";
    return "{\"input\":" + json_quote(input) + ",\"ok\":false,\"error\":" + json_quote(code) +
           ",\"message\":" + json_quote(message) + ",\"http_status\":" +
           (http_status ? std::to_string(http_status) : std::string("null")) + "}\n";
}

void output_writer::write_success(const std::string& input, const carcheck::recognition& r)
{
    emit(success_line(input, r));
}

void output_writer::write_error(const std::string& input, const std::string& code, const std::string& message,
                                unsigned http_status)
{
    emit(error_line(input, code, message, http_status));
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
