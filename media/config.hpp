#pragma once
/// mqchat-media's settings, read once at start from one or more config files
/// (`key value` lines, as the bridge's: docs/media.md, "Options") into one
/// struct. A key in a later file overrides the same key in an earlier one.
/// Validated as a whole: every problem in every file in one message, each
/// naming its file and the option.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/config_files.hpp"

namespace mqchat::media {

struct media_config {
    std::string db;                        ///< libpq conninfo (db_conninfo, required)
    std::string listen = "127.0.0.1:8090"; ///< public HTTP for clients (HOST:PORT or PORT)
    std::string metrics_listen;            ///< operators' /metrics /healthz /readyz ("": none)
    std::string url_secret;                ///< from url_secret_file (required): the bridge's media_url_secret_file
    std::string data_dir = "/var/lib/mqchat-media"; ///< temp files (tmp/), and the blobs unless storage says otherwise
    /// "dir:/path" (blobs under /path/blobs) or "s3"; default dir:{data_dir}.
    std::string storage;
    std::string storage_dir; ///< the path of "dir:…" (empty with s3)
    bool s3 = false;
    std::string s3_endpoint, s3_bucket, s3_region = "us-east-1", s3_access_key;
    std::string s3_secret_key; ///< from s3_secret_key_file
    int s3_timeout_ms = 30000;
    std::uint64_t max_pixels = 40'000'000;
    int thumb_max_side = 320;
    int jpeg_quality = 85;
    int workers = 2;          ///< threads that inspect and store
    int queue_max = 16;       ///< received uploads waiting for a worker; beyond: 503 + Retry-After
    int max_connections = 256; ///< clients' HTTP connections at once
    int connection_timeout_s = 60; ///< idle seconds before a client connection is closed
    int db_connections = 8;   ///< database connections for requests
    std::string clamd;        ///< "unix:/path" or "tcp:HOST:PORT"; "": no scan
    bool clamd_fail_closed = true;
    int clamd_timeout_ms = 30000;
    int orphan_ttl_s = 86400;    ///< an upload no message took is removed after this
    int sweep_interval_s = 60;   ///< 0: no sweeper in this process
    int sweep_batch = 500;
    /// The sweeper walks storage for blobs no row names this often; 0: never.
    int blob_walk_interval_s = 86400;
    std::string log_level = "info";
    std::vector<std::string> cors_origins{"*"}; ///< "*" or exact origins (scheme://host[:port])

    std::vector<std::string> files;
    config_settings settings;
};

/// Reads `paths` in order (at least one). Throws std::invalid_argument with
/// every problem found, one line per file, plus a line for required keys no
/// file sets.
media_config load_config(const std::vector<std::string>& paths);

/// One line per key the files set: `key value (file)`, secrets masked.
std::string describe_settings(const media_config& c);

} // namespace mqchat::media
