#include "password_checker.hpp"

#include <sodium.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/password.hpp"

namespace mqchat::plugin {

password_checker::password_checker(int threads, std::size_t max_queued, worker_status& status,
                                   std::function<void()> on_news)
    : max_queued_(max_queued), status_(status), on_news_(std::move(on_news)) {
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { run(); });
}

password_checker::~password_checker() {
    {
        std::lock_guard lock(mutex_);
        stop_ = true;
    }
    work_cv_.notify_all();
    for (auto& t : threads_) t.join(); // a check takes milliseconds: joining is quick
}

bool password_checker::submit(std::string user, std::string password, std::string stored_hash, std::string digest) {
    std::lock_guard lock(mutex_);
    if (in_hand_.count(digest)) return true;
    if (stop_ || queue_.size() >= max_queued_) return false;
    in_hand_.insert(digest);
    status_.password_checks.store(static_cast<std::int64_t>(in_hand_.size()), std::memory_order_release);
    queue_.push_back({{std::move(user), std::move(stored_hash), std::move(digest), false}, std::move(password)});
    work_cv_.notify_one();
    return true;
}

std::vector<password_verdict> password_checker::take() {
    std::vector<password_verdict> out;
    std::lock_guard lock(mutex_);
    out.swap(verdicts_);
    return out;
}

void password_checker::run() {
    // The lowest priority: on Linux a thread's nice value is its own. When
    // the cores are busy, the broker's thread (and everyone it serves) goes
    // first; a storm of first logins takes longer, nobody else waits for it.
    setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), 19);
    while (true) {
        job j;
        {
            std::unique_lock lock(mutex_);
            work_cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
            if (stop_) return;
            j = std::move(queue_.front());
            queue_.pop_front();
        }
        j.v.good = password::verify(j.v.stored_hash, j.password);
        sodium_memzero(j.password.data(), j.password.size());
        {
            std::lock_guard lock(mutex_);
            in_hand_.erase(j.v.digest);
            status_.password_idle_since_ns.store(worker_status::now_ns(), std::memory_order_release);
            status_.password_checks.store(static_cast<std::int64_t>(in_hand_.size()), std::memory_order_release);
            verdicts_.push_back(std::move(j.v));
        }
        on_news_();
    }
}

} // namespace mqchat::plugin
