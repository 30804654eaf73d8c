#pragma once
/// When messages come in faster than the database stores one batch, the
/// store loop never rests: each transaction takes the one or two messages
/// that arrived during the last one, and PostgreSQL pays its fixed cost per
/// transaction (~0.2 ms: the statement, the function call, the lock and
/// counter, the commit) for each of them. On a shared machine that work is
/// what makes the others wait. The pacer lets such a small batch wait for
/// company, up to `linger` after its first message arrived, so that the same
/// messages take fewer, fuller transactions (docs/benchmarks.md, "Stored
/// chat at half the rate: fewer, fuller transactions").
///
/// It only does so while messages arrive faster than one per store call
/// (the arrival rate times the store call's time, both averaged over about
/// 100 ms, is at least 1): an idle or lightly loaded bridge stores every
/// message at once. A batch of `enough` messages never waits.
///
/// Plain arithmetic on the times it is given, so tests drive it with
/// made-up clocks.

#include <chrono>
#include <cstddef>

namespace mqchat::bridge {

class batch_pacer {
public:
    using clock = std::chrono::steady_clock;

    /// `linger` 0: never wait.
    batch_pacer(std::chrono::microseconds linger, std::size_t enough = 16);

    /// collect() took `messages` at `now` (0 when it waited and none came).
    void took(std::size_t messages, clock::time_point now);
    /// A store call took `duration`.
    void stored(clock::duration duration);

    /// Until when a batch of `size` messages, the first of which arrived at
    /// `first`, waits for more; clock::time_point{} when it goes now.
    clock::time_point wait_until(std::size_t size, clock::time_point first) const;

    double arrivals_per_s() const { return rate_per_s_; }
    double store_call_s() const { return call_s_; }

private:
    std::chrono::microseconds linger_;
    std::size_t enough_;
    clock::time_point last_take_{};
    double rate_per_s_ = 0; ///< messages per second, averaged over ~100 ms
    double call_s_ = 0;     ///< a store call's seconds, averaged over the last ~16 calls
};

} // namespace mqchat::bridge
