#pragma once
/// Blobs in an S3 bucket (AWS S3 or a compatible server), over libcurl with
/// its own AWS Signature Version 4 (CURLOPT_AWS_SIGV4, "aws:amz:REGION:s3").
/// Path-style URLs, `{endpoint}/{bucket}/blobs/{sha256}`, so any compatible
/// server works without DNS per bucket. PUT streams from the file, GET
/// streams to the client through the service (its headers stay ours),
/// DELETE and HEAD as S3 defines them. Each call uses its own curl handle:
/// no state shared between threads.

#include <string>

#include "storage.hpp"

namespace mqchat::media {

struct s3_settings {
    std::string endpoint; ///< "https://s3.eu-west-1.amazonaws.com", "http://127.0.0.1:4568"
    std::string bucket, region, access_key, secret_key;
    int timeout_ms = 30000;
};

class s3_storage : public storage {
public:
    explicit s3_storage(s3_settings settings);

    void put(const std::filesystem::path& file, const std::string& sha256) override;
    std::unique_ptr<blob_reader> open(const std::string& sha256, std::uint64_t offset,
                                      std::uint64_t length) override;
    bool exists(const std::string& sha256) override;
    void remove(const std::string& sha256) override;
    void walk(const std::function<void(const std::string& sha256, std::int64_t written)>& each) override;
    std::string probe() override;
    std::string describe() const override;

    /// The object's URL (path-style).
    std::string url_of(const std::string& key) const;

private:
    s3_settings settings_;
};

} // namespace mqchat::media
