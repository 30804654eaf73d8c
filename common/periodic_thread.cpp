#include "common/periodic_thread.hpp"

#include <algorithm>
#include <stdexcept>

namespace mqchat {

periodic_thread::~periodic_thread() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stop_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
}

void periodic_thread::start(std::function<void()> round) {
    if (thread_.joinable()) throw std::logic_error("periodic_thread started twice");
    thread_ = std::thread([this, round = std::move(round)] {
        for (;;) {
            const auto round_start = std::chrono::steady_clock::now();
            round();
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(round_start + interval_ -
                                                                                    std::chrono::steady_clock::now());
            if (!wait(std::max(left, std::chrono::milliseconds(0)))) return;
        }
    });
}

bool periodic_thread::wait(std::chrono::milliseconds d) {
    std::unique_lock<std::mutex> lock(mutex_);
    return !wake_.wait_for(lock, d, [this] { return stop_; });
}

} // namespace mqchat
