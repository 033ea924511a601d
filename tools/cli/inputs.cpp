#include "inputs.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <unordered_set>

#include <unistd.h>

namespace carcheck_cli {

namespace fs = std::filesystem;

namespace {

bool has_extension(const fs::path& p, const std::vector<std::string>& exts)
{
    std::string e = p.extension().string();
    if (e.size() < 2)
        return false;
    e.erase(0, 1);
    std::transform(e.begin(), e.end(), e.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return std::find(exts.begin(), exts.end(), e) != exts.end();
}

input error_input(std::string name, std::string code, const std::string& what)
{
    input in;
    in.message = name + ": " + what;
    in.name = std::move(name);
    in.error = std::move(code);
    return in;
}

/// A path that names a file: readable, or an error input.
input file_input(std::string name)
{
    if (::access(name.c_str(), R_OK) != 0) {
        const int err = errno;
        return error_input(std::move(name), err == ENOENT ? "file_not_found" : "file_unreadable",
                           std::strerror(err));
    }
    input in;
    in.name = std::move(name);
    return in;
}

class collector {
public:
    collector(const discovery_options& o) : opts_(o) {}

    void add(input in)
    {
        if (seen_.insert(in.name).second)
            out_.push_back(std::move(in));
    }

    void add_argument(const std::string& arg)
    {
        if (opts_.urls) {
            input in;
            in.name = arg;
            in.is_url = true;
            add(std::move(in));
            return;
        }
        std::error_code ec;
        const auto st = fs::status(arg, ec);
        if (ec || !fs::exists(st)) {
            add(file_input(arg)); // gives the precise error
            return;
        }
        if (!fs::is_directory(st)) {
            add(file_input(arg));
            return;
        }
        add_folder(arg);
    }

    void add_folder(const std::string& dir)
    {
        std::vector<std::string> found;
        std::error_code ec;
        fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec);
        if (ec) {
            add(error_input(dir, "folder_unreadable", ec.message()));
            return;
        }
        for (const fs::recursive_directory_iterator end; it != end; it.increment(ec)) {
            if (ec) {
                add(error_input(dir, "folder_unreadable", ec.message()));
                return;
            }
            std::error_code fec;
            if (it->is_regular_file(fec) && has_extension(it->path(), opts_.extensions))
                found.push_back(it->path().string());
        }
        std::sort(found.begin(), found.end());
        for (auto& f : found)
            add(file_input(std::move(f)));
    }

    std::vector<input> take() { return std::move(out_); }

private:
    const discovery_options& opts_;
    std::vector<input> out_;
    std::unordered_set<std::string> seen_;
};

} // namespace

std::vector<input> discover_inputs(const std::vector<std::string>& args, const discovery_options& opts,
                                   std::istream& stdin_lines)
{
    collector c(opts);
    for (const auto& arg : args) {
        if (arg != "-") {
            c.add_argument(arg);
            continue;
        }
        for (std::string line; std::getline(stdin_lines, line);) {
            if (!line.empty() && line.back() == '\r')
                line.pop_back();
            if (!line.empty())
                c.add_argument(line);
        }
    }
    return c.take();
}

} // namespace carcheck_cli
