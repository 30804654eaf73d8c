#include "search_indexer.hpp"

#include <stdexcept>

#include "common/log.hpp"

namespace mqchat::bridge {

namespace {
std::chrono::milliseconds checked(std::chrono::milliseconds interval) {
    if (interval < std::chrono::milliseconds(1) || interval > std::chrono::seconds(60))
        throw std::invalid_argument("search index interval must be from 1 to 60000 ms, not " +
                                    std::to_string(interval.count()));
    return interval;
}
} // namespace

search_indexer::search_indexer(std::string conninfo, std::chrono::milliseconds interval)
    : conninfo_(std::move(conninfo)), interval_(checked(interval)), thread_(interval_) {}

search_indexer::~search_indexer() = default;

void search_indexer::start() { thread_.start([this] { round(); }); }

void search_indexer::round() {
    try {
        if (!db_) {
            db_ = std::make_unique<pg::connection>(conninfo_);
            db_->exec("SET application_name = 'mqchat-bridge-search-index'");
        }
        // One partition's list at a time, spread over the interval: the
        // whole merge at once was a burst of up to a tenth of a second of a
        // core every second (mqchat_flush_search_index_part.sql).
        for (int part = 0, parts = 1; part < parts; ++part) {
            if (part > 0 && !thread_.wait(interval_ / parts)) return;
            const auto r = db_->exec("SELECT pages, parts FROM mqchat_flush_search_index_part($1)", {std::to_string(part)});
            merged_pages_ += static_cast<std::uint64_t>(r.int64(0, 0));
            parts = static_cast<int>(r.int64(0, 1));
        }
        if (warned_) log::info() << "search index: merging new entries again";
        warned_ = false;
    } catch (const pg::error& e) {
        ++errors_;
        if (!warned_) log::warning() << "search index: database error (" << e.what() << "); retrying";
        warned_ = true;
        db_.reset();
    }
}

} // namespace mqchat::bridge
