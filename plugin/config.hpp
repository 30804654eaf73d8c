#pragma once
/// The plugin's settings, read once from `plugin_opt_*` lines.

#include <cstddef>
#include <string>
#include <vector>

#include "common/options.hpp"

namespace mqchat::plugin {

struct plugin_config {
    /// libpq conninfo of the mqchat database (plugin_opt_db_conninfo, required).
    /// (Mosquitto 2.0 rejects option keys shorter than three characters.)
    std::string db;
    /// Topic prefix the plugin owns (plugin_opt_topic_prefix, default "chat/").
    std::string topic_prefix = "chat/";
    /// Refuse every client and topic that is not ours instead of deferring to
    /// the broker's other auth (plugin_opt_exclusive, default false).
    bool exclusive = false;
    /// Largest accepted send envelope in bytes (plugin_opt_max_payload).
    std::size_t max_payload = 16384;
    /// How long start-up waits for the first load of users (plugin_opt_startup_wait_ms).
    int startup_wait_ms = 10000;
    /// Listen backlog for the broker's sockets (plugin_opt_listen_backlog); 0 leaves
    /// Mosquitto's 100. A reconnect storm overflows 100 and waits on SYN retries.
    int listen_backlog = 0;

    /// Limits (0: none). Messages per second per user across all devices,
    /// with bursts up to rate_burst (plugin_opt_rate_per_s, _rate_burst); a
    /// client refused more than flood_disconnect times in 10 s is
    /// disconnected (plugin_opt_flood_disconnect); connections per user
    /// (plugin_opt_max_connections_per_user); client id length
    /// (plugin_opt_max_client_id_length).
    double rate_per_s = 0;
    double rate_burst = 0;
    int flood_disconnect = 100;
    int max_connections_per_user = 0;
    int max_client_id_length = 128;

    /// Tokens as passwords (see docs/security.md). Off unless a key is given.
    std::string jwt_hs256_secret_file; ///< plugin_opt_jwt_hs256_secret_file: first line, >= 32 bytes
    std::string jwt_jwks_file;         ///< plugin_opt_jwt_jwks_file: RS256/ES256 public keys, reread on SIGHUP
    std::string jwt_issuer;            ///< plugin_opt_jwt_issuer: required `iss` when set
    std::string jwt_audience;          ///< plugin_opt_jwt_audience: required in `aud` when set
    int jwt_leeway_s = 30; ///< plugin_opt_jwt_leeway_s: clock skew allowed on exp/nbf
    /// plugin_opt_login_key_file: a secret (first line, >= 32 bytes) keying the
    /// digests of logins that passed Argon2id. When set, they are stored in the
    /// database and survive a restart; otherwise they live in memory only.
    std::string login_key_file;
    /// plugin_opt_typing_per_s: typing messages passed on per user per second (0: no cap).
    int typing_per_s = 5;
    /// plugin_opt_presence: publish server-owned presence (default true).
    bool presence = true;
    /// plugin_opt_wait_budget_ms: the most the broker's thread waits within
    /// any second, and in any one wait, for database lookups, and as much for
    /// password checks (see wait_budget.hpp). 0: never waits.
    int wait_budget_ms = 50;
    /// plugin_opt_password_threads: Argon2id checks run at once (0: one per
    /// core but the broker's, at least one).
    int password_threads = 0;
    /// plugin_opt_member_change_wait_ms: how long a stored message waits for a
    /// membership change it depends on before it is delivered anyway.
    int member_change_wait_ms = 1000;
    /// Web visitors knocking with a site key (docs/desks.md): logins a
    /// minute from one address (plugin_opt_knocks_per_minute_per_address)
    /// and with one site key (plugin_opt_knocks_per_minute_per_site_key);
    /// 0: no cap.
    int knocks_per_minute_per_address = 20;
    int knocks_per_minute_per_site_key = 1200;
    /// plugin_opt_forwarded_by: addresses of mqchat-gateways (docs/gateway.md)
    /// whose knock logins carry the visitor's own address in front of the
    /// password (common/forwarded.hpp); from anywhere else such a login is
    /// refused. Empty: believed from nobody.
    std::vector<std::string> forwarded_by;
    /// Several brokers (docs/architecture.md, "Several brokers"): the
    /// remote_username of this broker's Mosquitto bridge to the hub
    /// (plugin_opt_fabric_username; empty: a broker on its own). What
    /// arrives through that bridge was checked by the broker it came from;
    /// nobody may log in with this name here.
    std::string fabric_username;
    /// This broker's name among them (plugin_opt_broker_name), in its
    /// fabric topics; required with fabric_username.
    std::string broker_name;
    /// How long the devices of a broker whose link went down still count
    /// (plugin_opt_fabric_grace_ms): its clients reconnect to another broker
    /// meanwhile, so their presence does not flap offline and back.
    int fabric_grace_ms = 10000;
    /// Prometheus metrics of this broker's chat side on http://…/metrics
    /// (plugin_opt_metrics_listen: "PORT" on loopback, or "HOST:PORT";
    /// empty: none). Served from a thread of its own, never the broker's.
    std::string metrics_listen;
    bool fabric() const { return !fabric_username.empty(); }
    bool persist_logins() const { return !login_key_file.empty(); }
    bool tokens_enabled() const { return !jwt_hs256_secret_file.empty() || !jwt_jwks_file.empty(); }
};

/// Throws std::invalid_argument listing every problem (missing, bad, unknown options).
plugin_config parse_config(const option_list& options);

} // namespace mqchat::plugin
