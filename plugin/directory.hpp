#pragma once
/// Users and memberships, in memory, owned by the broker's thread.
///
/// Every auth and ACL decision is a lookup here: ACL_CHECK runs once per
/// subscriber per message, so nothing on that path may touch the network.
/// directory_sync keeps it current from PostgreSQL.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace mqchat::plugin {

/// A user as loaded from the database.
/// A user's presence settings: status online / away / busy, a status text,
/// and whether others see when it was last online.
struct presence_choice {
    std::string status = "online";
    std::string text;
    bool hide_last_seen = false;
    bool operator==(const presence_choice& o) const {
        return status == o.status && text == o.text && hide_last_seen == o.hide_last_seen;
    }
};

struct user_record {
    std::string name;
    std::string password_hash;
    bool bridge = false;
    bool banned = false;
    std::vector<std::int64_t> convs;
    /// A stored login digest (table login_digests), or empty.
    std::string remembered = {};
    /// What the user chose for presence (table presence_settings).
    presence_choice presence = {};
};

struct user_entry {
    std::string password_hash;
    bool bridge = false;
    bool banned = false;
    /// A visitor with a guest token: no password, one conversation, gone
    /// when its last token expires (guest_until, seconds since the epoch).
    bool guest = false;
    std::int64_t guest_until = 0;
    /// A web visitor knocking with a site key (the key's id): it may read
    /// its inbox and ask desk.visit, nothing else. Empty for everyone else.
    std::string site_key;
    /// Token bucket of limits::allow_message.
    double rate_tokens = 0;
    std::int64_t rate_last_ns = 0;
    /// Window of limits::allow_typing: when the current second began, and
    /// how many typing messages it has had.
    std::int64_t typing_window_ns = 0;
    int typing_count = 0;
    std::unordered_set<std::int64_t> convs;
    /// Digest of the last password that passed the KDF (password::remember_digest),
    /// so a reconnect costs a hash, not an Argon2 run. Cleared when the hash changes.
    std::string remembered;
    presence_choice presence;
};

class directory {
public:
    bool loaded() const { return loaded_; }

    const user_entry* find(std::string_view name) const;
    user_entry* find(std::string_view name);

    bool is_member(const user_entry& user, std::int64_t conv) const { return user.convs.count(conv) != 0; }
    /// True when the two users share at least one conversation.
    bool share_conversation(const user_entry& a, const user_entry& b) const;

    /// Replaces everything with a fresh load. Returns the names that vanished.
    std::vector<std::string> replace_all(const std::vector<user_record>& users);
    void upsert(const user_record& user);
    /// Adds the user (with no conversations) or changes password, role and
    /// ban, keeping memberships.
    void set_credentials(const std::string& name, const std::string& password_hash, bool bridge, bool banned);

    /// Adds or extends a guest in one conversation until `until`. False if a
    /// registered user has that name.
    bool add_guest(const std::string& name, std::int64_t conv, std::int64_t until);
    /// Adds a visitor knocking with site key `key_id` until `until`, with no
    /// conversation. False if the name is taken (by a user, a guest, or a
    /// knock with another key): a knock never inherits anyone's access.
    bool add_knock(const std::string& name, const std::string& key_id, std::int64_t until);
    /// Drops guests whose tokens have all expired; returns their names.
    std::vector<std::string> expire_guests(std::int64_t now_s);
    bool has_guests() const { return !guests_.empty(); }
    /// Returns true if the user existed.
    bool remove(std::string_view name);
    void add_member(std::int64_t conv, std::string_view name);
    void remove_member(std::int64_t conv, std::string_view name);

    std::size_t size() const { return users_.size(); }

private:
    struct name_hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };
    std::unordered_map<std::string, user_entry, name_hash, std::equal_to<>> users_;
    /// Kept apart so a reload of registered users never touches them.
    std::unordered_map<std::string, user_entry, name_hash, std::equal_to<>> guests_;
    bool loaded_ = false;
};

} // namespace mqchat::plugin
