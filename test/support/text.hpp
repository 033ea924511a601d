#ifndef CARCHECK_TEST_SUPPORT_TEXT_HPP
#define CARCHECK_TEST_SUPPORT_TEXT_HPP

// Reading what a program wrote: whole files and their non-empty lines.

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace carcheck_test {

/// The non-empty lines of `text`, without their line breaks.
inline std::vector<std::string> lines_of(const std::string& text)
{
    std::vector<std::string> out;
    std::stringstream s(text);
    for (std::string line; std::getline(s, line);)
        if (!line.empty())
            out.push_back(line);
    return out;
}

/// The whole file, byte for byte (empty when it cannot be read).
inline std::string read_text(const std::filesystem::path& p)
{
    std::ifstream in(p, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

} // namespace carcheck_test

#endif
