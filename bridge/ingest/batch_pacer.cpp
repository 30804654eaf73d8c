#include "batch_pacer.hpp"

#include <cmath>

namespace mqchat::bridge {

namespace {
constexpr double rate_window_s = 0.1; // the arrival rate's averaging time
constexpr double call_weight = 1.0 / 16;
} // namespace

batch_pacer::batch_pacer(std::chrono::microseconds linger, std::size_t enough) : linger_(linger), enough_(enough) {}

void batch_pacer::took(std::size_t messages, clock::time_point now) {
    if (last_take_ == clock::time_point{}) {
        last_take_ = now;
        return;
    }
    const double dt = std::chrono::duration<double>(now - last_take_).count();
    last_take_ = now;
    if (dt <= 0) {
        // Two takes in the same instant: count the messages toward the next interval's rate.
        rate_per_s_ += static_cast<double>(messages) / rate_window_s;
        return;
    }
    // An exponential average in time: an interval of dt weighs 1 - e^(-dt/window).
    const double weight = 1 - std::exp(-dt / rate_window_s);
    rate_per_s_ += weight * (static_cast<double>(messages) / dt - rate_per_s_);
}

void batch_pacer::stored(clock::duration duration) {
    const double s = std::chrono::duration<double>(duration).count();
    call_s_ = call_s_ == 0 ? s : call_s_ + call_weight * (s - call_s_);
}

batch_pacer::clock::time_point batch_pacer::wait_until(std::size_t size, clock::time_point first) const {
    if (linger_.count() <= 0 || size == 0 || size >= enough_) return {};
    if (rate_per_s_ * call_s_ < 1) return {}; // the store keeps up: no waiting
    return first + linger_;
}

} // namespace mqchat::bridge
