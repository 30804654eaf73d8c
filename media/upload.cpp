#include "upload.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <json/json.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <future>

#include "blobs.hpp"
#include "common/hmac.hpp"
#include "common/json.hpp"
#include "common/log.hpp"
#include "common/media_url.hpp"
#include "inspect/inspect.hpp"

namespace mqchat::media {

namespace fs = std::filesystem;

namespace {

int refusal_status(std::string_view code) {
    if (code == refusal::too_large) return 413;
    if (code == refusal::type_not_allowed || code == refusal::type_mismatch) return 415;
    if (code == refusal::scan_unavailable) return 503;
    return 422;
}

std::string finish_hash(crypto_hash_sha256_state& state) {
    unsigned char digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_final(&state, digest);
    return hex(digest, sizeof digest);
}

/// SHA-256 of a file, lowercase hex.
std::string hash_file(const fs::path& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw storage_error("cannot open " + path.string() + ": " + std::strerror(errno));
    crypto_hash_sha256_state state;
    crypto_hash_sha256_init(&state);
    std::vector<unsigned char> buffer(1 << 16);
    for (;;) {
        const ssize_t got = ::read(fd, buffer.data(), buffer.size());
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) {
            ::close(fd);
            throw storage_error("cannot read " + path.string() + ": " + std::strerror(errno));
        }
        if (got == 0) break;
        crypto_hash_sha256_update(&state, buffer.data(), static_cast<unsigned long long>(got));
    }
    ::close(fd);
    return finish_hash(state);
}

std::uint64_t size_of(const fs::path& p) {
    std::error_code ec;
    const auto n = fs::file_size(p, ec);
    if (ec) throw storage_error("cannot stat " + p.string() + ": " + ec.message());
    return n;
}

} // namespace

