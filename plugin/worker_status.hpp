#pragma once
/// What the worker process (worker_process.hpp) says about itself without a
/// message: a few atomics in a page of memory shared by the broker and the
/// worker process, read by the broker's thread with plain loads.
///
/// Lock-free atomics are plain memory operations, so they work across the
/// two processes; times are CLOCK_MONOTONIC (steady_clock), which is the same
/// clock in both.

#include <atomic>
#include <chrono>
#include <cstdint>

namespace mqchat::plugin {

struct worker_status {
    /// Set by the worker process after each write to its pipe, cleared by
    /// the broker's thread before it reads: "there is something to read".
    /// Read in every callback, so it has a cache line of its own: the
    /// worker process's busy figures below change it during a login storm.
    alignas(64) std::atomic<bool> news{false};
    /// The directory worker is connected and following changes.
    alignas(64) std::atomic<bool> directory_healthy{false};
    /// Start of the lookup batch under way (steady_clock nanoseconds), or 0.
    std::atomic<std::int64_t> lookup_busy_since_ns{0};
    /// Password checks queued or running in the worker process.
    std::atomic<std::int64_t> password_checks{0};
    /// When the last password check ended (steady_clock nanoseconds), or 0.
    std::atomic<std::int64_t> password_idle_since_ns{0};

    static std::int64_t now_ns() {
        return std::chrono::duration_cast<std::chrono::nanoseconds>(
                   std::chrono::steady_clock::now().time_since_epoch())
            .count();
    }
};

static_assert(std::atomic<bool>::is_always_lock_free && std::atomic<std::int64_t>::is_always_lock_free,
              "worker_status is shared between processes: its atomics must be plain memory operations");

} // namespace mqchat::plugin
