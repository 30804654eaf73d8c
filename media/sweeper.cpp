#include "sweeper.hpp"

#include <set>

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

void sweeper::run() {
    std::unique_lock lock(mutex_);
    while (!stop_) {
        lock.unlock();
        try {
            sweep_once();
        } catch (const std::exception& e) {
            svc_.metrics.sweep_errors.inc();
            log::warning() << "sweep failed, next round in " << svc_.config.sweep_interval_s << " s: " << e.what();
        }
        lock.lock();
        wake_.wait_for(lock, std::chrono::seconds(svc_.config.sweep_interval_s), [this] { return stop_; });
    }
}

} // namespace mqchat::media
