// mqchat-bridge: stores chat messages in PostgreSQL, numbers them, and
// delivers them through the broker. Wiring only: the parts live in link/
// (the broker), ingest/ (store and deliver), requests/, push/, email/ and
// desks/ (support desks: routing and mail).
//
// usage: mqchat-bridge [--check] CONFIG_FILE [MORE_CONFIG_FILES...]
//   Later files override earlier ones key by key (scripts/run passes its
//   generated file, then the operator's). --check only reads and validates
//   them and prints each setting with the file it came from.

#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "config.hpp"
#include "ingest/ingest.hpp"
#include "link/mosquitto_link.hpp"
#include "ingest/pg_message_store.hpp"
#include "requests/pg_requests.hpp"
#include "requests/request_pool.hpp"
#include "email/email_digest.hpp"
#include "push/push_sender.hpp"
#include "desks/desk_mailer.hpp"
#include "desks/desk_router.hpp"
#include "observe/health.hpp"
#include "retention/retention_job.hpp"
#include "search/search_indexer.hpp"
#include "common/metrics.hpp"
#include "common/daemon.hpp"
#include "common/log.hpp"
#include "common/pg.hpp"

using mqchat::daemon::joined;

int main(int argc, char** argv) {
    const bool check = argc > 1 && std::string(argv[1]) == "--check";
    const std::vector<std::string> files(argv + (check ? 2 : 1), argv + argc);
    if (files.empty() || files.front().rfind("--", 0) == 0) {
        std::cerr << "usage: mqchat-bridge [--check] CONFIG_FILE [MORE_CONFIG_FILES...]\n";
        return 2;
    }
    try {
        const auto config = mqchat::bridge::load_config(files);
        if (check) {
            std::cout << "mqchat-bridge: settings are valid (" << joined(config.files) << ")\n"
                      << mqchat::bridge::describe_settings(config);
            return 0;
        }
        mqchat::log::setup("mqchat-bridge", mqchat::log::parse_level(config.log_level));
        mqchat::log::info() << "settings from " << joined(config.files);
        const std::atomic<bool>& stopping = mqchat::daemon::stop_on_signals();
        mqchat::pg::set_notice_handler(&mqchat::log::database_notice); // never raw on stderr: that is the log

        const mqchat::topic_names topics(config.topic_prefix);
        mqchat::bridge::pg_message_store store(config.db);
        // Two connections: chat (sends, receipts, presence) and requests, so
        // a flood of requests never queues in front of a message.
        const std::string share = "$share/" + config.share_group + "/";
        mqchat::bridge::link_settings chat_settings{config.mqtt_uri,   config.mqtt_username, config.mqtt_password,
                                                    config.mqtt_client_id, config.share_group, config.session_expiry_s,
                                                    config.inbox_max, {}};
        chat_settings.filters = {share + topics.all_stamped(), share + topics.all_receipts(),
                                 share + topics.all_presence()};
        chat_settings.unsubscribe = {share + topics.all_rpc_stamped()}; // an older bridge's, in this session
        mqchat::bridge::link_settings request_settings = chat_settings;
        request_settings.client_id += "-requests";
        request_settings.filters = {share + topics.all_rpc_stamped()};
        request_settings.unsubscribe = {};
        request_settings.name = "the broker (requests)";
        // The store loop reads its own link, once a turn (docs/architecture.md, "Threads").
        chat_settings.read_by_caller = true;
        mqchat::bridge::mosquitto_link link(chat_settings);
        mqchat::bridge::mosquitto_link request_link(request_settings);
        link.connect(stopping);
        request_link.connect(stopping);
        mqchat::log::info() << "running (broker " << config.mqtt_uri << ", batches of up to " << config.batch_max
                            << ")";

        // Automatic assignment of waiting support conversations; notices go on the request link.
        mqchat::bridge::desk_router desks(config.db, request_link, topics);
        const mqchat::bridge::visitor_token_settings visitor_tokens{config.visitor_token_secret, config.visitor_token_ttl_s,
                                                                    config.visitor_token_issuer,
                                                                    config.visitor_token_audience};
        const mqchat::bridge::media_settings media{config.media_base_url,   config.media_url_secret,
                                                   config.media_max_bytes,  config.media_types,
                                                   config.media_quota_bytes_per_day, config.media_upload_ttl_s,
                                                   config.media_url_ttl_s};
        mqchat::bridge::request_pool requests(
            [&] {
                return std::make_unique<mqchat::bridge::pg_requests>(
                    config.db, topics, [&desks] { desks.poke(); }, visitor_tokens,
                    mqchat::bridge::replica_settings{config.replica_db,
                                                     std::chrono::milliseconds(config.replica_max_lag_ms)},
                    media);
            },
            request_link, topics,
            config.request_threads, config.request_queue_max);
        std::unique_ptr<mqchat::bridge::push_sender> pushes;
        if (!config.fcm_project_id.empty() || !config.apns_key_file.empty()) {
            using namespace mqchat::bridge;
            auto http = std::make_unique<http_client>(config.push_ca_file);
            std::unique_ptr<fcm_client> fcm;
            std::unique_ptr<apns_client> apns;
            if (!config.fcm_project_id.empty())
                fcm = std::make_unique<fcm_client>(
                    fcm_settings{config.fcm_project_id, config.fcm_service_account_file, config.fcm_base_url}, *http);
            if (!config.apns_key_file.empty())
                apns = std::make_unique<apns_client>(
                    apns_settings{config.apns_key_file, config.apns_key_id, config.apns_team_id, config.apns_base_url},
                    *http);
            mqchat::log::info() << "sending pushes to" << (fcm ? " FCM" : "") << (apns ? " APNs" : "");
            pushes = std::make_unique<push_sender>(config.db, std::move(http), std::move(fcm), std::move(apns));
            pushes->start();
        }
        std::unique_ptr<mqchat::bridge::email_digest> digests;
        if (!config.smtp_url.empty()) {
            digests = std::make_unique<mqchat::bridge::email_digest>(
                config.db, mqchat::bridge::smtp_settings{config.smtp_url, config.smtp_from, config.smtp_username,
                                                         config.smtp_password, config.push_ca_file,
                                                         config.email_digest_delay_s});
            digests->start();
            mqchat::log::info() << "e-mail digests after " << config.email_digest_delay_s << " s away";
        }
        // The support desks' offline messages and transcripts (they wait in the database until there is SMTP).
        std::unique_ptr<mqchat::bridge::desk_mailer> desk_mail;
        if (!config.smtp_url.empty())
            desk_mail = std::make_unique<mqchat::bridge::desk_mailer>(
                config.db, mqchat::bridge::smtp_settings{config.smtp_url, config.smtp_from, config.smtp_username,
                                                         config.smtp_password, config.push_ca_file, 0});
        // Retention: purges what the operators' settings say has expired, off every other path.
        std::unique_ptr<mqchat::bridge::retention_job> retention;
        if (config.retention_interval_s > 0) {
            retention = std::make_unique<mqchat::bridge::retention_job>(
                config.db, mqchat::bridge::retention_settings{std::chrono::seconds(config.retention_interval_s),
                                                              config.retention_batch_rows,
                                                              std::chrono::milliseconds(config.retention_pause_ms)});
            retention->start();
            auto& reg = mqchat::metrics::default_registry();
            reg.counter_reader("mqchat_retention_purged_rows_total",
                               "Rows the retention job removed (messages, conversations, visitors).",
                               [&retention] { return static_cast<double>(retention->purged_total()); });
            reg.counter_reader("mqchat_retention_errors_total", "Retention rounds that ended in a database error.",
                               [&retention] { return static_cast<double>(retention->errors_total()); });
        }
        // New messages' search entries merged into the index off the store path.
        std::unique_ptr<mqchat::bridge::search_indexer> indexer;
        if (config.search_index_interval_ms > 0) {
            indexer = std::make_unique<mqchat::bridge::search_indexer>(
                config.db, std::chrono::milliseconds(config.search_index_interval_ms));
            indexer->start();
            auto& reg = mqchat::metrics::default_registry();
            reg.counter_reader("mqchat_search_index_merged_pages_total",
                               "Pages of new messages' search entries merged into the search index in the background.",
                               [&indexer] { return static_cast<double>(indexer->merged_pages_total()); });
            reg.counter_reader("mqchat_search_index_errors_total",
                               "Search index merge rounds that ended in a database error.",
                               [&indexer] { return static_cast<double>(indexer->errors_total()); });
        }
        mqchat::bridge::pg_message_store deferred_store(config.db); // its own connection, for its own thread
        mqchat::bridge::deferred_writer deferred(deferred_store);
        mqchat::bridge::ingest loop(store, link, requests, deferred, topics, config.batch_max,
                                           std::chrono::microseconds(config.store_linger_us));
        // Metrics, liveness and readiness (off unless metrics_listen is set; the probe runs anyway).
        mqchat::bridge::health watch(mqchat::bridge::health_settings{config.metrics_listen, config.db,
                                                                     std::chrono::milliseconds(config.ready_store_lag_ms)},
                                     link, request_link, loop.heartbeat(), [&requests] { return requests.queued(); });
        loop.run(stopping);
        link.disconnect();
        request_link.disconnect();
        mqchat::log::info() << "stopped";
        return 0;
    } catch (const std::exception& e) {
        // One line per file for configuration errors; each names its file.
        mqchat::daemon::print_error_lines("mqchat-bridge", e.what());
        return 1;
    }
}
