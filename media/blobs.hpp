#pragma once
/// Blobs are shared: the same bytes uploaded twice are one blob that two
/// rows name. So a blob is removed only when no row refers to it, and that
/// check and a new upload of the same bytes must not interleave. Both take
/// `pg_advisory_xact_lock(hashtextextended(sha256, 0))` for each blob in
/// their transaction:
///  - an upload stores its blobs first, then in one transaction takes the
///    locks, puts back a blob the sweeper removed meanwhile, and marks its
///    row ready (commit_ready);
///  - the sweeper, per blob, takes the lock, looks for a row that refers to
///    it, and removes it from storage only when there is none, before the
///    commit releases the lock (collect_blob).
/// Whichever comes second sees the other's work.

#include <optional>
#include <string>

#include "common/pg.hpp"
#include "storage.hpp"

namespace mqchat::media {

struct ready_fields {
    std::string mime;
    std::uint64_t size = 0;
    int width = 0, height = 0;
    std::string sha256;
    std::filesystem::path stored;
    std::string thumb_sha256, thumb_mime; ///< empty: no thumbnail
    std::filesystem::path thumb;
};

/// Marks row `id` (status 'receiving') ready with `f`. False when the row
/// is no longer there or no longer receiving (swept meanwhile): the caller
/// then offers the blobs to collect_blob.
bool commit_ready(pg::connection& db, storage& store, const std::string& id, const ready_fields& f);

/// Removes blob `sha256` from storage unless a row refers to it (as
/// `sha256` or `thumb_sha256`). True when it was removed.
bool collect_blob(pg::connection& db, storage& store, const std::string& sha256);

} // namespace mqchat::media