std::unique_ptr<upload_session> upload_session::begin(service& svc, const std::string& id, const std::string& exp,
                                                      const std::string& sig,
                                                      std::optional<std::uint64_t> content_length, reply& early) {
    const auto refuse_early = [&](int status, std::string_view code, const std::string& message) {
        early = error_reply(status, code, message);
        svc.metrics.upload(code);
        log::info() << "upload " << id << ": " << code;
        return nullptr;
    };
    switch (media_url::verify(svc.config.url_secret, media_url::upload, id, exp, sig, unix_now())) {
    case media_url::check::bad_signature:
        return refuse_early(403, "bad_signature", "the upload URL's signature does not match");
    case media_url::check::expired:
        return refuse_early(403, "expired", "the upload URL has expired: ask for a new one");
    case media_url::check::ok:
        break;
    }
    if (svc.workers.full()) {
        early = error_reply(503, "overloaded", "too many uploads are waiting to be checked: try again shortly");
        early.headers.emplace_back("Retry-After", "5");
        svc.metrics.upload("overloaded");
        return nullptr;
    }
    row r;
    try {
        const bool taken = svc.db.with([&](pg::connection& db) {
            const auto got = db.exec(
                "UPDATE media SET status = 'receiving'"
                " WHERE id = $1 AND status = 'pending' AND upload_expires_at > now()"
                " RETURNING declared_name, declared_type, declared_size, max_bytes, array_to_json(allowed_types)::text,"
                "           encrypted",
                {id});
            if (got.rows() == 1) {
                r.declared_name = got.str(0, 0);
                r.declared_type = got.str(0, 1);
                r.declared_size = static_cast<std::uint64_t>(got.int64(0, 2));
                r.max_bytes = static_cast<std::uint64_t>(got.int64(0, 3));
                Json::Value types;
                std::string error;
                if (json::parse(got.text(0, 4), types, error) && types.isArray())
                    for (const auto& t : types)
                        if (t.isString()) r.allowed_types.push_back(t.asString());
                r.encrypted = got.boolean(0, 5);
                return true;
            }
            return false;
        });
        if (!taken) {
            const bool exists = svc.db.with([&](pg::connection& db) {
                return db.exec("SELECT 1 FROM media WHERE id = $1", {id}).rows() == 1;
            });
            return exists ? refuse_early(409, "already_used", "this upload URL was used already, or has expired")
                          : refuse_early(404, "not_found", "no such upload");
        }
    } catch (const pg::error& e) {
        log::warning() << "upload " << id << ": database: " << e.what();
        early = error_reply(503, "unavailable", "the media service cannot reach its database: try again shortly");
        early.headers.emplace_back("Retry-After", "5");
        svc.metrics.upload("unavailable");
        return nullptr;
    }
    std::unique_ptr<upload_session> s(new upload_session(svc, id, std::move(r)));
    if (content_length && *content_length > s->row_.max_bytes) {
        s->refuse(refusal::too_large, "the file is " + std::to_string(*content_length) + " bytes; at most " +
                                          std::to_string(s->row_.max_bytes) + " are allowed");
        early = std::move(s->refusal_);
        return nullptr;
    }
    s->fd_ = ::open(s->file_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (s->fd_ < 0) {
        log::error() << "upload " << id << ": cannot create " << s->file_.string() << ": " << std::strerror(errno);
        s->give_back();
        early = error_reply(503, "unavailable", "the media service cannot store uploads now: try again shortly");
        early.headers.emplace_back("Retry-After", "30");
        return nullptr;
    }
    return s;
}

upload_session::upload_session(service& svc, std::string id, row r)
    : svc_(svc), id_(std::move(id)), row_(std::move(r)), file_(svc.tmp_dir / (id_ + ".upload")),
      workdir_(svc.tmp_dir / (id_ + ".work")) {
    crypto_hash_sha256_init(&hash_);
}

upload_session::~upload_session() {
    if (!done_) abort();
    if (fd_ >= 0) ::close(fd_);
    std::error_code ec;
    fs::remove(file_, ec);
    fs::remove_all(workdir_, ec);
}

bool upload_session::write(const char* data, std::size_t size) {
    if (done_) return false;
    svc_.metrics.received_bytes.inc(size);
    if (received_ + size > row_.max_bytes) {
        refuse(refusal::too_large, "more than the " + std::to_string(row_.max_bytes) + " bytes allowed");
        return false;
    }
    crypto_hash_sha256_update(&hash_, reinterpret_cast<const unsigned char*>(data), size);
    received_ += size;
    while (size > 0) {
        const ssize_t put = ::write(fd_, data, size);
        if (put < 0 && errno == EINTR) continue;
        if (put <= 0) {
            log::error() << "upload " << id_ << ": cannot write " << file_.string() << ": " << std::strerror(errno);
            give_back();
            refusal_ = error_reply(503, "unavailable", "the media service cannot store uploads now: try again shortly");
            refusal_.headers.emplace_back("Retry-After", "30");
            return false;
        }
        data += put;
        size -= static_cast<std::size_t>(put);
    }
    return true;
}

void upload_session::abort() {
    if (done_) return;
    // The body ended early: the client gave up or the connection broke.
    // Refused rather than kept (no resumable uploads): the client asks for a new URL.
    refuse(refusal::truncated, "the upload ended after " + std::to_string(received_) + " of " +
                                   std::to_string(row_.declared_size) + " bytes");
}

reply upload_session::finish() {
    if (done_) return std::move(refusal_);
    ::close(fd_);
    fd_ = -1;
    if (received_ == 0) return refuse(refusal::empty, "the upload has no bytes");
    if (received_ < row_.declared_size)
        return refuse(refusal::truncated, "the upload has " + std::to_string(received_) + " of the " +
                                              std::to_string(row_.declared_size) + " bytes declared");
    upload_sha256_ = finish_hash(hash_);
    const auto received_at = std::chrono::steady_clock::now();
    auto done = std::make_shared<std::promise<reply>>();
    std::future<reply> answer = done->get_future();
    const bool queued = svc_.workers.try_submit([this, done] {
        try {
            done->set_value(process());
        } catch (...) {
            done->set_exception(std::current_exception());
        }
    });
    if (!queued) {
        give_back();
        reply r = error_reply(503, "overloaded", "too many uploads are waiting to be checked: try again shortly");
        r.headers.emplace_back("Retry-After", "5");
        svc_.metrics.upload("overloaded");
        return r;
    }
    reply r = answer.get();
    svc_.metrics.upload_seconds.observe(metrics::seconds_since(received_at));
    return r;
}

reply upload_session::process() {
    try {
        if (row_.encrypted) return store_unread();
        inspect_policy policy;
        policy.max_bytes = row_.max_bytes;
        policy.allowed_types = row_.allowed_types;
        policy.max_pixels = svc_.config.max_pixels;
        policy.thumb_max_side = svc_.config.thumb_max_side;
        policy.jpeg_quality = svc_.config.jpeg_quality;
        fs::create_directories(workdir_);
        const auto started = std::chrono::steady_clock::now();
        const inspection seen = inspect(file_, row_.declared_name, row_.declared_type, policy, workdir_);
        svc_.metrics.inspect_seconds.observe(metrics::seconds_since(started));
        if (!seen.ok()) return refuse(seen.refusal, seen.message);

        const fs::path stored = seen.stored.empty() ? file_ : seen.stored;
        if (!svc_.config.clamd.empty()) {
            const scan_result scan = clamd_scan(
                stored, clamd_settings{svc_.config.clamd, svc_.config.clamd_timeout_ms, svc_.config.clamd_fail_closed});
            if (scan.outcome == scan_result::verdict::infected)
                return refuse(refusal::infected, "the virus scanner found " + scan.detail);
            if (scan.outcome == scan_result::verdict::unavailable) {
                if (svc_.config.clamd_fail_closed)
                    return refuse(refusal::scan_unavailable, "the virus scanner is unavailable; ask for a new upload URL and try again later");
                log::warning() << "upload " << id_ << ": stored unscanned, the scanner is unavailable (" << scan.detail
                               << ")";
            }
        }

        ready_fields f;
        f.stored = stored;
        f.mime = seen.stored_mime.empty() ? seen.mime : seen.stored_mime;
        f.size = size_of(stored);
        f.width = seen.width;
        f.height = seen.height;
        f.sha256 = fs::equivalent(stored, file_) ? upload_sha256_ : hash_file(stored);
        svc_.store.put(stored, f.sha256);
        if (!seen.thumb.empty()) {
            f.thumb = seen.thumb;
            f.thumb_mime = seen.thumb_mime;
            f.thumb_sha256 = hash_file(seen.thumb);
            svc_.store.put(seen.thumb, f.thumb_sha256);
        }
        const bool marked = svc_.db.with([&](pg::connection& db) { return commit_ready(db, svc_.store, id_, f); });
        if (!marked) {
            // The row went away meanwhile (swept): nothing may keep our blobs.
            svc_.db.with([&](pg::connection& db) {
                collect_blob(db, svc_.store, f.sha256);
                if (!f.thumb_sha256.empty()) collect_blob(db, svc_.store, f.thumb_sha256);
            });
            done_ = true;
            outcome("not_found", "the upload's row was removed while it was checked");
            return error_reply(404, "not_found", "this upload was withdrawn while it was checked");
        }
        done_ = true;
        outcome("stored", std::to_string(f.size) + " bytes " + f.mime + (f.thumb_sha256.empty() ? "" : ", thumbnail"));
        Json::Value v;
        v["media"] = id_;
        v["mime"] = f.mime;
        v["size"] = static_cast<Json::UInt64>(f.size);
        if (f.width > 0) v["width"] = f.width;
        if (f.height > 0) v["height"] = f.height;
        v["thumb"] = !f.thumb_sha256.empty();
        return json_reply(200, json::write(v));
    } catch (const std::exception& e) {
        // Our failure, not the file's: the row goes back to pending so the same URL can be tried again.
        log::error() << "upload " << id_ << ": " << e.what();
        give_back();
        outcome("error");
        reply r = error_reply(503, "unavailable", "the media service could not store the file: try again shortly");
        r.headers.emplace_back("Retry-After", "30");
        return r;
    }
}

reply upload_session::store_unread() {
    // An end-to-end encrypted conversation's file: ciphertext, which no check can read (its size
    // was held to the grant while it arrived). Stored as it came, as bytes, with no thumbnail.
    ready_fields f;
    f.stored = file_;
    f.mime = "application/octet-stream";
    f.size = received_;
    f.sha256 = upload_sha256_;
    svc_.store.put(file_, f.sha256);
    const bool marked = svc_.db.with([&](pg::connection& db) { return commit_ready(db, svc_.store, id_, f); });
    if (!marked) {
        svc_.db.with([&](pg::connection& db) { collect_blob(db, svc_.store, f.sha256); });
        done_ = true;
        outcome("not_found", "the upload's row was removed while it was stored");
        return error_reply(404, "not_found", "this upload was withdrawn while it was stored");
    }
    done_ = true;
    outcome("stored", std::to_string(f.size) + " bytes, encrypted");
    Json::Value v;
    v["media"] = id_;
    v["mime"] = f.mime;
    v["size"] = static_cast<Json::UInt64>(f.size);
    v["encrypted"] = true;
    v["thumb"] = false;
    return json_reply(200, json::write(v));
}

reply upload_session::refuse(std::string_view code, const std::string& message) {
    done_ = true;
    try {
        svc_.db.with([&](pg::connection& db) {
            db.exec("UPDATE media SET status = 'refused', refusal = $2, refusal_message = $3"
                    " WHERE id = $1 AND status = 'receiving'",
                    {id_, std::string(code), message});
        });
    } catch (const pg::error& e) {
        log::warning() << "upload " << id_ << ": cannot record the refusal: " << e.what();
    }
    outcome(code, message);
    refusal_ = error_reply(refusal_status(code), code, message);
    return error_reply(refusal_status(code), code, message);
}

void upload_session::give_back() {
    done_ = true;
    try {
        svc_.db.with([&](pg::connection& db) {
            db.exec("UPDATE media SET status = 'pending' WHERE id = $1 AND status = 'receiving'", {id_});
        });
    } catch (const pg::error& e) {
        log::warning() << "upload " << id_ << ": cannot give the upload back: " << e.what();
    }
}

void upload_session::outcome(std::string_view what, const std::string& detail) {
    svc_.metrics.upload(what);
    log::info() << "upload " << id_ << ": " << what << " (" << received_ << " bytes received"
                << (detail.empty() ? "" : "; " + detail) << ")";
}

} // namespace mqchat::media
