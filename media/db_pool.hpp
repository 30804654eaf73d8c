#pragma once
/// A few PostgreSQL connections shared by the HTTP threads and the workers:
/// a request borrows one for its statements and gives it back. Connections
/// are opened lazily and dropped when broken (the next borrower reconnects).
/// Bounded: when all are lent, a borrower waits up to `wait`, then gets
/// pg::broken_connection ("busy"), which the caller answers with 503.

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/pg.hpp"

namespace mqchat::media {

class db_pool {
public:
    db_pool(std::string conninfo, int size, std::string application_name);

    class lease {
    public:
        lease(db_pool& pool, std::unique_ptr<pg::connection> c) : pool_(&pool), c_(std::move(c)) {}
        ~lease();
        lease(lease&&) = default;
        lease(const lease&) = delete;
        pg::connection& operator*() { return *c_; }
        pg::connection* operator->() { return c_.get(); }
        /// The connection failed: close it instead of giving it back.
        void broken() { broken_ = true; }

    private:
        db_pool* pool_;
        std::unique_ptr<pg::connection> c_;
        bool broken_ = false;
    };

    /// Throws pg::broken_connection when the server cannot be reached or no
    /// connection frees up within `wait`.
    lease borrow(std::chrono::milliseconds wait = std::chrono::seconds(10));

    /// Runs `fn(connection&)`; a broken connection is dropped and the call
    /// tried once more on a fresh one.
    template <class Fn>
    auto with(Fn&& fn) {
        for (int attempt = 0;; ++attempt) {
            lease l = borrow();
            try {
                return fn(*l);
            } catch (const pg::broken_connection&) {
                l.broken();
                if (attempt > 0) throw;
            }
        }
    }

private:
    friend class lease;
    void give_back(std::unique_ptr<pg::connection> c, bool broken);

    std::string conninfo_, application_name_;
    int size_;
    std::mutex mutex_;
    std::condition_variable freed_;
    std::vector<std::unique_ptr<pg::connection>> idle_;
    int lent_ = 0;
};

} // namespace mqchat::media
