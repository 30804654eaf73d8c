#include "blobs.hpp"

#include <algorithm>
#include <vector>

namespace mqchat::media {

namespace {
void lock_blob(pg::connection& db, const std::string& sha256) {
    db.exec("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", {sha256});
}
} // namespace

bool commit_ready(pg::connection& db, storage& store, const std::string& id, const ready_fields& f) {
    std::vector<std::pair<std::string, std::filesystem::path>> blobs{{f.sha256, f.stored}};
    if (!f.thumb_sha256.empty() && f.thumb_sha256 != f.sha256) blobs.emplace_back(f.thumb_sha256, f.thumb);
    std::sort(blobs.begin(), blobs.end()); // one order for every taker: no deadlock between two uploads
    return pg::transaction(db, [&] {
        for (const auto& [sha, file] : blobs) {
            lock_blob(db, sha);
            // The sweeper may have removed the same bytes between our put and this lock.
            if (!store.exists(sha)) store.put(file, sha);
        }
        const auto r = db.exec(
            "UPDATE media SET status = 'ready', mime = $2, size = $3, width = $4, height = $5, sha256 = $6,"
            "       thumb_sha256 = $7, thumb_mime = $8, ready_at = now()"
            " WHERE id = $1 AND status = 'receiving' RETURNING id",
            {id, f.mime, std::to_string(f.size),
             f.width > 0 ? std::optional<std::string>(std::to_string(f.width)) : std::nullopt,
             f.height > 0 ? std::optional<std::string>(std::to_string(f.height)) : std::nullopt, f.sha256,
             f.thumb_sha256.empty() ? std::nullopt : std::optional<std::string>(f.thumb_sha256),
             f.thumb_sha256.empty() ? std::nullopt : std::optional<std::string>(f.thumb_mime)});
        return r.rows() == 1;
    });
}

bool collect_blob(pg::connection& db, storage& store, const std::string& sha256) {
    return pg::transaction(db, [&] {
        lock_blob(db, sha256);
        const auto r = db.exec("SELECT EXISTS (SELECT 1 FROM media WHERE sha256 = $1)"
                               "    OR EXISTS (SELECT 1 FROM media WHERE thumb_sha256 = $1)",
                               {sha256});
        if (r.boolean(0, 0)) return false;
        store.remove(sha256); // under the lock: no upload of these bytes can commit meanwhile
        return true;
    });
}

} // namespace mqchat::media
