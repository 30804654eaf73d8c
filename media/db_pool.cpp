#include "db_pool.hpp"

namespace mqchat::media {

db_pool::db_pool(std::string conninfo, int size, std::string application_name)
    : conninfo_(std::move(conninfo)), application_name_(std::move(application_name)), size_(size) {}

db_pool::lease::~lease() {
    if (pool_ && c_) pool_->give_back(std::move(c_), broken_);
}

db_pool::lease db_pool::borrow(std::chrono::milliseconds wait) {
    std::unique_ptr<pg::connection> c;
    {
        std::unique_lock lock(mutex_);
        if (!freed_.wait_for(lock, wait, [this] { return !idle_.empty() || lent_ < size_; }))
            throw pg::broken_connection("all " + std::to_string(size_) + " database connections are busy");
        ++lent_;
        if (!idle_.empty()) {
            c = std::move(idle_.back());
            idle_.pop_back();
        }
    }
    if (c && !c->ok()) c.reset();
    if (!c) {
        try {
            c = std::make_unique<pg::connection>(conninfo_);
            c->exec("SET application_name = '" + application_name_ + "'");
            c->exec("SET jit = off");
            c->exec("SET statement_timeout = '30s'");
        } catch (...) {
            std::lock_guard lock(mutex_);
            --lent_;
            freed_.notify_one();
            throw;
        }
    }
    return lease(*this, std::move(c));
}

void db_pool::give_back(std::unique_ptr<pg::connection> c, bool broken) {
    std::lock_guard lock(mutex_);
    --lent_;
    if (!broken && c->ok()) idle_.push_back(std::move(c));
    freed_.notify_one();
}

} // namespace mqchat::media
