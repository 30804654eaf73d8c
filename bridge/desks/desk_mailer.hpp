#pragma once
/// Sends the support desks' mail (schema/016_desk_mail.sql): visitors'
/// offline messages to the desk's address and transcripts to visitors. A
/// thread of its own with its own database connection, started only when
/// the bridge has smtp_url; until then the mail waits in its table.
///
/// A mail is claimed (its next attempt moved five minutes on) before it is
/// sent and deleted once sent: a bridge that dies mid-send sends that one
/// again five minutes later (at least once, never lost). A refused or failed
/// send is retried with backoff, 8 attempts in all, then dropped and logged.

#include <atomic>
#include <string>
#include <thread>

#include "email/smtp.hpp"

namespace mqchat::bridge {

class desk_mailer {
public:
    desk_mailer(std::string conninfo, smtp_settings smtp);
    ~desk_mailer();
    desk_mailer(const desk_mailer&) = delete;
    desk_mailer& operator=(const desk_mailer&) = delete;

private:
    void run();

    std::string conninfo_;
    smtp_settings smtp_;
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

} // namespace mqchat::bridge
