#pragma once
/// Removes what no one will download again (docs/media.md, "Lifecycle"),
/// every sweep_interval_s, in batches of sweep_batch rows:
///  - uploads never finished or refused (pending, receiving, refused) and
///    uploads ready but taken by no message, older than orphan_ttl_s;
///  - uploads whose message was deleted or no longer exists (retention,
///    a user's data erased), or whose conversation is gone;
/// then the blobs (stored file, thumbnail) no remaining row refers to,
/// each under its advisory lock (blobs.hpp). And every
/// blob_walk_interval_s, a walk of storage itself for blobs older than
/// orphan_ttl_s that no row names — what a crash between storing a blob and
/// marking its row ready leaves. One log line per round that removed
/// something. Several services may sweep the same database: rows are taken
/// with SKIP LOCKED, blobs under their lock.

#include <condition_variable>
#include <mutex>
#include <thread>

#include "service.hpp"

namespace mqchat::media {

class sweeper {
public:
    explicit sweeper(service& svc); ///< starts its thread (none when sweep_interval_s is 0)
    ~sweeper();
    sweeper(const sweeper&) = delete;
    sweeper& operator=(const sweeper&) = delete;

    struct result {
        std::uint64_t rows = 0, blobs = 0;
    };
    /// One whole round, now, on the caller's thread.
    result sweep_once();
    /// The storage walk, now, on the caller's thread: the blobs removed.
    std::uint64_t walk_once();

private:
    void run();

    service& svc_;
    std::mutex mutex_;
    std::condition_variable wake_;
    bool stop_ = false;
    std::thread thread_;
};

} // namespace mqchat::media
