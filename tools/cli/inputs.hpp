#ifndef CARCHECK_CLI_INPUTS_HPP
#define CARCHECK_CLI_INPUTS_HPP

// Input discovery: the command line's PATH arguments become the inputs to process, one at
// a time (standard input is read as the batch needs more, never all at once).

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace carcheck_cli {

/// One unit of work: one line of output.
struct input {
    std::string name;      ///< the "input" field of the output: the path as given/found, or the URL
    bool is_url = false;
    /// Set when the input cannot be sent at all (missing or unreadable file or folder): the
    /// runner writes an error line with these instead of calling the service.
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
/// lines ignored; at most one line and 64 KiB of it held at a time). A path that does not exist or cannot be read, and a folder inside a
/// scanned tree that cannot be read, become inputs with an error. Entries of a scanned
/// folder that cannot be images (FIFOs, sockets, devices, dangling symlinks, symlink loops,
/// symlinks to folders) are counted in skipped() by reason. Duplicates are not removed here
/// (the batch does that).
class input_source {
public:
    /// `stdin_fd`: where "-" reads lines from (standard input).
    input_source(const std::vector<std::string>& args, const discovery_options& opts, int stdin_fd);

    enum class status { input, would_block, end };
    /// The next input in `out`; `end` when there are no more. With `wait` false, returns
    /// `would_block` instead of waiting for standard input to deliver a complete line (the
    /// batch then waits for the descriptor to become readable while its requests go on).
    /// Throws std::runtime_error when standard input cannot be read.
    status next(input& out, bool wait = true);
    int stdin_fd() const noexcept { return stdin_fd_; }
    /// Inputs listed but not returned yet (a scanned folder's rest), and whether more may
    /// come that are not listed yet (standard input, arguments not looked at).
    std::size_t listed() const noexcept { return folder_.size(); }
    bool more_unlisted() const noexcept { return reading_stdin_ || next_arg_ < args_.size(); }
    /// Makes `in` the next input again (once, after next() returned it).
    void put_back(input in) { folder_.push_back(std::move(in)); }

    /// Entries of scanned folders passed over, by reason ("FIFO", "dangling symlink", ...).
    const std::map<std::string, std::size_t>& skipped() const { return skipped_; }

private:
    void scan_folder(const std::string& dir);
    status read_line(std::string& line, bool wait);

    const std::vector<std::string>& args_;
    const discovery_options& opts_;
    int stdin_fd_;
    std::string stdin_buffer_;      ///< bytes read from stdin_fd_ from stdin_used_ on
    std::size_t stdin_used_ = 0;
    bool stdin_eof_ = false;
    std::size_t next_arg_ = 0;
    bool reading_stdin_ = false;
    std::vector<input> folder_; ///< the current folder's inputs, in reverse order (taken from the back)
    std::map<std::string, std::size_t> skipped_;
};

} // namespace carcheck_cli

#endif
