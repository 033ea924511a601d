#include "inputs.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <numeric>
#include <system_error>

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

    void add(input in) { out_.push_back(std::move(in)); }

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

    /// The inputs, each name kept once at its first position. Found by sorting positions
    /// rather than with a set of copied names: a batch of 100,000 paths would otherwise leave
    /// as many freed strings scattered through the heap that every later allocation pays for.
    std::vector<input> take()
    {
        std::vector<std::size_t> order(out_.size());
        std::iota(order.begin(), order.end(), std::size_t{0});
        std::stable_sort(order.begin(), order.end(),
                         [&](std::size_t a, std::size_t b) { return out_[a].name < out_[b].name; });
        std::vector<bool> repeated(out_.size());
        for (std::size_t i = 1; i < order.size(); ++i)
            if (out_[order[i]].name == out_[order[i - 1]].name)
                repeated[order[i]] = true;
        std::size_t kept = 0;
        for (std::size_t i = 0; i < out_.size(); ++i)
            if (!repeated[i]) {
                if (kept != i)
                    out_[kept] = std::move(out_[i]);
                ++kept;
            }
        out_.resize(kept);
        return std::move(out_);
    }

private:
    const discovery_options& opts_;
    std::vector<input> out_;
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
