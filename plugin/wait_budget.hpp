#pragma once
/// How long the broker's thread may wait for the plugin's workers (a database
/// lookup, a password check): at most `per_second_ms` within any second, and
/// never more than that in one wait. 0: it never waits. Whatever the workers
/// cannot answer within it, the caller answers without them (a login is told
/// to come back, a lookup counts as undecided), so a slow database or a storm
/// of first logins costs other clients at most this share of the broker.
///
/// And once something had to be answered without waiting (`overflowed`), a
/// storm is on: nothing waits until it has been calm for two seconds. A
/// single first login in quiet times gets its verdict at once; in a storm the
/// broker's time goes to the clients already in, not to waiting.

#include <algorithm>
#include <chrono>

namespace mqchat::plugin {

class wait_budget {
public:
    using clock = std::chrono::steady_clock;

    explicit wait_budget(int per_second_ms) : per_second_(std::chrono::milliseconds(per_second_ms)), left_(per_second_) {}

    std::chrono::milliseconds per_second() const { return std::chrono::duration_cast<std::chrono::milliseconds>(per_second_); }

    /// The latest a wait starting `now` may last until (== now when nothing is
    /// left, or in a storm).
    clock::time_point deadline(clock::time_point now) {
        refill(now);
        if (now < calm_after_) return now;
        return now + std::chrono::duration_cast<clock::duration>(left_);
    }

    /// Something was answered without its worker's verdict at `now`.
    void overflowed(clock::time_point now) { calm_after_ = now + std::chrono::seconds(2); }

    /// Charges a wait that took `spent`.
    void spend(clock::duration spent) { left_ -= std::min(left_, std::chrono::duration_cast<std::chrono::microseconds>(spent)); }

private:
    void refill(clock::time_point now) {
        if (last_ == clock::time_point{}) last_ = now;
        const auto elapsed = std::min<std::chrono::microseconds>(
            std::chrono::seconds(1), std::chrono::duration_cast<std::chrono::microseconds>(now - last_));
        const auto earned = elapsed * per_second_.count() / 1000000;
        left_ = std::min<std::chrono::microseconds>(per_second_, left_ + earned);
        last_ = now;
    }

    const std::chrono::microseconds per_second_;
    std::chrono::microseconds left_;
    clock::time_point last_{};
    clock::time_point calm_after_{};
};

} // namespace mqchat::plugin
