#pragma once
/// Where the media service keeps the bytes: content-addressed blobs, the key
/// of each being the SHA-256 (lowercase hex) of its bytes, so the same bytes
/// uploaded twice are stored once. One implementation per file: local disk
/// (local_storage.hpp) and S3 (s3_storage.hpp). Every method is safe to call
/// from several threads at once; failures throw storage_error.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>

namespace mqchat::media {

struct storage_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// A blob being read, from `offset` for `length` bytes (a whole blob or a range).
class blob_reader {
public:
    virtual ~blob_reader() = default;
    /// Up to `n` bytes; 0 at the end. Throws storage_error when the storage fails midway.
    virtual std::size_t read(char* buffer, std::size_t n) = 0;
    /// A file descriptor positioned for sendfile (local disk), or -1.
    virtual int fd() const { return -1; }
    virtual std::uint64_t offset() const = 0;
    virtual std::uint64_t length() const = 0;
};

class storage {
public:
    virtual ~storage() = default;
    /// Stores `file` under `sha256`. Idempotent: a blob that exists is kept
    /// as it is. When it returns, the blob is durable under its name; a
    /// crash midway never leaves part of a blob under the name.
    virtual void put(const std::filesystem::path& file, const std::string& sha256) = 0;
    /// The blob's bytes from `offset`, `length` of them (length 0: to the
    /// end); nullptr when there is no such blob.
    virtual std::unique_ptr<blob_reader> open(const std::string& sha256, std::uint64_t offset = 0,
                                              std::uint64_t length = 0) = 0;
    virtual bool exists(const std::string& sha256) = 0;
    /// Removes the blob; removing one that is not there is not an error.
    virtual void remove(const std::string& sha256) = 0;
    /// Every blob in storage, with when it was written (seconds since the
    /// epoch): the sweeper's walk for blobs no row names (docs/media.md).
    virtual void walk(const std::function<void(const std::string& sha256, std::int64_t written)>& each) = 0;
    /// For /readyz: can a blob be written now? "" when yes, else why not.
    virtual std::string probe() = 0;
    /// "disk /var/lib/…", "s3 http://…/bucket": for logs.
    virtual std::string describe() const = 0;
};

/// 64 lowercase hex digits.
bool valid_sha256(const std::string& key);

} // namespace mqchat::media
