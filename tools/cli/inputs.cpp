#include "inputs.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <dirent.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

namespace carcheck_cli {

namespace {

bool has_extension(const std::string& name, const std::vector<std::string>& exts)
{
    const auto dot = name.rfind('.');
    const auto slash = name.rfind('/');
    if (dot == std::string::npos || (slash != std::string::npos && dot < slash) || dot + 1 >= name.size())
        return false;
    std::string e = name.substr(dot + 1);
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

std::string join(const std::string& dir, const char* entry)
{
    return !dir.empty() && dir.back() == '/' ? dir + entry : dir + "/" + entry;
}

} // namespace

input_source::input_source(const std::vector<std::string>& args, const discovery_options& opts, int stdin_fd)
    : args_(args), opts_(opts), stdin_fd_(stdin_fd)
{
}

input_source::status input_source::read_line(std::string& line, bool wait)
{
    for (;;) {
        if (const auto nl = stdin_buffer_.find('\n', stdin_used_); nl != std::string::npos) {
            line.assign(stdin_buffer_, stdin_used_, nl - stdin_used_);
            stdin_used_ = nl + 1;
            return status::input;
        }
        if (stdin_eof_) {
            if (stdin_used_ == stdin_buffer_.size())
                return status::end;
            line.assign(stdin_buffer_, stdin_used_); // a last line without its newline
            stdin_used_ = stdin_buffer_.size();
            return status::input;
        }
        stdin_buffer_.erase(0, stdin_used_);
        stdin_used_ = 0;
        pollfd p{stdin_fd_, POLLIN, 0};
        if (!wait && ::poll(&p, 1, 0) == 0)
            return status::would_block;
        char buf[64 * 1024];
        const auto n = ::read(stdin_fd_, buf, sizeof buf);
        if (n > 0) {
            stdin_buffer_.append(buf, static_cast<std::size_t>(n));
        } else if (n == 0) {
            stdin_eof_ = true;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            if (!wait)
                return status::would_block;
            (void)::poll(&p, 1, -1);
        } else if (errno != EINTR) {
            throw std::runtime_error(std::string("cannot read standard input: ") + std::strerror(errno));
        }
    }
}

void input_source::scan_folder(const std::string& root)
{
    // The whole tree is listed first: its files are sorted by path, as a listing shows them.
    std::vector<input> found;
    std::vector<std::string> pending{root};
    while (!pending.empty()) {
        const std::string dir = std::move(pending.back());
        pending.pop_back();
        DIR* d = ::opendir(dir.c_str());
        if (!d) {
            found.push_back(error_input(dir, "folder_unreadable", std::strerror(errno)));
            continue;
        }
        int err = 0;
        for (;;) {
            errno = 0;
            const dirent* e = ::readdir(d);
            if (!e) {
                err = errno;
                break;
            }
            if (!std::strcmp(e->d_name, ".") || !std::strcmp(e->d_name, ".."))
                continue;
            std::string path = join(dir, e->d_name);
            struct stat lst{}, st{};
            if (::lstat(path.c_str(), &lst) != 0) {
                found.push_back(error_input(std::move(path), "file_unreadable", std::strerror(errno)));
                continue;
            }
            if (S_ISDIR(lst.st_mode)) {
                pending.push_back(std::move(path));
                continue;
            }
            const bool link = S_ISLNK(lst.st_mode);
            if (link && ::stat(path.c_str(), &st) != 0) {
                ++skipped_[errno == ELOOP ? "symlink loop" : errno == ENOENT ? "dangling symlink"
                                                                             : "unreadable symlink"];
                continue;
            }
            const struct stat& target = link ? st : lst;
            if (S_ISREG(target.st_mode)) {
                if (has_extension(path, opts_.extensions))
                    found.push_back(file_input(std::move(path)));
            } else if (S_ISDIR(target.st_mode)) {
                ++skipped_["symlink to a folder (not followed)"];
            } else if (S_ISFIFO(target.st_mode)) {
                ++skipped_["FIFO"];
            } else if (S_ISSOCK(target.st_mode)) {
                ++skipped_["socket"];
            } else {
                ++skipped_["device"];
            }
        }
        ::closedir(d);
        if (err)
            found.push_back(error_input(dir, "folder_unreadable", std::strerror(err)));
    }
    std::sort(found.begin(), found.end(), [](const input& a, const input& b) { return a.name > b.name; });
    folder_ = std::move(found);
}

input_source::status input_source::next(input& out, bool wait)
{
    for (;;) {
        if (!folder_.empty()) {
            out = std::move(folder_.back());
            folder_.pop_back();
            if (folder_.empty())
                folder_.shrink_to_fit();
            return status::input;
        }
        std::string arg;
        if (reading_stdin_) {
            const status st = read_line(arg, wait);
            if (st == status::would_block)
                return st;
            if (st == status::end) {
                reading_stdin_ = false;
                continue;
            }
            if (!arg.empty() && arg.back() == '\r')
                arg.pop_back();
            if (arg.empty())
                continue;
        } else if (next_arg_ < args_.size()) {
            arg = args_[next_arg_++];
            if (arg == "-") {
                reading_stdin_ = true;
                continue;
            }
        } else {
            return status::end;
        }
        if (opts_.urls) {
            out = input{};
            out.name = std::move(arg);
            out.is_url = true;
            return status::input;
        }
        struct stat st{};
        if (::stat(arg.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
            scan_folder(arg);
            continue;
        }
        out = file_input(std::move(arg)); // a file, or the precise error
        return status::input;
    }
}

} // namespace carcheck_cli
