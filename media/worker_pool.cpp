#include "worker_pool.hpp"

namespace mqchat::media {

worker_pool::worker_pool(int threads, std::size_t queue_max) : queue_max_(queue_max) {
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { run(); });
}

worker_pool::~worker_pool() {
    {
        std::lock_guard lock(mutex_);
        stop_ = true;
    }
    wake_.notify_all();
    for (auto& t : threads_) t.join();
}

bool worker_pool::try_submit(std::function<void()> job) {
    {
        std::lock_guard lock(mutex_);
        if (jobs_.size() >= queue_max_) return false;
        jobs_.push_back(std::move(job));
    }
    wake_.notify_one();
    return true;
}

std::size_t worker_pool::queued() const {
    std::lock_guard lock(mutex_);
    return jobs_.size();
}

void worker_pool::run() {
    for (;;) {
        std::function<void()> job;
        {
            std::unique_lock lock(mutex_);
            wake_.wait(lock, [this] { return stop_ || !jobs_.empty(); });
            if (jobs_.empty()) return;
            job = std::move(jobs_.front());
            jobs_.pop_front();
        }
        job(); // jobs catch their own exceptions
    }
}

} // namespace mqchat::media
