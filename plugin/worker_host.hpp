#pragma once
/// The worker process's own side (worker_process.hpp has the why): it runs
/// the directory worker, the lookup worker and the password threads as
/// they are, takes the broker's requests from its end of the request
/// socket, and sends what the workers find out down the news pipe.

#include <sys/types.h>

#include "worker_process.hpp"

namespace mqchat::plugin {

/// Runs in the child right after fork() and never returns: it detaches from
/// the broker's signals and descriptors, serves until the broker closes its
/// end of `requests_fd` (or dies), and ends the process.
[[noreturn]] void run_worker_process(const worker_settings& settings, worker_status& status, int requests_fd,
                                     int news_fd, pid_t broker);

} // namespace mqchat::plugin
