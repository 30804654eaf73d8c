#include "status.hpp"

#include <curl/curl.h>
#include <json/json.h>

#include <iomanip>
#include <memory>
#include <ostream>

#include "common/json.hpp"
#include "migrations.hpp"

namespace mqchat::admin {

namespace {

enum class grade { ok, warn, fail };

struct report {
    std::ostream& out;
    bool failed = false;
    void line(const std::string& part, grade g, const std::string& what) {
        if (g == grade::fail) failed = true;
        out << std::left << std::setw(12) << part << ' ' << std::setw(5)
            << (g == grade::ok ? "ok" : g == grade::warn ? "warn" : "FAIL") << ' ' << what << "\n";
    }
};

std::string plural(std::int64_t n, const std::string& one, const std::string& many) {
    return std::to_string(n) + " " + (n == 1 ? one : many);
}

size_t append(char* data, size_t size, size_t n, void* out) {
    static_cast<std::string*>(out)->append(data, size * n);
    return size * n;
}

/// GET with a short timeout: status (0 when no answer) and body.
std::pair<long, std::string> http_get(const std::string& url) {
    std::pair<long, std::string> answer{0, ""};
    CURL* c = curl_easy_init();
    if (!c) return answer;
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 3000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &append);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &answer.second);
    if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &answer.first);
    curl_easy_cleanup(c);
    return answer;
}

void database(pg::connection& db, report& r) {
    const auto v = db.exec(
        "SELECT current_setting('server_version'), pg_size_pretty(pg_database_size(current_database())),"
        "       (SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()),"
        "       (SELECT coalesce(max(version), 0) FROM schema_migrations)");
    const std::int64_t latest = migrations().empty() ? 0 : migrations().back().version;
    const std::int64_t at = v.int64(0, 3);
    r.line("database", at == latest ? grade::ok : grade::fail,
           "PostgreSQL " + v.str(0, 0) + ", schema " + std::to_string(at) + " of " + std::to_string(latest) +
               (at < latest ? " (run mqchat-admin migrate)" : "") + ", " + v.str(0, 1) + ", " +
               plural(v.int64(0, 2), "connection", "connections"));
}

/// Who is connected, by application_name: each broker's plugin keeps a
/// directory connection, each bridge a health probe.
void processes(pg::connection& db, report& r) {
    const auto p = db.exec(
        "SELECT application_name, count(*), string_agg(DISTINCT coalesce(host(client_addr), 'local'), ', ')"
        "  FROM pg_stat_activity WHERE datname = current_database()"
        "   AND application_name IN ('mqchat-plugin-directory', 'mqchat-bridge-health')"
        " GROUP BY 1");
    std::int64_t brokers = 0, bridges = 0;
    std::string broker_hosts, bridge_hosts;
    for (int i = 0; i < p.rows(); ++i) {
        if (p.str(i, 0) == "mqchat-plugin-directory") {
            brokers = p.int64(i, 1);
            broker_hosts = p.str(i, 2);
        } else {
            bridges = p.int64(i, 1);
            bridge_hosts = p.str(i, 2);
        }
    }
    r.line("brokers", brokers > 0 ? grade::ok : grade::fail,
           brokers > 0 ? plural(brokers, "broker", "brokers") + " with the plugin connected (from " + broker_hosts + ")"
                       : "no broker with the plugin is connected to the database");
    r.line("bridges", bridges > 0 ? grade::ok : grade::fail,
           bridges > 0 ? plural(bridges, "bridge", "bridges") + " running (from " + bridge_hosts + ")"
                       : "no mqchat-bridge is connected to the database: nothing is stored or delivered");
}

/// A daemon's /readyz (bridge, media service: the same JSON shape), one line.
void readiness(const std::string& part, const std::string& where, report& r) {
    std::string url = where.rfind("http", 0) == 0 ? where : "http://" + where;
    if (url.find("/readyz") == std::string::npos) url += "/readyz";
    const auto [status, body] = http_get(url);
    if (status == 0) {
        r.line(part, grade::fail, url + ": no answer");
        return;
    }
    Json::Value v;
    std::string why;
    if (!json::parse(body, v, why) || !v.isObject()) {
        r.line(part, grade::fail, url + ": HTTP " + std::to_string(status) + ", not a readiness answer");
        return;
    }
    std::string checks;
    for (const auto& name : v["checks"].getMemberNames())
        checks += (checks.empty() ? "" : "; ") + name + " " + (v["checks"][name]["ok"].asBool() ? "" : "FAILS: ") +
                  v["checks"][name]["detail"].asString();
    r.line(part, status == 200 ? grade::ok : grade::fail, url + ": " + checks);
}

