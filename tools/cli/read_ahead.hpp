#ifndef CARCHECK_CLI_READ_AHEAD_HPP
#define CARCHECK_CLI_READ_AHEAD_HPP

// Read-ahead of the image files a batch is about to send.
//
// The client reads image files with pread on the thread that runs the io_context. From the
// page cache that takes microseconds, but a folder of camera frames is often not cached, and
// then every open and read stalls the event loop (and every request in flight) for the
// disk's latency. This thread opens the next files first and asks the kernel to read them in
// (posix_fadvise WILLNEED), staying at most a window of files ahead of the requests, so the
// waiting happens here and the io thread finds the files cached.
//
// The batch discovers its inputs as it goes (stdin is streamed), so paths are added as they
// are found; the thread keeps only the paths it has not passed yet (memory: the window).

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <limits>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace carcheck_cli {

class read_ahead {
public:
    /// What is done to each file: by default open + posix_fadvise(WILLNEED) + close, errors
    /// ignored (the request reports them). Tests pass their own.
    using fetch_function = std::function<void(const std::string& path)>;

    /// Starts the thread over `paths` and those add() appends (fetched in order, empty names
    /// and paths the batch has already taken skipped), at most `window` (> 0) beyond the
    /// number the batch has taken.
    read_ahead(std::vector<std::string> paths, std::size_t window, fetch_function fetch = {});
    /// Stops the thread (at most one fetch later) and joins it.
    ~read_ahead();
    read_ahead(const read_ahead&) = delete;
    read_ahead& operator=(const read_ahead&) = delete;

    /// The batch has taken the first `taken` paths. Cheap: a store, and a wake-up only when
    /// the thread waits and half of its window has been used.
    void advance(std::size_t taken);

    /// Appends the next path (an empty one: an input that is not a local file).
    void add(std::string path);

    /// Paths dealt with so far: fetched, or passed over because the batch had taken them
    /// before this thread got to them.
    std::size_t fetched() const noexcept { return fetched_.load(std::memory_order_relaxed); }

private:
    void run();

    static constexpr std::size_t not_waiting = std::numeric_limits<std::size_t>::max();

    const std::size_t window_;
    const fetch_function fetch_;
    std::atomic<std::size_t> taken_{0};
    std::atomic<std::size_t> wake_at_{not_waiting}; // the thread sleeps until taken_ reaches this
    std::atomic<std::size_t> fetched_{0};
    std::mutex mu_;
    std::condition_variable cv_;
    bool stop_ = false;               // guarded by mu_
    std::deque<std::string> paths_;   // guarded by mu_: paths first_ .. first_ + size - 1
    std::size_t first_ = 0;           // guarded by mu_
    bool waiting_for_paths_ = false;  // guarded by mu_
    std::thread thread_;
};

/// open + posix_fadvise(WILLNEED) + close; errors ignored.
void fetch_into_page_cache(const std::string& path);

} // namespace carcheck_cli

#endif
