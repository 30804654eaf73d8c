#pragma once
/// Sending one e-mail over SMTP (libcurl), and writing its text: what the
/// digests (email_digest) and the support desks' mail (desks/desk_mailer)
/// share.

#include <cstdint>
#include <string>

namespace mqchat::bridge {

struct smtp_settings {
    std::string url;  ///< smtp://host:port or smtps://host:port
    std::string from; ///< the sender address
    std::string username, password; ///< optional SMTP AUTH
    std::string ca_file;            ///< optional, for smtps with a private CA
    int delay_s = 3600;             ///< digests: offline this long before one
};

/// Sends `text` (headers and body, CRLF line ends) to one address; false and
/// `why` when the server refused it or could not be reached (30 s at most).
bool smtp_send(const smtp_settings& smtp, const std::string& to, const std::string& text, std::string& why);

/// A plain-text UTF-8 message from smtp.from. Header values lose any CR or
/// LF (no header can be injected through a subject or an address), a
/// subject that is not ASCII is encoded (RFC 2047), and the body's line ends
/// become CRLF. `reply_to` empty: no Reply-To.
std::string mail_text(const smtp_settings& smtp, const std::string& to, const std::string& subject,
                      const std::string& body, std::int64_t now_s, const std::string& reply_to = "");

} // namespace mqchat::bridge
