#pragma once
/// `PUT /upload/{id}?exp=E&sig=S` (or POST with the raw body), one per
/// upload session (docs/media.md, "Uploading"):
///  1. begin(): the signature and expiry are checked, then the row is taken
///     (pending → receiving, single use) — all before a byte of the body is
///     read; a Content-Length beyond the row's max_bytes is refused here too;
///  2. write(): the body streams into a temp file while its SHA-256 is
///     computed; more than max_bytes stops it at once (413);
///  3. finish(): on a worker thread the file is inspected (and scanned),
///     stored content-addressed, and the row marked ready — or refused with
///     a code; the reply says which.
/// A session destroyed before finish() (the client went away) marks its row
/// refused `truncated` and leaves nothing behind.

#include <sodium.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "service.hpp"

namespace mqchat::media {

class upload_session {
public:
    /// Checks the URL and takes the row. Returns nullptr and fills `early`
    /// when the upload is refused before its body. `content_length` is the
    /// request's Content-Length when it has one.
    static std::unique_ptr<upload_session> begin(service& svc, const std::string& id, const std::string& exp,
                                                 const std::string& sig, std::optional<std::uint64_t> content_length,
                                                 reply& early);
    ~upload_session();
    upload_session(const upload_session&) = delete;
    upload_session& operator=(const upload_session&) = delete;

    /// Appends body bytes. False when the upload is refused (too large, a
    /// write error): the reply is then in `refused()`, and the rest of the
    /// body must not be read.
    bool write(const char* data, std::size_t size);
    reply& refused() { return refusal_; }
    /// The body is complete: inspects, stores and answers (blocks until done).
    reply finish();
    /// The connection ended before the body did.
    void abort();

private:
    struct row {
        std::string declared_name, declared_type;
        std::uint64_t declared_size = 0, max_bytes = 0;
        std::vector<std::string> allowed_types;
        /// Ciphertext from an end-to-end encrypted conversation: stored unread.
        bool encrypted = false;
    };
    upload_session(service& svc, std::string id, row r);
    /// On a worker: inspect, scan, store, mark ready.
    reply process();
    /// process() for ciphertext (row_.encrypted): store and mark ready, unread.
    reply store_unread();
    reply refuse(std::string_view code, const std::string& message);
    /// Gives the row back (receiving → pending): the same URL may be used again.
    void give_back();
    void outcome(std::string_view what, const std::string& detail = "");

    service& svc_;
    std::string id_;
    row row_;
    std::filesystem::path file_, workdir_;
    int fd_ = -1;
    std::uint64_t received_ = 0;
    crypto_hash_sha256_state hash_{};
    std::string upload_sha256_;
    bool done_ = false; ///< answered (stored, refused or given back): abort() has nothing to do
    reply refusal_;
};

} // namespace mqchat::media
