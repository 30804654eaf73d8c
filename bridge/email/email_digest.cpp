#include "email_digest.hpp"

#include <json/json.h>

#include <chrono>
#include <cstring>
#include <ctime>

#include "common/json.hpp"
#include "common/log.hpp"
#include "observe/bridge_metrics.hpp"

namespace mqchat::bridge {

namespace {

std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

} // namespace

email_digest::email_digest(std::string conninfo, smtp_settings smtp)
    : conninfo_(std::move(conninfo)), smtp_(std::move(smtp)) {}

email_digest::~email_digest() { stop(); }

void email_digest::start() { thread_ = std::thread([this] { run(); }); }

void email_digest::stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
}

std::string email_digest::message(const smtp_settings& smtp, const std::string& to, const std::string& user,
                                  const std::string& conversations_json, std::int64_t now_s) {
    Json::Value convs;
    std::string why;
    json::parse(conversations_json, convs, why);
    std::int64_t total = 0;
    std::string lines;
    for (const auto& c : convs) {
        total += c["unread"].asInt64();
        const std::string name = c["title"].asString().empty() ? "conversation " + std::to_string(c["conv"].asInt64())
                                                               : c["title"].asString();
        lines += "  " + name + ": " + std::to_string(c["unread"].asInt64()) + " new\n";
    }
    return mail_text(smtp, to, std::to_string(total) + " new messages",
                     "Hello " + user + ",\n\nwhile you were away:\n\n" + lines + "\nOpen the app to read them.\n", now_s);
}

void email_digest::run() {
    std::unique_ptr<pg::connection> db;
    while (!stop_) {
        try {
            if (!db) db = std::make_unique<pg::connection>(conninfo_);
            round(*db);
        } catch (const pg::error& e) {
            log::warning() << "e-mail digest: database unavailable (" << e.what() << "); retrying";
            db.reset();
        }
        for (int i = 0; i < 20 && !stop_; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
}

void email_digest::round(pg::connection& db) {
    const std::int64_t now = now_ms();
    // Members away long enough, per user the conversations with messages from
    // others that neither their read cursor nor an earlier digest covers.
    const auto due = db.exec(
        "SELECT u.id, u.name, u.email,"
        "       json_agg(json_build_object('conv', c.id, 'title', coalesce(c.title, ''), 'last_seq', c.last_seq,"
        "         'unread', (SELECT count(*) FROM (SELECT 1 FROM messages x WHERE x.conv_id = c.id"
        "                      AND x.seq > greatest(mb.read_seq, mb.emailed_seq) AND x.sender_id IS DISTINCT FROM u.id"
        "                      AND (x.type IS NULL OR x.type NOT IN ('edit', 'delete', 'reaction', 'unreaction'))"
        "                      LIMIT 1000) z)) ORDER BY c.id)"
        "  FROM users u"
        "  JOIN presence p ON p.user_id = u.id AND p.devices = 0 AND p.last_seen < $1"
        "  JOIN members mb ON mb.user_id = u.id"
        "  JOIN conversations c ON c.id = mb.conv_id"
        " WHERE u.email IS NOT NULL AND mb.notify <> 'none'"
        "   AND (mb.muted_until IS NULL OR mb.muted_until <= $2)"
        "   AND EXISTS (SELECT 1 FROM messages x WHERE x.conv_id = c.id AND x.seq > greatest(mb.read_seq, mb.emailed_seq)"
        "                 AND x.sender_id IS DISTINCT FROM u.id"
        "                 AND (x.type IS NULL OR x.type NOT IN ('edit', 'delete', 'reaction', 'unreaction')))"
        " GROUP BY u.id LIMIT 50",
        {std::to_string(now - std::int64_t(smtp_.delay_s) * 1000), std::to_string(now)});
    for (int i = 0; i < due.rows() && !stop_; ++i) {
        const std::string to = due.str(i, 2), convs = due.str(i, 3);
        std::string why;
        if (!smtp_send(smtp_, to, message(smtp_, to, due.str(i, 1), convs, now / 1000), why)) {
            log::warning() << "e-mail digest to " << due.str(i, 1) << " failed: " << why << "; will retry";
            bridge_metrics().emails.with({"digest", "retried"}).inc();
            continue;
        }
        // Covered up to what the digest counted.
        db.exec("UPDATE members mb SET emailed_seq = greatest(mb.emailed_seq, d.last_seq)"
                "  FROM json_to_recordset($2::json) AS d(conv bigint, last_seq bigint)"
                " WHERE mb.user_id = $1 AND mb.conv_id = d.conv",
                {due.str(i, 0), convs});
        log::info() << "e-mail digest sent to " << due.str(i, 1);
        bridge_metrics().emails.with({"digest", "sent"}).inc();
    }
}

} // namespace mqchat::bridge
