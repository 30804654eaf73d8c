#include "plugin_metrics.hpp"

#include <mosquitto.h>
#include <mosquitto_broker.h>

namespace mqchat::plugin {

namespace {
metrics::registry& reg() { return metrics::default_registry(); }
} // namespace

plugin_metrics::plugin_metrics()
    : logins_accepted(reg().counters("mqchat_logins_total", "Chat logins by outcome.", {"outcome"}, 8).with({"accepted"})),
      logins_come_back(reg().counters("mqchat_logins_total", "", {"outcome"}).with({"come_back"})),
      logins_not_ours(reg().counters("mqchat_logins_total", "", {"outcome"}).with({"not_ours"})),
      logins_refused(reg().counters("mqchat_logins_refused_total", "Chat logins refused, by reason.", {"reason"}, 32)),
      publishes_refused(reg().counters("mqchat_publishes_refused_total",
                                       "Publishes under the chat prefix refused by the plugin, by error code.",
                                       {"code"}, 32)),
      requests_refused(reg().counters("mqchat_requests_refused_total",
                                      "Requests refused by the plugin before the bridge, by error code.", {"code"}, 32)),
      sends(reg().counters("mqchat_plugin_messages_total",
                           "Chat publishes checked and passed on by the plugin, by kind.", {"kind"}, 8)
                .with({"send"})),
      typing(reg().counters("mqchat_plugin_messages_total", "", {"kind"}).with({"typing"})),
      receipts(reg().counters("mqchat_plugin_messages_total", "", {"kind"}).with({"receipt"})),
      requests(reg().counters("mqchat_plugin_messages_total", "", {"kind"}).with({"request"})),
      deliveries_held(reg().single_counter("mqchat_deliveries_held_total",
                                     "Stored messages held until this broker knew of a membership change.")),
      clients_kicked(reg().counters("mqchat_clients_kicked_total", "Clients the plugin disconnected, by reason.",
                                    {"reason"}, 8)),
      connections(reg().single_gauge("mqchat_connections", "Chat clients connected to this broker (bridges not counted).")),
      users_online(reg().single_gauge("mqchat_broker_users_online", "Users with at least one device on this broker.")),
      directory_users(reg().single_gauge("mqchat_directory_users", "Users the plugin holds in memory.")),
      held_messages(reg().single_gauge("mqchat_held_messages", "Stored messages held now for a membership change.")),
      other_brokers(reg().single_gauge("mqchat_fabric_brokers", "Other brokers of the fabric this broker hears of.")) {}

std::unique_ptr<http_endpoint> serve_metrics(const std::string& listen) {
    if (listen.empty()) return nullptr;
    auto endpoint = std::make_unique<http_endpoint>(
        parse_listen_address(listen), std::map<std::string, http_endpoint::handler>{{"/metrics", [] {
            return http_reply{200, "text/plain; version=0.0.4; charset=utf-8", reg().exposition()};
        }}});
    mosquitto_log_printf(MOSQ_LOG_INFO, "mqchat: metrics on http://%s/metrics", listen.c_str());
    return endpoint;
}

} // namespace mqchat::plugin
