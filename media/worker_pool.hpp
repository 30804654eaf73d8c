#pragma once
/// The threads that inspect and store uploads, behind a bounded queue: a
/// received upload waits here for a worker; when `queue_max` are already
/// waiting, try_submit() says no and the uploader is told to come back
/// (503 with Retry-After). Chat never waits on this: only the uploader of
/// each file does, for its own file.

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace mqchat::media {

class worker_pool {
public:
    worker_pool(int threads, std::size_t queue_max);
    ~worker_pool(); ///< finishes the jobs already queued, then joins
    worker_pool(const worker_pool&) = delete;
    worker_pool& operator=(const worker_pool&) = delete;

    /// False when the queue is full (the job is not taken).
    bool try_submit(std::function<void()> job);
    /// Jobs waiting for a worker (not those running).
    std::size_t queued() const;
    bool full() const { return queued() >= queue_max_; }

private:
    void run();

    const std::size_t queue_max_;
    mutable std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<std::function<void()>> jobs_;
    bool stop_ = false;
    std::vector<std::thread> threads_;
};

} // namespace mqchat::media
