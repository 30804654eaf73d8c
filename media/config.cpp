#include "config.hpp"

#include <stdexcept>

#include "common/http_endpoint.hpp"
#include "common/log.hpp"
#include "common/options.hpp"
#include "common/secret_file.hpp"

namespace mqchat::media {

namespace {

void read_keys(option_reader& r, media_config& c, std::string& url_secret_file, std::string& s3_secret_file,
               std::string& cors) {
    c.db = r.string("db_conninfo", c.db);
    c.listen = r.string("listen", c.listen);
    c.metrics_listen = r.string("metrics_listen", c.metrics_listen);
    url_secret_file = r.string("url_secret_file", url_secret_file);
    c.data_dir = r.string("data_dir", c.data_dir);
    c.storage = r.string("storage", c.storage);
    c.s3_endpoint = r.string("s3_endpoint", c.s3_endpoint);
    c.s3_bucket = r.string("s3_bucket", c.s3_bucket);
    c.s3_region = r.string("s3_region", c.s3_region);
    c.s3_access_key = r.string("s3_access_key", c.s3_access_key);
    s3_secret_file = r.string("s3_secret_key_file", s3_secret_file);
    c.s3_timeout_ms = static_cast<int>(r.integer("s3_timeout_ms", c.s3_timeout_ms, 100, 600000));
    c.max_pixels = static_cast<std::uint64_t>(
        r.integer("max_pixels", static_cast<std::int64_t>(c.max_pixels), 1, 1'000'000'000));
    c.thumb_max_side = static_cast<int>(r.integer("thumb_max_side", c.thumb_max_side, 16, 4096));
    c.jpeg_quality = static_cast<int>(r.integer("jpeg_quality", c.jpeg_quality, 1, 100));
    c.workers = static_cast<int>(r.integer("workers", c.workers, 1, 64));
    c.queue_max = static_cast<int>(r.integer("queue_max", c.queue_max, 1, 10000));
    c.max_connections = static_cast<int>(r.integer("max_connections", c.max_connections, 4, 10000));
    c.connection_timeout_s = static_cast<int>(r.integer("connection_timeout_s", c.connection_timeout_s, 1, 3600));
    c.db_connections = static_cast<int>(r.integer("db_connections", c.db_connections, 1, 256));
    c.clamd = r.string("clamd", c.clamd);
    c.clamd_fail_closed = r.boolean("clamd_fail_closed", c.clamd_fail_closed);
    c.clamd_timeout_ms = static_cast<int>(r.integer("clamd_timeout_ms", c.clamd_timeout_ms, 100, 600000));
    c.orphan_ttl_s = static_cast<int>(r.integer("orphan_ttl_s", c.orphan_ttl_s, 1, 365 * 24 * 3600));
    c.sweep_interval_s = static_cast<int>(r.integer("sweep_interval_s", c.sweep_interval_s, 0, 24 * 3600));
    c.sweep_batch = static_cast<int>(r.integer("sweep_batch", c.sweep_batch, 1, 100000));
    c.blob_walk_interval_s =
        static_cast<int>(r.integer("blob_walk_interval_s", c.blob_walk_interval_s, 0, 365 * 24 * 3600));
    c.log_level = r.string("log_level", c.log_level);
    cors = r.string("cors_origins", cors);
}

bool valid_origin(const std::string& o) {
    if (o == "*") return true;
    const auto scheme = o.find("://");
    if (scheme == std::string::npos || (o.compare(0, scheme, "http") != 0 && o.compare(0, scheme, "https") != 0))
        return false;
    if (o.size() == scheme + 3 || o.back() == '/') return false;
    return o.find_first_of("/?#", scheme + 3) == std::string::npos;
}

bool valid_clamd(const std::string& a) {
    if (a.rfind("unix:/", 0) == 0) return a.size() > 6;
    if (a.rfind("tcp:", 0) == 0) {
        const auto colon = a.rfind(':');
        return colon > 4 && colon + 1 < a.size() && a.find_first_not_of("0123456789", colon + 1) == std::string::npos;
    }
    return false;
}

} // namespace

media_config load_config(const std::vector<std::string>& paths) {
    if (paths.empty()) throw std::invalid_argument("no config file given");
    media_config c;
    c.files = paths;
    std::string url_secret_file, s3_secret_file, cors = "*";
    config_problems errors;
    c.settings = read_config_files(
        paths, [&](option_reader& r) { read_keys(r, c, url_secret_file, s3_secret_file, cors); }, errors);
    const auto from = [&c](const std::string& key) { return file_of(c.settings, key); };
    require_options(c.settings, paths, {"db_conninfo", "url_secret_file"}, errors);
    if (!url_secret_file.empty()) {
        try {
            c.url_secret = read_secret_line(url_secret_file);
            if (c.url_secret.size() < 32)
                errors.add(from("url_secret_file"), "url_secret_file: " + url_secret_file +
                                                        " holds fewer than 32 bytes on its first line");
        } catch (const std::runtime_error& e) {
            errors.add(from("url_secret_file"), std::string("url_secret_file: ") + e.what());
        }
    }
    for (const char* key : {"listen", "metrics_listen"}) {
        const std::string& value = std::string(key) == "listen" ? c.listen : c.metrics_listen;
        if (value.empty() && std::string(key) == "metrics_listen") continue;
        try {
            parse_listen_address(value);
        } catch (const std::invalid_argument& e) {
            errors.add(from(key), std::string(key) + " " + e.what());
        }
    }
    if (c.data_dir.empty() || c.data_dir[0] != '/')
        errors.add(from("data_dir"), "data_dir '" + c.data_dir + "' is not an absolute path");
    if (c.storage.empty()) c.storage = "dir:" + c.data_dir;
    if (c.storage == "s3") {
        c.s3 = true;
        for (const auto& [key, value] : {std::pair<const char*, const std::string*>{"s3_endpoint", &c.s3_endpoint},
                                         {"s3_bucket", &c.s3_bucket},
                                         {"s3_access_key", &c.s3_access_key}})
            if (value->empty()) errors.add(from("storage"), std::string("storage s3 needs ") + key);
        if (s3_secret_file.empty()) errors.add(from("storage"), "storage s3 needs s3_secret_key_file");
        if (!c.s3_endpoint.empty() && c.s3_endpoint.rfind("http://", 0) != 0 && c.s3_endpoint.rfind("https://", 0) != 0)
            errors.add(from("s3_endpoint"), "s3_endpoint '" + c.s3_endpoint + "' is not an http:// or https:// URL");
        if (!c.s3_endpoint.empty() && c.s3_endpoint.back() == '/') c.s3_endpoint.pop_back();
        if (!c.s3_bucket.empty() && c.s3_bucket.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789.-") != std::string::npos)
            errors.add(from("s3_bucket"), "s3_bucket '" + c.s3_bucket + "' is not a bucket name (a-z 0-9 . -)");
    } else if (c.storage.rfind("dir:/", 0) == 0) {
        c.storage_dir = c.storage.substr(4);
    } else {
        errors.add(from("storage"), "storage '" + c.storage + "' is not dir:/ABSOLUTE/PATH or s3");
    }
    if (!s3_secret_file.empty()) {
        try {
            c.s3_secret_key = read_secret_line(s3_secret_file);
        } catch (const std::runtime_error& e) {
            errors.add(from("s3_secret_key_file"), std::string("s3_secret_key_file: ") + e.what());
        }
    }
    if (!c.clamd.empty() && !valid_clamd(c.clamd))
        errors.add(from("clamd"), "clamd '" + c.clamd + "' is not unix:/PATH or tcp:HOST:PORT");
    c.cors_origins = list_items(cors);
    for (const auto& o : c.cors_origins)
        if (!valid_origin(o)) errors.add(from("cors_origins"), "cors_origins '" + o + "' is not * or scheme://host[:port]");
    if (c.cors_origins.empty()) errors.add(from("cors_origins"), "cors_origins is empty");
    try {
        log::parse_level(c.log_level);
    } catch (const std::invalid_argument& e) {
        errors.add(from("log_level"), std::string("log_level ") + e.what());
    }
    if (const std::string e = errors.message(); !e.empty()) throw std::invalid_argument(e);
    return c;
}

std::string describe_settings(const media_config& c) { return mqchat::describe_settings(c.settings); }

} // namespace mqchat::media
