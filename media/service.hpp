#pragma once
/// What the HTTP side, the workers and the sweeper of mqchat-media share:
/// settings, storage, database connections, metrics, the worker pool, and
/// the shape of a reply (so upload.cpp and download.cpp stay free of
/// libmicrohttpd; http_server.cpp turns a reply into one).

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config.hpp"
#include "db_pool.hpp"
#include "media_metrics.hpp"
#include "storage.hpp"
#include "worker_pool.hpp"

namespace mqchat::media {

struct service {
    const media_config& config;
    storage& store;
    db_pool& db;
    media_metrics& metrics;
    worker_pool& workers;
    std::filesystem::path tmp_dir; ///< uploads being received, inspection work dirs
};

struct reply {
    int status = 200;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;                  ///< when `blob` is null
    std::unique_ptr<blob_reader> blob; ///< streamed body (downloads)
    std::uint64_t blob_size = 0;       ///< the body's length when streamed (HEAD: no blob, this length)
    bool streamed = false;             ///< the body is `blob` / `blob_size`, not `body`
};

/// A JSON error reply: {"error": {"code": …, "message": …}}.
reply error_reply(int status, std::string_view code, std::string_view message);
/// A JSON reply with `json` as the body.
reply json_reply(int status, std::string json);

/// Seconds since the epoch.
std::int64_t unix_now();

} // namespace mqchat::media
