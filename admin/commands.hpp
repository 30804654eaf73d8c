#pragma once
/// The admin tool's commands. Each one validates its input, does its work in
/// one transaction and throws admin::failure with a message for people.

#include <cstdint>
#include <iosfwd>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/pg.hpp"

namespace mqchat::admin {

struct failure : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// Applies every migration not yet recorded, in order. Safe to run twice and
/// from two places at once (an advisory lock serialises it).
void migrate(pg::connection& db, std::ostream& out);

/// `role`: "user", "bridge" (the bridge's identity) or "bot" (an assistant, docs/assistant.md).
void user_add(pg::connection& db, const std::string& name, const std::string& password,
              const std::string& role, std::ostream& out);
void user_del(pg::connection& db, const std::string& name, std::ostream& out);
/// Bans or lifts a ban; a banned user's clients are disconnected at once.
void user_ban(pg::connection& db, const std::string& name, bool banned, std::ostream& out);

struct token_options {
    std::string secret_file; ///< the plugin's plugin_opt_jwt_hs256_secret_file
    std::int64_t ttl_s = 3600;
    std::string issuer, audience;
};
/// Mints an HS256 token for a registered user; the token is the last word printed.
void user_token(pg::connection& db, const std::string& name, const token_options& t, std::ostream& out);
/// Mints a guest token for one conversation (a support visitor). `name`
/// empty: guest-<random>. The token is the last word printed.
void guest_token(pg::connection& db, const std::string& conv, std::string name, const token_options& t,
                 std::ostream& out);

/// Prints "created conversation <id>"; the id is the last word.
void conv_create(pg::connection& db, const std::string& title,
                 const std::vector<std::string>& members, std::ostream& out);
void conv_add_member(pg::connection& db, const std::string& conv, const std::string& name,
                     std::ostream& out);
void conv_remove_member(pg::connection& db, const std::string& conv, const std::string& name,
                        std::ostream& out);
void conv_list(pg::connection& db, const std::string& name, std::ostream& out);

/// Switches full-text search to another text search configuration: the
/// insert trigger, the stored vectors and the setting (schema/006_search.sql).
void search_language(pg::connection& db, const std::string& config, std::ostream& out);

} // namespace mqchat::admin
