// mqchat-bot: a support desk's assistant (docs/assistant.md). Wiring only:
// the settings (config.hpp), the link to the broker (the bridge's
// link/mosquitto_link), the sentiment scorer and the assistant's loop.
//
// usage: mqchat-bot [--check] CONFIG_FILE
//   SIGHUP: the desks' rules are read again. SIGINT/SIGTERM: stop.

#include <atomic>
#include <csignal>
#include <iostream>
#include <string>

#include "assistant.hpp"
#include "common/log.hpp"
#include "config.hpp"
#include "link/mosquitto_link.hpp"
#include "sentiment.hpp"

namespace {
std::atomic<bool> stopping{false};
std::atomic<bool> reloading{false};
void on_stop(int) { stopping = true; }
void on_hup(int) { reloading = true; }
} // namespace

int main(int argc, char** argv) {
    const bool check = argc == 3 && std::string(argv[1]) == "--check";
    if (argc != 2 && !check) {
        std::cerr << "usage: mqchat-bot [--check] CONFIG_FILE\n";
        return 2;
    }
    try {
        const auto config = mqchat::bot::load_config(argv[check ? 2 : 1]);
        if (check) {
            std::cout << "mqchat-bot: settings are valid (" << argv[2] << ")\n";
            return 0;
        }
        mqchat::log::setup("mqchat-bot", mqchat::log::parse_level(config.log_level));
        std::signal(SIGINT, on_stop);
        std::signal(SIGTERM, on_stop);
        std::signal(SIGHUP, on_hup);
        const auto& scorer = mqchat::bot::sentiment_scorer::english();
        const mqchat::topic_names topics(config.topic_prefix);
        mqchat::bridge::link_settings settings{config.mqtt_uri, config.mqtt_username, config.mqtt_password,
                                               config.mqtt_client_id, "", config.session_expiry_s, 10000, {}};
        settings.filters = {topics.inbox(config.mqtt_username)};
        mqchat::bridge::mosquitto_link link(settings);
        link.connect(stopping);
        mqchat::log::info() << "running as " << config.mqtt_username << " (broker " << config.mqtt_uri << ", "
                            << scorer.size() << " words of sentiment)";
        mqchat::bot::assistant bot(config, argv[1], link, scorer);
        bot.run(stopping, reloading);
        link.disconnect();
        mqchat::log::info() << "stopped";
        return 0;
    } catch (const std::exception& e) {
        std::cerr << "mqchat-bot: " << e.what() << std::endl;
        return 1;
    }
}
