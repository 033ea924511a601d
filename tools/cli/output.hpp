#ifndef CARCHECK_CLI_OUTPUT_HPP
#define CARCHECK_CLI_OUTPUT_HPP

// Output writers (JSON Lines, CSV) and the --resume reader of an existing output file.
// Every line is handed to the kernel (write(2)) as soon as it is made, before the batch
// reads another reply or starts another request: a process killed at any moment loses at
// most the line being written, and --resume repairs a half-written last line.

#include "args.hpp"
#include "name_index.hpp"

#include <carcheck/model.hpp>

#include <memory>
#include <string>
#include <string_view>
#include <cstdint>
#include <optional>

namespace carcheck_cli {

/// Writes one line per input to a file descriptor.
class output_writer {
public:
    /// `fd` is standard output or a file opened for appending (closed by the writer when
    /// `owns`); `where` names it in error messages.
    output_writer(int fd, bool owns, output_format format, std::string where);
    ~output_writer();
    output_writer(const output_writer&) = delete;
    output_writer& operator=(const output_writer&) = delete;

    /// Each returns false when the line could not be written (see failure()); after a
    /// failure nothing more is written.
    bool write_header(); ///< the CSV header row (for a new or empty file); nothing for JSON Lines
    bool write_success(const std::string& input, const carcheck::recognition& r);
    bool write_error(const std::string& input, const std::string& code, const std::string& message,
                     unsigned http_status);

    /// Closes the file (when owned); false, with failure() set, when that fails.
    bool close();

    /// The first write or close failure, with the OS error ("plates.jsonl: No space left on device").
    const std::string& failure() const { return failure_; }
    output_format format() const { return format_; }

private:
    bool write_buffer();

    int fd_;
    bool owns_;
    output_format format_;
    std::string where_;
    std::string buffer_;
    std::string failure_;
};

/// JSON text of `s` in double quotes; bytes that are not valid UTF-8 become U+FFFD.
/// Returns false when there were such bytes.
bool append_json_string(std::string& out, std::string_view s);

/// Lower-case hex of every byte of `s` (the "input_hex" member of a JSON line whose name is
/// not valid UTF-8), and its inverse (nullopt for text that is not such hex).
std::string to_hex(std::string_view s);
std::optional<std::string> from_hex(std::string_view hex);

/// What an existing output file holds.
struct existing_output {
    bool exists = false;
    std::optional<output_format> format; ///< from its content; empty when the file is empty
    std::uint64_t size = 0;
    /// Bytes up to the end of the last complete line (record): a process killed while
    /// writing leaves a partial last line after it, cut off before appending.
    std::uint64_t valid_length = 0;
    std::size_t lines = 0; ///< complete lines (records) read for `index`, the CSV header excluded
};

/// Looks at `path`: its format from its first line (a JSON object: JSON Lines; carcheck's CSV
/// header: CSV; anything else is a usage_error, so that no other file is appended to). With
/// `index`, reads every complete line and records its input there (JSON Lines: the "input"
/// member, or the bytes of "input_hex"; CSV: the first field). Reads the file in pieces:
/// memory does not grow with its size. Throws usage_error when the file cannot be read.
existing_output read_existing_output(const std::string& path, name_index* index);

/// Opens the output: standard output when `path` is empty, else `path` for appending, cut
/// back to `existing.valid_length` first (a note on stderr says so) and with the CSV header
/// when the file is new or empty. Throws usage_error when the file cannot be opened.
std::unique_ptr<output_writer> open_output(const std::string& path, output_format format,
                                           const existing_output& existing);

} // namespace carcheck_cli

#endif
