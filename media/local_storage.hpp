#pragma once
/// Blobs on local disk: `{dir}/blobs/ab/abcdef…` (the first two hex digits
/// as a directory, so no directory holds more than a 256th of them). A blob
/// is written to a temp file in its own directory, fsynced, renamed to its
/// name and the directory fsynced: a crash leaves either the whole blob or
/// a `.tmp-*` file, never half a blob under its name (leftover temp files
/// are removed at start).

#include <filesystem>

#include "storage.hpp"

namespace mqchat::media {

class local_storage : public storage {
public:
    /// Creates `{dir}/blobs` if needed and removes leftover temp files.
    explicit local_storage(std::filesystem::path dir);

    void put(const std::filesystem::path& file, const std::string& sha256) override;
    std::unique_ptr<blob_reader> open(const std::string& sha256, std::uint64_t offset,
                                      std::uint64_t length) override;
    bool exists(const std::string& sha256) override;
    void remove(const std::string& sha256) override;
    void walk(const std::function<void(const std::string& sha256, std::int64_t written)>& each) override;
    std::string probe() override;
    std::string describe() const override;

    /// Where a blob lives (whether or not it exists).
    std::filesystem::path path_of(const std::string& sha256) const;

private:
    std::filesystem::path blobs_;
};

} // namespace mqchat::media
