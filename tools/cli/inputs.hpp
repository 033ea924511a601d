#ifndef CARCHECK_CLI_INPUTS_HPP
#define CARCHECK_CLI_INPUTS_HPP

// Input discovery: the command line's PATH arguments become the list of inputs to process.

#include <istream>
#include <string>
#include <vector>

namespace carcheck_cli {

/// One unit of work: one line of output.
struct input {
    std::string name;      ///< the "input" field of the output: the path as given/found, or the URL
    bool is_url = false;
    /// Set when the input cannot be sent at all (missing or unreadable file): the runner
    /// writes an error line with these instead of calling the service.
    std::string error;     ///< code name, e.g. "file_not_found"
    std::string message;
};

struct discovery_options {
    std::vector<std::string> extensions; ///< lower case, without dot
    bool urls = false;                   ///< arguments are URLs, not paths
};

/// Expands the arguments in order: a file is itself (whatever its extension), a folder is
/// every file below it with one of the extensions (recursive, sorted, symlinks to files
/// followed, to folders not), "-" is one path (or URL) per line of `stdin_lines` (empty
/// lines ignored). A path that does not exist or cannot be read becomes an input with an
/// error. Duplicates (same name) are kept once, at their first position.
std::vector<input> discover_inputs(const std::vector<std::string>& args, const discovery_options& opts,
                                   std::istream& stdin_lines);

} // namespace carcheck_cli

#endif
