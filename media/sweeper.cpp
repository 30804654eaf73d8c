#include "sweeper.hpp"

#include <chrono>
#include <set>
#include <vector>

#include "blobs.hpp"
#include "common/log.hpp"

namespace mqchat::media {

sweeper::sweeper(service& svc) : svc_(svc) {
    if (svc_.config.sweep_interval_s > 0) thread_ = std::thread([this] { run(); });
}

sweeper::~sweeper() {
    {
        std::lock_guard lock(mutex_);
        stop_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
}

sweeper::result sweeper::sweep_once() {
    result out;
    std::set<std::string> blobs;
    const std::string ttl = std::to_string(svc_.config.orphan_ttl_s);
    const std::string batch = std::to_string(svc_.config.sweep_batch);
    for (;;) {
        const auto removed = svc_.db.with([&](pg::connection& db) {
            return db.exec(
                "WITH gone AS ("
                "  SELECT id FROM media m"
                "   WHERE (m.seq IS NULL AND m.created_at < now() - make_interval(secs => $1::int))"
                "      OR m.conv_id IS NULL"
                "      OR (m.seq IS NOT NULL AND NOT EXISTS (SELECT 1 FROM messages x"
                "           WHERE x.conv_id = m.conv_id AND x.seq = m.seq AND NOT x.deleted))"
                "   LIMIT $2::int FOR UPDATE SKIP LOCKED)"
                " DELETE FROM media m USING gone WHERE m.id = gone.id"
                " RETURNING m.sha256, m.thumb_sha256",
                {ttl, batch});
        });
        for (int i = 0; i < removed.rows(); ++i)
            for (int col : {0, 1})
                if (!removed.is_null(i, col)) blobs.insert(removed.str(i, col));
        out.rows += static_cast<std::uint64_t>(removed.rows());
        if (removed.rows() < svc_.config.sweep_batch) break;
    }
    for (const auto& sha : blobs)
        if (svc_.db.with([&](pg::connection& db) { return collect_blob(db, svc_.store, sha); })) ++out.blobs;
    svc_.metrics.swept_.with({"rows"}).inc(out.rows);
    svc_.metrics.swept_.with({"blobs"}).inc(out.blobs);
    if (out.rows > 0 || out.blobs > 0)
        log::info() << "swept " << out.rows << " uploads and " << out.blobs << " blobs (" << svc_.store.describe() << ")";
    return out;
}

std::uint64_t sweeper::walk_once() {
    // Candidates: blobs older than orphan_ttl_s (an upload being checked has
    // its blob stored before its row names it). Asked of the database a page
    // at a time; each one no row names is then removed under its lock, which
    // looks again (collect_blob), so an upload of the same bytes meanwhile keeps it.
    const std::int64_t before =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count() -
        svc_.config.orphan_ttl_s;
    std::vector<std::string> old, page;
    std::uint64_t removed = 0;
    const auto check = [&] {
        if (page.empty()) return;
        const auto unnamed = svc_.db.with([&](pg::connection& db) {
            return db.exec("SELECT b FROM unnest($1::text[]) b WHERE NOT EXISTS"
                           " (SELECT 1 FROM media m WHERE m.sha256 = b) AND NOT EXISTS"
                           " (SELECT 1 FROM media m WHERE m.thumb_sha256 = b)",
                           {pg::text_array(page)});
        });
        for (int i = 0; i < unnamed.rows(); ++i) old.push_back(unnamed.str(i, 0));
        page.clear();
    };
    svc_.store.walk([&](const std::string& sha, std::int64_t written) {
        if (written > before) return;
        page.push_back(sha);
        if (page.size() >= static_cast<std::size_t>(svc_.config.sweep_batch)) check();
    });
    check();
    for (const auto& sha : old)
        if (svc_.db.with([&](pg::connection& db) { return collect_blob(db, svc_.store, sha); })) ++removed;
    svc_.metrics.swept_.with({"unnamed_blobs"}).inc(removed);
    if (removed > 0)
        log::info() << "walked storage: removed " << removed << " blobs no upload names (" << svc_.store.describe()
                    << ")";
    return removed;
}

void sweeper::run() {
    std::unique_lock lock(mutex_);
    auto next_walk = std::chrono::steady_clock::now() + std::chrono::seconds(svc_.config.blob_walk_interval_s);
    while (!stop_) {
        lock.unlock();
        try {
            sweep_once();
            if (svc_.config.blob_walk_interval_s > 0 && std::chrono::steady_clock::now() >= next_walk) {
                next_walk = std::chrono::steady_clock::now() + std::chrono::seconds(svc_.config.blob_walk_interval_s);
                walk_once();
            }
        } catch (const std::exception& e) {
            svc_.metrics.sweep_errors.inc();
            log::warning() << "sweep failed, next round in " << svc_.config.sweep_interval_s << " s: " << e.what();
        }
        lock.lock();
        wake_.wait_for(lock, std::chrono::seconds(svc_.config.sweep_interval_s), [this] { return stop_; });
    }
}

} // namespace mqchat::media
