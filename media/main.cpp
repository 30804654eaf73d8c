// mqchat-media: the media service (docs/media.md). Receives uploads over
// HTTP on single-use signed URLs, checks them, stores them content-addressed
// on disk or in S3, serves them on signed URLs, and sweeps what no message
// keeps. Wiring only: the parts are config, storage (local_storage,
// s3_storage), http_server (upload, download), worker_pool, sweeper, health.
//
// usage: mqchat-media [--check] [-c] CONFIG_FILE [[-c] MORE_CONFIG_FILES...]
//   Later files override earlier ones key by key. --check only reads and
//   validates them and prints each setting with the file it came from.

#include <curl/curl.h>
#include <sodium.h>

#include <atomic>
#include <csignal>
#include <filesystem>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "common/daemon.hpp"
#include "common/log.hpp"
#include "common/pg.hpp"
#include "config.hpp"
#include "health.hpp"
#include "http_server.hpp"
#include "inspect/inspect.hpp"
#include "local_storage.hpp"
#include "s3_storage.hpp"
#include "sweeper.hpp"

using mqchat::daemon::joined;

int main(int argc, char** argv) {
    const auto command = mqchat::daemon::parse_command_line("mqchat-media", argc, argv);
    if (!command) return 2;
    const bool check = command->check;
    const std::vector<std::string>& files = command->files;
    namespace media = mqchat::media;
    namespace fs = std::filesystem;
    try {
        const auto config = media::load_config(files);
        if (check) {
            std::cout << "mqchat-media: settings are valid (" << joined(config.files) << ")\n"
                      << media::describe_settings(config);
            return 0;
        }
        mqchat::log::setup("mqchat-media", mqchat::log::parse_level(config.log_level));
        mqchat::log::info() << "settings from " << joined(config.files);
        if (sodium_init() < 0) throw std::runtime_error("libsodium cannot start");
        curl_global_init(CURL_GLOBAL_DEFAULT);
        const std::atomic<bool>& stopping = mqchat::daemon::stop_on_signals();
        mqchat::pg::set_notice_handler(&mqchat::log::database_notice); // never raw on stderr: that is the log
        std::signal(SIGPIPE, SIG_IGN); // a client or S3 going away is an error return, not a signal

        // Uploads being received and inspected: a fresh directory at every start.
        const fs::path tmp = fs::path(config.data_dir) / "tmp";
        std::error_code ec;
        fs::remove_all(tmp, ec);
        fs::create_directories(tmp);
        fs::permissions(tmp, fs::perms::owner_all);

        std::unique_ptr<media::storage> store;
        if (config.s3)
            store = std::make_unique<media::s3_storage>(media::s3_settings{config.s3_endpoint, config.s3_bucket,
                                                                           config.s3_region, config.s3_access_key,
                                                                           config.s3_secret_key, config.s3_timeout_ms});
        else
            store = std::make_unique<media::local_storage>(config.storage_dir);
        media::init_inspection(1);

        media::media_metrics counters;
        media::db_pool db(config.db, config.db_connections, "mqchat-media");
        media::worker_pool workers(config.workers, static_cast<std::size_t>(config.queue_max));
        media::service svc{config, *store, db, counters, workers, tmp};
        media::health watch(svc);
        media::sweeper sweep(svc);
        media::http_server server(svc);
        mqchat::log::info() << "running: http://" << config.listen << " (port " << server.port() << "), storage "
                            << store->describe() << ", " << config.workers << " workers"
                            << (config.clamd.empty() ? ", no virus scan"
                                                     : ", scanning with clamd " + config.clamd +
                                                           (config.clamd_fail_closed ? " (fail closed)" : " (fail open)"));
        while (!stopping) std::this_thread::sleep_for(std::chrono::milliseconds(100));
        mqchat::log::info() << "stopping";
        return 0;
    } catch (const std::exception& e) {
        mqchat::daemon::print_error_lines("mqchat-media", e.what());
        return 1;
    }
}
