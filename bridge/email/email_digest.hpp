#pragma once
/// E-mail digests for members who stay away: every few seconds, members
/// offline for longer than the configured delay, with unread messages they
/// were not mailed about yet, get one e-mail (SMTP through libcurl) listing
/// the conversations and how many messages wait in each. Muted
/// conversations and those set to "none" are left out. members.emailed_seq
/// records what a digest covered, so the same messages are never mailed twice.

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "common/pg.hpp"
#include "smtp.hpp"

namespace mqchat::bridge {


class email_digest {
public:
    email_digest(std::string conninfo, smtp_settings smtp);
    ~email_digest();
    void start();
    void stop();

    /// The text of a digest (headers and body) for a user; exposed for tests.
    static std::string message(const smtp_settings& smtp, const std::string& to, const std::string& user,
                               const std::string& conversations_json, std::int64_t now_s);

private:
    void run();
    void round(pg::connection& db);

    std::string conninfo_;
    smtp_settings smtp_;
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

} // namespace mqchat::bridge
