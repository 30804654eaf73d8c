// mqchat-bridge: stores chat messages in PostgreSQL, numbers them, and
// delivers them through the broker. Wiring only; the work is in ingest.cpp.
//
// usage: mqchat-bridge CONFIG_FILE

#include <csignal>
#include <iostream>
#include <thread>

#include "config.hpp"
#include "ingest.hpp"
#include "mosquitto_link.hpp"
#include "pg_message_store.hpp"
#include "pg_requests.hpp"
#include "push_sender.hpp"

namespace {
std::atomic<bool> stopping{false};
void on_signal(int) { stopping = true; }
} // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::cerr << "usage: mqchat-bridge CONFIG_FILE\n";
        return 2;
    }
    try {
        const auto config = mqchat::bridge::load_config(argv[1]);
        std::signal(SIGINT, on_signal);
        std::signal(SIGTERM, on_signal);

        const mqchat::topic_names topics(config.topic_prefix);
        mqchat::bridge::pg_message_store store(config.db);
        mqchat::bridge::mosquitto_link link(config, topics);
        link.connect(stopping);
        std::cout << "mqchat-bridge: running (broker " << config.mqtt_uri << ", batches of up to "
                  << config.batch_max << ")" << std::endl;

        mqchat::bridge::pg_requests requests(config.db, topics);
        std::unique_ptr<mqchat::bridge::push_sender> pushes;
        if (!config.fcm_project_id.empty()) {
            auto http = std::make_unique<mqchat::bridge::http_client>(config.push_ca_file);
            auto fcm = std::make_unique<mqchat::bridge::fcm_client>(
                mqchat::bridge::fcm_settings{config.fcm_project_id, config.fcm_service_account_file, config.fcm_base_url},
                *http);
            pushes = std::make_unique<mqchat::bridge::push_sender>(config.db, std::move(http), std::move(fcm));
            pushes->start();
            std::cout << "mqchat-bridge: sending pushes to FCM project " << config.fcm_project_id << std::endl;
        }
        mqchat::bridge::ingest loop(store, link, requests, topics, config.batch_max);
        loop.run(stopping);
        link.disconnect();
        std::cout << "mqchat-bridge: stopped" << std::endl;
        return 0;
    } catch (const std::exception& e) {
        std::cerr << "mqchat-bridge: " << e.what() << std::endl;
        return 1;
    }
}
