#ifndef CARCHECK_CLI_OUTPUT_HPP
#define CARCHECK_CLI_OUTPUT_HPP

// Output writers (JSON Lines, CSV) and the --resume reader of an existing output file.
// Lines are collected in memory and written by flush(); the batch flushes as soon as the
// replies that completed together are written (one write for many lines instead of one
// each), so an interrupted run keeps everything it reported.

#include "args.hpp"

#include <carcheck/model.hpp>

#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_set>

namespace carcheck_cli {

/// Writes one line per input to a FILE.
class output_writer {
public:
    /// `f` is stdout or a file opened for appending (closed by the writer when `owns`).
    output_writer(std::FILE* f, bool owns, output_format format);
    ~output_writer();
    output_writer(const output_writer&) = delete;
    output_writer& operator=(const output_writer&) = delete;

    /// The CSV header row (call once, for a new or empty file).
    void write_header();
    void write_success(const std::string& input, const carcheck::recognition& r);
    void write_error(const std::string& input, const std::string& code, const std::string& message,
                     unsigned http_status);

    /// Writes the collected lines to the file and flushes it. Also done when more than
    /// 64 KiB are waiting and by the destructor.
    void flush();

    /// A write or flush failed (disk full, closed pipe): the text of the first failure.
    const std::string& failure() const { return failure_; }

private:
    void append_success(std::string& line, const std::string& input, const carcheck::recognition& r) const;
    void append_error(std::string& line, const std::string& input, const std::string& code,
                      const std::string& message, unsigned http_status) const;
    /// Flushes when more than 64 KiB are waiting.
    void line_added();

    std::FILE* f_;
    bool owns_;
    output_format format_;
    std::string buffer_;
    std::string failure_;
};

/// What an existing output file says, for --resume and for appending.
struct existing_output {
    bool exists = false;
    bool empty = true;                   ///< no bytes (a CSV header is then needed)
    bool ends_with_newline = true;       ///< false: an interrupted write left half a line
    std::unordered_set<std::string> inputs; ///< the "input" of every complete line
};

/// Looks at `path`; with `collect_inputs` reads it in `format` (JSON Lines: the "input"
/// member of every complete line that parses; CSV: the first field of every complete record
/// after the header). Throws usage_error when the file exists but cannot be read.
existing_output read_existing_output(const std::string& path, output_format format, bool collect_inputs);

/// Opens the output: stdout when `path` is empty, else `path` for appending (a missing
/// newline at its end is added first; a CSV header is written when the file is new or
/// empty). Throws usage_error when the file cannot be opened.
std::unique_ptr<output_writer> open_output(const std::string& path, output_format format,
                                           const existing_output& existing);

} // namespace carcheck_cli

#endif
