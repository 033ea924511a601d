#include "read_ahead.hpp"

#include <fcntl.h>
#include <unistd.h>

namespace carcheck_cli {

void fetch_into_page_cache(const std::string& path)
{
    // O_NONBLOCK: a FIFO among the inputs must not block this thread (the request rejects it).
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return;
    (void)::posix_fadvise(fd, 0, 0, POSIX_FADV_WILLNEED);
    ::close(fd);
}

read_ahead::read_ahead(std::vector<std::string> paths, std::size_t window, fetch_function fetch)
    : window_(window == 0 ? 1 : window), fetch_(fetch ? std::move(fetch) : fetch_function(fetch_into_page_cache)),
      paths_(std::make_move_iterator(paths.begin()), std::make_move_iterator(paths.end()))
{
    thread_ = std::thread([this] { run(); });
}

read_ahead::~read_ahead()
{
    {
        std::lock_guard lock(mu_);
        stop_ = true;
    }
    cv_.notify_one();
    thread_.join();
}

void read_ahead::advance(std::size_t taken)
{
    // Sequentially consistent, with the same in run(): of "store taken_, then read wake_at_"
    // here and "store wake_at_, then read taken_" there, at least one sees the other's store.
    taken_.store(taken);
    if (taken >= wake_at_.load()) {
        // Under the mutex: the thread checks taken_ and goes to sleep under it too, so the
        // wake-up cannot fall between the two.
        std::lock_guard lock(mu_);
        cv_.notify_one();
    }
}

void read_ahead::add(std::string path)
{
    std::lock_guard lock(mu_);
    paths_.push_back(std::move(path));
    if (waiting_for_paths_)
        cv_.notify_one();
}

void read_ahead::run()
{
    for (std::size_t next = 0;; ++next) {
        {
            // Drop what this thread has passed; wait for the next path to be added.
            std::unique_lock lock(mu_);
            for (;;) {
                while (first_ < next && !paths_.empty()) {
                    paths_.pop_front();
                    ++first_;
                }
                if (stop_)
                    return;
                // Behind the batch (a slow disk): the files already taken are being read anyway.
                if (const std::size_t taken = taken_.load(); next < taken) {
                    if (const std::size_t skip = std::min(taken, first_ + paths_.size()) - next) {
                        fetched_.fetch_add(skip, std::memory_order_relaxed);
                        next += skip;
                        continue;
                    }
                }
                if (next < first_ + paths_.size())
                    break;
                waiting_for_paths_ = true;
                cv_.wait(lock);
                waiting_for_paths_ = false;
            }
        }
        if (next >= taken_.load() + window_) {
            // A full window ahead: sleep until the batch has used half of it, so the
            // batch wakes this thread once per half window rather than once per file.
            std::unique_lock lock(mu_);
            const std::size_t resume = next - window_ / 2;
            wake_at_.store(resume);
            cv_.wait(lock, [&] { return stop_ || taken_.load() >= resume; });
            wake_at_.store(not_waiting);
            if (stop_)
                return;
        } else {
            std::lock_guard lock(mu_);
            if (stop_)
                return;
        }
        std::string path;
        {
            std::lock_guard lock(mu_);
            if (next < first_ + paths_.size())
                path = paths_[next - first_];
        }
        if (!path.empty())
            fetch_(path);
        fetched_.fetch_add(1, std::memory_order_relaxed);
    }
}

} // namespace carcheck_cli
