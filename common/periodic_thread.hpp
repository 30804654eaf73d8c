#pragma once
/// A thread that runs a round of work every `interval`, from the start of
/// one round to the start of the next, until its owner is destroyed: the
/// daemons' background jobs that each keep a database connection of their
/// own (the bridge's retention job and search indexer). The first round
/// runs at once. A round that pauses within calls wait(), which returns
/// early, false, once the thread is asked to stop.
///
/// Declare it as its owner's last member: it is destroyed first, so the
/// thread has stopped before anything its rounds use goes away.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace mqchat {

class periodic_thread {
public:
    explicit periodic_thread(std::chrono::milliseconds interval) : interval_(interval) {}
    /// Asks the thread to stop and joins it (a round in progress finishes first).
    ~periodic_thread();
    periodic_thread(const periodic_thread&) = delete;
    periodic_thread& operator=(const periodic_thread&) = delete;

    /// Starts the thread running `round`. Once only (std::logic_error).
    void start(std::function<void()> round);
    /// Sleeps up to `d`; false when asked to stop.
    bool wait(std::chrono::milliseconds d);

private:
    const std::chrono::milliseconds interval_;
    std::mutex mutex_;
    std::condition_variable wake_;
    bool stop_ = false;
    std::thread thread_;
};

} // namespace mqchat
