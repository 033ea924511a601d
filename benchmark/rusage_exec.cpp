// carcheck_bench_rusage: runs a command and reports its wall time, CPU time and peak RSS.
//
//   carcheck_bench_rusage OUT.json CMD [ARG...]
//
// Why not measure from the harness (Python) directly: on Linux a process's ru_maxrss starts
// at the resident size of the process it was forked from (the high-water mark survives
// fork + exec), so every program started by Python would report at least Python's ~17 MiB.
// This launcher is small; the command is forked from it, so its peak RSS is its own (plus at
// most this launcher's ~1-2 MiB, the same for every client measured). The command's stdout
// and stderr are inherited; the figures go to OUT.json. Exit status: the command's.
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

int main(int argc, char** argv)
{
    if (argc < 3) {
        std::fprintf(stderr, "usage: %s OUT.json CMD [ARG...]\n", argv[0]);
        return 2;
    }
    timespec t0{}, t1{};
    clock_gettime(CLOCK_MONOTONIC, &t0);
    const pid_t pid = fork();
    if (pid < 0) {
        std::perror("fork");
        return 2;
    }
    if (pid == 0) {
        execvp(argv[2], argv + 2);
        std::fprintf(stderr, "cannot run %s: %s\n", argv[2], std::strerror(errno));
        _exit(127);
    }
    int status = 0;
    rusage ru{};
    while (wait4(pid, &status, 0, &ru) < 0) {
        if (errno != EINTR) {
            std::perror("wait4");
            return 2;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    const double wall = static_cast<double>(t1.tv_sec - t0.tv_sec) + static_cast<double>(t1.tv_nsec - t0.tv_nsec) / 1e9;
    auto secs = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (FILE* f = std::fopen(argv[1], "w")) {
        std::fprintf(f, "{\"wall_s\":%.6f,\"user_s\":%.6f,\"sys_s\":%.6f,\"maxrss_kib\":%ld,\"exit\":%d}\n", wall,
                     secs(ru.ru_utime), secs(ru.ru_stime), ru.ru_maxrss, code);
        std::fclose(f);
    }
    return code;
}
