#pragma once
/// The plugin's Prometheus metrics (docs/operations.md, "Metrics"), kept in
/// the plugin's own registry inside the broker and served by
/// plugin_opt_metrics_listen. Counting is one relaxed atomic add on the
/// broker's thread; the gauges are set once a second from TICK. Label
/// values come from fixed sets (refusal reasons, error codes).

#include <memory>
#include <string>

#include "common/http_endpoint.hpp"
#include "common/metrics.hpp"

namespace mqchat::plugin {

struct plugin_metrics {
    plugin_metrics();

    metrics::counter& logins_accepted;
    metrics::counter& logins_come_back; ///< told to come back (a check still under way)
    metrics::counter& logins_not_ours;  ///< left to the broker's other auth
    metrics::family<metrics::counter>& logins_refused; ///< by reason
    metrics::family<metrics::counter>& publishes_refused; ///< by error code
    metrics::family<metrics::counter>& requests_refused;  ///< by error code
    metrics::counter& sends;     ///< chat messages checked, stamped and passed to the bridge
    metrics::counter& typing;
    metrics::counter& receipts;
    metrics::counter& requests;
    metrics::counter& deliveries_held; ///< stored messages held for a membership change
    metrics::family<metrics::counter>& clients_kicked; ///< by reason

    metrics::gauge& connections;   ///< chat clients admitted on this broker
    metrics::gauge& users_online;  ///< users with a device on this broker
    metrics::gauge& directory_users;
    metrics::gauge& held_messages;
    metrics::gauge& other_brokers; ///< brokers of the fabric this one hears of
};

/// The plugin's /metrics on `listen` (plugin_opt_metrics_listen), served on
/// libmicrohttpd's own thread; null when `listen` is empty. Throws
/// std::runtime_error naming the address when it cannot listen.
std::unique_ptr<http_endpoint> serve_metrics(const std::string& listen);

} // namespace mqchat::plugin
