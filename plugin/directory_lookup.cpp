#include "directory_lookup.hpp"

#include <sodium.h>

#include <mosquitto.h>
#include <mosquitto_broker.h>

#include <charconv>

namespace mqchat::plugin {

namespace {
constexpr auto reconnect_pause = std::chrono::seconds(5);
} // namespace

const char* const user_select_sql =
    "SELECT u.name, u.password_hash, u.role = 'bridge', u.banned,"
    "       coalesce(string_agg(m.conv_id::text, ','), ''),"
    "       coalesce((SELECT encode(d.digest, 'hex') FROM login_digests d WHERE d.user_id = u.id), ''),"
    "       coalesce((SELECT ps.status || ' ' || ps.hide_last_seen::int || ' ' || ps.status_text"
    "                   FROM presence_settings ps WHERE ps.user_id = u.id), '')"
    "  FROM users u LEFT JOIN members m ON m.user_id = u.id"
    " WHERE u.role <> 'guest'";

user_record user_from_row(const pg::result& r, int row) {
    user_record u{r.str(row, 0), r.str(row, 1), r.boolean(row, 2), r.boolean(row, 3), {}};
    std::string_view csv = r.text(row, 4);
    while (!csv.empty()) {
        const auto comma = csv.find(',');
        const std::string_view part = csv.substr(0, comma);
        std::int64_t v = 0;
        std::from_chars(part.data(), part.data() + part.size(), v);
        if (v > 0) u.convs.push_back(v);
        if (comma == std::string_view::npos) break;
        csv.remove_prefix(comma + 1);
    }
    const std::string_view hex = r.text(row, 5);
    std::string digest(hex.size() / 2, '\0');
    std::size_t got = 0;
    if (sodium_hex2bin(reinterpret_cast<unsigned char*>(digest.data()), digest.size(), hex.data(), hex.size(), nullptr,
                       &got, nullptr) == 0 && got == digest.size())
        u.remembered = std::move(digest);
    // "<status> <0|1> <text>", or empty for the defaults.
    const std::string_view choice = r.text(row, 6);
    if (!choice.empty()) {
        const auto a = choice.find(' '), b = choice.find(' ', a + 1);
        u.presence.status = std::string(choice.substr(0, a));
        u.presence.hide_last_seen = choice.substr(a + 1, b - a - 1) == "1";
        u.presence.text = std::string(choice.substr(b + 1));
    }
    return u;
}

pg::connection* directory_lookup::db() {
    if (db_) return db_.get();
    if (std::chrono::steady_clock::now() < retry_after_) return nullptr;
    try {
        db_ = std::make_unique<pg::connection>(conninfo_);
        // Bound the time the broker's thread can spend here.
        db_->exec("SET statement_timeout = 500");
    } catch (const pg::error& e) {
        retry_after_ = std::chrono::steady_clock::now() + reconnect_pause;
        mosquitto_log_printf(MOSQ_LOG_WARNING, "mqchat: direct user lookup unavailable: %s", e.what());
        db_.reset();
    }
    return db_.get();
}

template <class Fn>
auto directory_lookup::guarded_query(Fn&& fn) -> std::optional<decltype(fn(std::declval<pg::connection&>()))> {
    pg::connection* c = db();
    if (!c) return std::nullopt;
    try {
        return fn(*c);
    } catch (const pg::error& e) {
        mosquitto_log_printf(MOSQ_LOG_WARNING, "mqchat: direct user lookup failed: %s", e.what());
        db_.reset();
        retry_after_ = std::chrono::steady_clock::now() + reconnect_pause;
        return std::nullopt;
    }
}

std::optional<user_record> directory_lookup::user(const std::string& name, bool& answered) {
    auto r = guarded_query([&](pg::connection& c) {
        const auto res = c.exec(std::string(user_select_sql) + " AND u.name = $1 GROUP BY u.id", {name});
        return res.rows() == 1 ? std::optional<user_record>(user_from_row(res, 0)) : std::nullopt;
    });
    answered = r.has_value();
    return r ? *r : std::nullopt;
}

std::optional<bool> directory_lookup::is_member(const std::string& name, std::int64_t conv) {
    return guarded_query([&](pg::connection& c) {
        return c.exec("SELECT 1 FROM members m JOIN users u ON u.id = m.user_id"
                      " WHERE u.name = $1 AND m.conv_id = $2",
                      {name, std::to_string(conv)})
                   .rows() == 1;
    });
}

} // namespace mqchat::plugin
