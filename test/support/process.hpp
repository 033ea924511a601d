#ifndef CARCHECK_TEST_SUPPORT_PROCESS_HPP
#define CARCHECK_TEST_SUPPORT_PROCESS_HPP

// Runs a program as a child process for tests: arguments, environment changes, standard
// input text, captured standard output and error, signals, a deadline that kills the child.
// POSIX only (fork/execve with pipes). Everything the child needs is prepared before fork,
// so the child only calls async-signal-safe functions (the tests run threads).

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace carcheck_test {

struct process_result {
    int exit_code = -1;    ///< exit status, or -1 when ended by a signal
    int term_signal = 0;   ///< the signal that ended it, else 0
    bool timed_out = false; ///< killed (SIGKILL) at the deadline
    std::string out, err;
};

struct process_options {
    std::vector<std::string> args{}; ///< args[0] is the executable's path
    /// Environment changes: a value sets the variable, nullopt removes it.
    std::map<std::string, std::optional<std::string>> env{};
    std::string stdin_data{};       ///< written to the child's stdin, which is then closed
    std::string cwd{};              ///< empty: the current directory
};

class child_process {
public:
    explicit child_process(process_options o)
    {
        std::vector<std::string> env_strings;
        for (char** e = environ; *e; ++e) {
            std::string kv = *e;
            const auto name = kv.substr(0, kv.find('='));
            if (!o.env.count(name))
                env_strings.push_back(kv);
        }
        for (const auto& [name, value] : o.env)
            if (value)
                env_strings.push_back(name + "=" + *value);
        std::vector<char*> argv, envp;
        for (auto& a : o.args)
            argv.push_back(a.data());
        argv.push_back(nullptr);
        for (auto& e : env_strings)
            envp.push_back(e.data());
        envp.push_back(nullptr);

        int in[2], out[2], err[2];
        if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0)
            throw std::runtime_error("pipe failed");
        const char* cwd = o.cwd.empty() ? nullptr : o.cwd.c_str();
        pid_ = ::fork();
        if (pid_ < 0)
            throw std::runtime_error("fork failed");
        if (pid_ == 0) {
            ::dup2(in[0], STDIN_FILENO);
            ::dup2(out[1], STDOUT_FILENO);
            ::dup2(err[1], STDERR_FILENO);
            sigset_t none;
            sigemptyset(&none);
            ::sigprocmask(SIG_SETMASK, &none, nullptr);
            for (int s : {SIGINT, SIGTERM, SIGPIPE, SIGCHLD})
                ::signal(s, SIG_DFL);
            if (cwd && ::chdir(cwd) != 0)
                ::_exit(126);
            ::execve(argv[0], argv.data(), envp.data());
            ::_exit(127);
        }
        ::close(in[0]);
        ::close(out[1]);
        ::close(err[1]);
        out_fd_ = out[0];
        err_fd_ = err[0];
        // Small inputs only: the pipe buffer (64 KiB) takes them without blocking.
        const char* p = o.stdin_data.data();
        std::size_t left = o.stdin_data.size();
        while (left > 0) {
            const auto n = ::write(in[1], p, left);
            if (n <= 0 && errno != EINTR)
                break;
            if (n > 0)
                p += n, left -= static_cast<std::size_t>(n);
        }
        ::close(in[1]);
    }

    ~child_process()
    {
        if (!reaped_) {
            ::kill(pid_, SIGKILL);
            int status = 0;
            ::waitpid(pid_, &status, 0);
        }
        if (out_fd_ >= 0)
            ::close(out_fd_);
        if (err_fd_ >= 0)
            ::close(err_fd_);
    }

    child_process(const child_process&) = delete;
    child_process& operator=(const child_process&) = delete;

    pid_t pid() const { return pid_; }
    void send_signal(int sig) { ::kill(pid_, sig); }
    const std::string& out() const { return result_.out; }
    const std::string& err() const { return result_.err; }

    /// Collects output until `pred()` holds (checked every ~20 ms), the child closes its
    /// outputs, or the deadline passes. Returns pred().
    bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout)
    {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (!pred()) {
            if (std::chrono::steady_clock::now() >= deadline || (out_fd_ < 0 && err_fd_ < 0))
                return pred();
            pump(20);
        }
        return true;
    }

    /// Waits for the child to end (killing it at the deadline) and returns everything.
    process_result wait(std::chrono::milliseconds timeout)
    {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (!reaped_) {
            if (out_fd_ >= 0 || err_fd_ >= 0)
                pump(20);
            int status = 0;
            const pid_t r = ::waitpid(pid_, &status, WNOHANG);
            if (r == pid_) {
                reaped_ = true;
                if (WIFEXITED(status))
                    result_.exit_code = WEXITSTATUS(status);
                else if (WIFSIGNALED(status))
                    result_.term_signal = WTERMSIG(status);
                break;
            }
            if (std::chrono::steady_clock::now() >= deadline) {
                ::kill(pid_, SIGKILL);
                result_.timed_out = true;
                ::waitpid(pid_, &status, 0);
                reaped_ = true;
                result_.term_signal = SIGKILL;
                break;
            }
            if (out_fd_ < 0 && err_fd_ < 0)
                ::usleep(10'000);
        }
        while (out_fd_ >= 0 || err_fd_ >= 0) // whatever is still buffered
            pump(0);
        return result_;
    }

private:
    void pump(int timeout_ms)
    {
        pollfd fds[2];
        int n = 0;
        if (out_fd_ >= 0)
            fds[n++] = {out_fd_, POLLIN, 0};
        if (err_fd_ >= 0)
            fds[n++] = {err_fd_, POLLIN, 0};
        if (n == 0)
            return;
        const int ready = ::poll(fds, static_cast<nfds_t>(n), timeout_ms);
        if (ready <= 0) {
            if (timeout_ms == 0 && ready == 0) { // nothing more right now: stop collecting
                close_fd(out_fd_);
                close_fd(err_fd_);
            }
            return;
        }
        for (int i = 0; i < n; ++i) {
            if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            int& fd = fds[i].fd == out_fd_ ? out_fd_ : err_fd_;
            std::string& sink = fds[i].fd == out_fd_ ? result_.out : result_.err;
            char buf[8192];
            const auto got = ::read(fd, buf, sizeof buf);
            if (got > 0)
                sink.append(buf, static_cast<std::size_t>(got));
            else if (got == 0 || errno != EINTR)
                close_fd(fd);
        }
    }

    static void close_fd(int& fd)
    {
        if (fd >= 0)
            ::close(fd);
        fd = -1;
    }

    pid_t pid_ = -1;
    int out_fd_ = -1, err_fd_ = -1;
    bool reaped_ = false;
    process_result result_;
};

/// Runs a program to completion (or the deadline) and returns its exit status and output.
inline process_result run_process(process_options o, std::chrono::milliseconds timeout = std::chrono::seconds(60))
{
    child_process p(std::move(o));
    return p.wait(timeout);
}

} // namespace carcheck_test

#endif