/// Attachments: what is stored, and uploads stuck half way (a media
/// service that died while receiving; the sweeper takes them after
/// orphan_ttl_s). Only a line when the server has taken any.
void media(pg::connection& db, report& r) {
    const auto m = db.exec(
        "SELECT count(*) FILTER (WHERE status = 'ready'), coalesce(sum(size) FILTER (WHERE status = 'ready'), 0),"
        "       count(*) FILTER (WHERE status = 'receiving' AND created_at < now() - interval '1 hour'),"
        "       count(*) FILTER (WHERE status = 'refused' AND created_at > now() - interval '1 day'),"
        "       (SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        "           AND application_name = 'mqchat-media-health')"
        "  FROM media");
    const std::int64_t ready = m.int64(0, 0), stuck = m.int64(0, 2), services = m.int64(0, 4);
    if (ready == 0 && stuck == 0 && services == 0) return;
    r.line("media", stuck > 0 || services == 0 ? grade::warn : grade::ok,
           (services > 0 ? plural(services, "media service", "media services") + " running, "
                         : std::string("no media service is connected to the database (uploads fail), ")) +
               plural(ready, "file", "files") + " stored (" + std::to_string(m.int64(0, 1) / (1024 * 1024)) + " MiB), " +
               plural(m.int64(0, 3), "upload", "uploads") + " refused in the last day" +
               (stuck ? ", " + plural(stuck, "upload", "uploads") + " stuck receiving for over an hour" : ""));
}

void queues(pg::connection& db, const status_options& o, report& r) {
    const auto q = db.exec(
        "SELECT (SELECT coalesce(sum(c.last_seq - coalesce(ob.published_seq, 0)), 0)"
        "          FROM conversations c LEFT JOIN conversation_outbox ob ON ob.conv_id = c.id"
        "         WHERE c.last_seq > coalesce(ob.published_seq, 0)),"
        "       (SELECT coalesce(extract(epoch FROM now() - min(to_timestamp(m.ts / 1000.0))), 0)::bigint"
        "          FROM conversations c LEFT JOIN conversation_outbox ob ON ob.conv_id = c.id"
        "          JOIN messages m ON m.conv_id = c.id AND m.seq = coalesce(ob.published_seq, 0) + 1"
        "         WHERE c.last_seq > coalesce(ob.published_seq, 0)),"
        "       (SELECT count(*) FROM push_queue),"
        "       (SELECT coalesce(extract(epoch FROM now() - min(next_at)), 0)::bigint FROM push_queue WHERE next_at <= now()),"
        "       (SELECT count(*) FROM desk_mail),"
        "       (SELECT count(*) FROM support_conversations WHERE status = 'queued'),"
        "       (SELECT coalesce(extract(epoch FROM now() - min(queued_at)), 0)::bigint"
        "          FROM support_conversations WHERE status = 'queued')");
    const std::int64_t unpublished = q.int64(0, 0), oldest = q.int64(0, 1);
    r.line("outbox", unpublished == 0 ? grade::ok : oldest > o.stale_outbox_s ? grade::fail : grade::ok,
           unpublished == 0 ? "every stored message delivered"
                            : plural(unpublished, "stored message", "stored messages") + " not yet delivered (oldest " +
                                  std::to_string(oldest) + " s)");
    const std::int64_t pushes = q.int64(0, 2), push_late = q.int64(0, 3);
    r.line("pushes", push_late > 300 ? grade::warn : grade::ok,
           plural(pushes, "push", "pushes") + " waiting" +
               (pushes ? " (the most overdue " + std::to_string(push_late) + " s)" : ""));
    r.line("desk mail", grade::ok, plural(q.int64(0, 4), "e-mail", "e-mails") + " waiting");
    const std::int64_t waiting = q.int64(0, 5), waited = q.int64(0, 6);
    r.line("support", waited > 600 ? grade::warn : grade::ok,
           plural(waiting, "conversation", "conversations") + " waiting for an agent" +
               (waiting ? " (the longest " + std::to_string(waited / 60) + " min)" : ""));
}

void people(pg::connection& db, report& r) {
    const auto u = db.exec(
        "SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM presence WHERE devices > 0),"
        "       (SELECT count(*) FROM conversations)");
    r.line("users", grade::ok,
           plural(u.int64(0, 0), "user", "users") + ", " + std::to_string(u.int64(0, 1)) + " online, " +
               plural(u.int64(0, 2), "conversation", "conversations"));
}

} // namespace

bool status(const std::string& conninfo, const status_options& o, std::ostream& out) {
    report r{out};
    std::unique_ptr<pg::connection> db;
    try {
        db = std::make_unique<pg::connection>(conninfo);
        database(*db, r);
        processes(*db, r);
    } catch (const pg::error& e) {
        std::string why = e.what();
        for (auto& c : why)
            if (c == '\n') c = ' ';
        r.line("database", grade::fail, "cannot be reached: " + why);
        db.reset();
    }
    for (const auto& b : o.bridges) readiness("bridge", b, r);
    for (const auto& m : o.media) readiness("media", m, r);
    if (db) {
        queues(*db, o, r);
        media(*db, r);
        people(*db, r);
    }
    return !r.failed;
}

} // namespace mqchat::admin
