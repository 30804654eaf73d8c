#include "search_indexer.hpp"

#include <algorithm>
#include <memory>
#include <stdexcept>

#include "common/log.hpp"
#include "common/pg.hpp"

namespace mqchat::bridge {

search_indexer::search_indexer(std::string conninfo, std::chrono::milliseconds interval)
    : conninfo_(std::move(conninfo)), interval_(interval) {
    if (interval_ < std::chrono::milliseconds(1) || interval_ > std::chrono::seconds(60))
        throw std::invalid_argument("search index interval must be from 1 to 60000 ms, not " +
                                    std::to_string(interval_.count()));
}

search_indexer::~search_indexer() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stop_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
}

void search_indexer::start() {
    if (thread_.joinable()) throw std::logic_error("search_indexer started twice");
    thread_ = std::thread([this] { run(); });
}

bool search_indexer::wait(std::chrono::milliseconds d) {
    std::unique_lock<std::mutex> lock(mutex_);
    return !wake_.wait_for(lock, d, [this] { return stop_; });
}

void search_indexer::run() {
    std::unique_ptr<pg::connection> db;
    bool warned = false;
    for (;;) {
        const auto round_start = std::chrono::steady_clock::now();
        try {
            if (!db) {
                db = std::make_unique<pg::connection>(conninfo_);
                db->exec("SET application_name = 'mqchat-bridge-search-index'");
            }
            merged_pages_ += static_cast<std::uint64_t>(db->exec("SELECT mqchat_flush_search_index()").int64(0, 0));
            if (warned) log::info() << "search index: merging new entries again";
            warned = false;
        } catch (const pg::error& e) {
            ++errors_;
            if (!warned) log::warning() << "search index: database error (" << e.what() << "); retrying";
            warned = true;
            db.reset();
        }
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(round_start + interval_ -
                                                                                std::chrono::steady_clock::now());
        if (!wait(std::max(left, std::chrono::milliseconds(0)))) return;
    }
}

} // namespace mqchat::bridge
