// Small helpers shared by the benchmark programs: command-line parsing, latency statistics,
// resource usage and the one-line JSON result every program prints on stdout.
// Standard library and POSIX only, so the libcurl peer can use it without the library.
#ifndef CARCHECK_BENCHMARK_COMMON_HPP
#define CARCHECK_BENCHMARK_COMMON_HPP

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace bench {

using clock = std::chrono::steady_clock;

/// "--name value" and "--flag" arguments. Unknown names are an error (typos must not
/// silently change what is measured).
class args {
public:
    args(int argc, char** argv, std::vector<std::string> flags) : flags_(std::move(flags))
    {
        for (int i = 1; i < argc; ++i) {
            std::string a = argv[i];
            if (a.rfind("--", 0) != 0)
                throw std::runtime_error("unexpected argument: " + a);
            a.erase(0, 2);
            if (std::find(flags_.begin(), flags_.end(), a) != flags_.end()) {
                values_.insert_or_assign(a, std::string(1, '1'));
                continue;
            }
            if (i + 1 >= argc)
                throw std::runtime_error("--" + a + " needs a value");
            values_.insert_or_assign(a, std::string(argv[++i]));
        }
    }

    /// Throws for a name the program does not know.
    void allow(const std::vector<std::string>& names) const
    {
        for (const auto& [k, v] : values_) {
            if (std::find(names.begin(), names.end(), k) == names.end() &&
                std::find(flags_.begin(), flags_.end(), k) == flags_.end())
                throw std::runtime_error("unknown option --" + k);
        }
    }

    bool has(const std::string& k) const { return values_.count(k) != 0; }
    bool flag(const std::string& k) const { return has(k); }
    std::string str(const std::string& k, std::string def = {}) const
    {
        auto it = values_.find(k);
        return it == values_.end() ? def : it->second;
    }
    std::string required(const std::string& k) const
    {
        auto it = values_.find(k);
        if (it == values_.end())
            throw std::runtime_error("--" + k + " is required");
        return it->second;
    }
    std::uint64_t num(const std::string& k, std::uint64_t def) const
    {
        auto it = values_.find(k);
        return it == values_.end() ? def : std::strtoull(it->second.c_str(), nullptr, 10);
    }
    double real(const std::string& k, double def) const
    {
        auto it = values_.find(k);
        return it == values_.end() ? def : std::strtod(it->second.c_str(), nullptr);
    }

private:
    std::vector<std::string> flags_;
    std::map<std::string, std::string> values_;
};

/// CPU time (user + system) of this process, all threads.
inline double cpu_seconds()
{
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    auto tv = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
    return tv(ru.ru_utime) + tv(ru.ru_stime);
}

/// Peak resident set size of this process in KiB (ru_maxrss).
inline long peak_rss_kib()
{
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

/// Latency percentile (nearest rank) in milliseconds; `ns` is sorted in place.
inline double percentile_ms(std::vector<std::int64_t>& ns, double p)
{
    if (ns.empty())
        return 0;
    std::sort(ns.begin(), ns.end());
    auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(ns.size())));
    rank = std::clamp<std::size_t>(rank, 1, ns.size());
    return static_cast<double>(ns[rank - 1]) / 1e6;
}

/// Builder of the one-line JSON result.
class json_line {
public:
    json_line& str(const std::string& k, const std::string& v)
    {
        std::string esc;
        for (char c : v) {
            if (c == '"' || c == '\\')
                esc += '\\';
            if (static_cast<unsigned char>(c) < 0x20)
                continue;
            esc += c;
        }
        return raw(k, "\"" + esc + "\"");
    }
    json_line& num(const std::string& k, double v)
    {
        if (!std::isfinite(v))
            return raw(k, "null");
        char buf[64];
        std::snprintf(buf, sizeof buf, "%.6g", v);
        return raw(k, buf);
    }
    json_line& integer(const std::string& k, std::uint64_t v) { return raw(k, std::to_string(v)); }
    json_line& boolean(const std::string& k, bool v) { return raw(k, v ? "true" : "false"); }
    json_line& raw(const std::string& k, const std::string& v)
    {
        text_ += (text_.empty() ? "{" : ",");
        text_ += "\"" + k + "\":" + v;
        return *this;
    }
    void print() const
    {
        std::printf("%s}\n", text_.c_str());
        std::fflush(stdout);
    }

private:
    std::string text_;
};

inline std::string read_file(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw std::runtime_error("cannot read " + path);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline double seconds_since(clock::time_point t)
{
    return std::chrono::duration<double>(clock::now() - t).count();
}

} // namespace bench

#endif
