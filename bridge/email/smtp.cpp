#include "smtp.hpp"

#include <curl/curl.h>
#include <sodium.h>

#include <algorithm>
#include <cstring>
#include <ctime>

namespace mqchat::bridge {

namespace {

struct upload {
    const std::string& text;
    std::size_t at = 0;
};

std::size_t read_text(char* buffer, std::size_t size, std::size_t n, void* userp) {
    auto* u = static_cast<upload*>(userp);
    const std::size_t len = std::min(size * n, u->text.size() - u->at);
    std::memcpy(buffer, u->text.data() + u->at, len);
    u->at += len;
    return len;
}

std::string one_line(std::string v) {
    v.erase(std::remove_if(v.begin(), v.end(), [](char c) { return c == '\r' || c == '\n'; }), v.end());
    return v;
}

std::string encoded_subject(const std::string& subject) {
    const std::string s = one_line(subject);
    if (std::all_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; })) return s;
    std::string b64(sodium_base64_encoded_len(s.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
    sodium_bin2base64(b64.data(), b64.size(), reinterpret_cast<const unsigned char*>(s.data()), s.size(),
                      sodium_base64_VARIANT_ORIGINAL);
    b64.resize(std::strlen(b64.c_str()));
    return "=?UTF-8?B?" + b64 + "?=";
}

std::string crlf(const std::string& body) {
    std::string out;
    out.reserve(body.size() + body.size() / 40);
    for (std::size_t i = 0; i < body.size(); ++i) {
        if (body[i] == '\r') continue;
        if (body[i] == '\n') out += "\r\n";
        else out += body[i];
    }
    return out;
}

} // namespace

bool smtp_send(const smtp_settings& smtp, const std::string& to, const std::string& text, std::string& why) {
    CURL* curl = curl_easy_init();
    if (!curl) {
        why = "curl_easy_init failed";
        return false;
    }
    upload u{text};
    std::string recipient = "<";
    recipient += one_line(to);
    recipient += ">";
    curl_slist* rcpt = curl_slist_append(nullptr, recipient.c_str());
    curl_easy_setopt(curl, CURLOPT_URL, smtp.url.c_str());
    curl_easy_setopt(curl, CURLOPT_MAIL_FROM, ("<" + smtp.from + ">").c_str());
    curl_easy_setopt(curl, CURLOPT_MAIL_RCPT, rcpt);
    curl_easy_setopt(curl, CURLOPT_READFUNCTION, read_text);
    curl_easy_setopt(curl, CURLOPT_READDATA, &u);
    curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    if (!smtp.username.empty()) {
        curl_easy_setopt(curl, CURLOPT_USERNAME, smtp.username.c_str());
        curl_easy_setopt(curl, CURLOPT_PASSWORD, smtp.password.c_str());
        curl_easy_setopt(curl, CURLOPT_USE_SSL, static_cast<long>(CURLUSESSL_ALL)); // never send a password in clear
    }
    if (!smtp.ca_file.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, smtp.ca_file.c_str());
    const CURLcode rc = curl_easy_perform(curl);
    if (rc != CURLE_OK) why = curl_easy_strerror(rc);
    curl_slist_free_all(rcpt);
    curl_easy_cleanup(curl);
    return rc == CURLE_OK;
}

std::string mail_text(const smtp_settings& smtp, const std::string& to, const std::string& subject,
                      const std::string& body, std::int64_t now_s, const std::string& reply_to) {
    char date[64];
    const std::time_t t = static_cast<std::time_t>(now_s);
    std::tm tm{};
    gmtime_r(&t, &tm);
    std::strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
    std::string text = "Date: " + std::string(date) + "\r\nFrom: " + one_line(smtp.from) + "\r\nTo: " + one_line(to) +
                       "\r\nSubject: " + encoded_subject(subject) + "\r\n";
    if (!reply_to.empty()) text += "Reply-To: " + one_line(reply_to) + "\r\n";
    text += "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n"
            "Auto-Submitted: auto-generated\r\n\r\n" +
            crlf(body);
    if (text.size() < 2 || text.compare(text.size() - 2, 2, "\r\n") != 0) text += "\r\n";
    return text;
}

} // namespace mqchat::bridge
