// Case "presence": what server-owned presence costs the broker. 10,000 users,
// each sharing a conversation with 20 others, connect at once (at most 100
// connects in progress, so the figure is the broker's work, not SYN retries)
// and, as an app would, each subscribes to its 20 contacts' presence as soon
// as it is accepted; then all disconnect. The same with plugin_opt_presence
// false, in the same run. Reported: time to connect, and the broker's CPU
// per connect and per disconnect (from /proc), on and off.

#include "bench.hpp"
#include "client_pool.hpp"
#include "support/servers.hpp"

namespace mqchat::bench {

void run_presence(const settings& s) {
    const int n = s.quick ? 1050 : 10500; // groups of 21: 20 contacts each
    const int group = 21;
    test::temp_dir dir("bench-presence");
    test::pg_cluster db(dir);
    test::admin_ok(db.conninfo(), {"migrate"});
    {
        pg::connection c(db.conninfo());
        add_users(c, "p", n, cheap_hash("pw"));
        add_bridge_user(c);
        c.exec("INSERT INTO conversations (title) SELECT 'g' || g FROM generate_series(0, $1 - 1) g", {std::to_string(n / group)});
        const std::int64_t first = c.exec("SELECT min(id) FROM conversations").int64(0, 0);
        c.exec("INSERT INTO members (conv_id, user_id)"
               " SELECT $1 + (substr(u.name, 2)::int / $2), u.id FROM users u WHERE u.name ~ '^p[0-9]+$'",
               {std::to_string(first), std::to_string(group)});
    }
    // Subscribe to the presence of the 20 others in one's group.
    const auto subscribe_contacts = [group](client_pool& pool, int client, int index) {
        const int base = index - index % group;
        for (int k = base; k < base + group; ++k)
            if (k != index) pool.subscribe(client, "chat/presence/p" + std::to_string(k), 1);
    };

    storm_result with_presence, without_presence;
    for (const bool on : {false, true}) {
        test::broker_options o;
        o.plugin_options = {"listen_backlog 4096", std::string("presence ") + (on ? "true" : "false")};
        test::broker b(dir, db.conninfo(), o, on ? "presence-on" : "presence-off");
        b.start();
        test::bridge store(dir, db.conninfo(), b.port(), bridge_password, on ? "bridge-on" : "bridge-off");
        store.start();
        (on ? with_presence : without_presence) = connect_storm(b, "p", n, 100, {}, subscribe_contacts);
        store.stop();
        b.stop();
    }
    const std::string who = std::to_string(n) + " users, 20 contacts each";
    report("presence_connect_s", with_presence.seconds, "s", without_presence.seconds,
           who + ", subscribing to contacts' presence; baseline = presence off");
    report("presence_broker_us_per_connect", with_presence.broker_cpu_s * 1e6 / n, "us",
           without_presence.broker_cpu_s * 1e6 / n, "broker CPU, login + 20 subscriptions (+ presence fan-out)");
    report("presence_broker_us_per_disconnect", with_presence.disconnect_broker_cpu_s * 1e6 / n, "us",
           without_presence.disconnect_broker_cpu_s * 1e6 / n, "broker CPU (+ offline fan-out to contacts still online)");
}

} // namespace mqchat::bench
