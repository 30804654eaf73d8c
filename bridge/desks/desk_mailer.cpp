#include "desk_mailer.hpp"

#include <chrono>
#include <memory>

#include "common/pg.hpp"
#include "common/log.hpp"
#include "observe/bridge_metrics.hpp"

namespace mqchat::bridge {

namespace {
constexpr int max_attempts = 8;

std::int64_t now_s() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}
} // namespace

desk_mailer::desk_mailer(std::string conninfo, smtp_settings smtp)
    : conninfo_(std::move(conninfo)), smtp_(std::move(smtp)), thread_([this] { run(); }) {}

desk_mailer::~desk_mailer() {
    stop_ = true;
    thread_.join();
}

void desk_mailer::run() {
    std::unique_ptr<pg::connection> db;
    while (!stop_) {
        try {
            if (!db) {
                db = std::make_unique<pg::connection>(conninfo_);
                db->exec("SET application_name = 'mqchat-bridge-desk-mail'");
            }
            const auto due = db->exec(
                "UPDATE desk_mail SET next_attempt_at = now() + interval '5 minutes', attempts = attempts + 1"
                " WHERE id IN (SELECT id FROM desk_mail WHERE next_attempt_at <= now() ORDER BY id LIMIT 20"
                "              FOR UPDATE SKIP LOCKED)"
                " RETURNING id, kind, recipient, coalesce(reply_to, ''), subject, body, attempts");
            for (int i = 0; i < due.rows() && !stop_; ++i) {
                const std::string id = due.str(i, 0), kind = due.str(i, 1), to = due.str(i, 2);
                std::string why;
                if (smtp_send(smtp_, to, mail_text(smtp_, to, due.str(i, 4), due.str(i, 5), now_s(), due.str(i, 3)), why)) {
                    db->exec("DELETE FROM desk_mail WHERE id = $1", {id});
                    log::info() << "desk mail " << id << " (" << kind << ") sent";
                    bridge_metrics().emails.with({"desk", "sent"}).inc();
                } else if (due.int64(i, 6) >= max_attempts) {
                    db->exec("DELETE FROM desk_mail WHERE id = $1", {id});
                    log::warning() << "desk mail " << id << " (" << kind << ") dropped after " << max_attempts
                              << " attempts: " << why;
                    bridge_metrics().emails.with({"desk", "failed"}).inc();
                } else {
                    // 10 s, 20 s, 40 s … doubling.
                    db->exec("UPDATE desk_mail SET next_attempt_at = now() + make_interval(secs => 10 * 2 ^ (attempts - 1))"
                             " WHERE id = $1",
                             {id});
                    log::warning() << "desk mail " << id << " (" << kind << ") failed: " << why << "; will retry";
                    bridge_metrics().emails.with({"desk", "retried"}).inc();
                }
            }
        } catch (const pg::error& e) {
            log::warning() << "desk mail: database unavailable (" << e.what() << "); retrying";
            db.reset();
        }
        for (int i = 0; i < 10 && !stop_; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
}

} // namespace mqchat::bridge
