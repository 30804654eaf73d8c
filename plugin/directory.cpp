#include "directory.hpp"

#include <algorithm>

namespace mqchat::plugin {

const user_entry* directory::find(std::string_view name) const {
    return const_cast<directory*>(this)->find(name);
}

user_entry* directory::find(std::string_view name) {
    if (const auto it = users_.find(name); it != users_.end()) return &it->second;
    if (guests_.empty()) return nullptr;
    const auto g = guests_.find(name);
    return g == guests_.end() ? nullptr : &g->second;
}

bool directory::share_conversation(const user_entry& a, const user_entry& b) const {
    const auto& small = a.convs.size() <= b.convs.size() ? a.convs : b.convs;
    const auto& large = a.convs.size() <= b.convs.size() ? b.convs : a.convs;
    for (const auto c : small)
        if (large.count(c)) return true;
    return false;
}

std::vector<std::string> directory::replace_all(const std::vector<user_record>& users) {
    std::unordered_set<std::string_view> present;
    for (const auto& u : users) present.insert(u.name);
    std::vector<std::string> gone;
    for (const auto& [name, entry] : users_)
        if (!present.count(name)) gone.push_back(name);
    for (const auto& name : gone) users_.erase(name);
    for (const auto& u : users) upsert(u);
    loaded_ = true;
    return gone;
}

void directory::upsert(const user_record& user) {
    user_entry& e = users_[user.name];
    // A stored digest fills in what memory lacks; memory may be newer (the
    // worker writes digests a moment after the login that made them).
    if (e.password_hash != user.password_hash || e.remembered.empty()) e.remembered = user.remembered;
    e.password_hash = user.password_hash;
    e.bridge = user.bridge;
    e.banned = user.banned;
    e.presence = user.presence;
    e.convs = std::unordered_set<std::int64_t>(user.convs.begin(), user.convs.end());
}

void directory::set_credentials(const std::string& name, const std::string& password_hash, bool bridge, bool banned) {
    user_entry& e = users_[name];
    if (e.password_hash != password_hash) e.remembered.clear();
    e.password_hash = password_hash;
    e.bridge = bridge;
    e.banned = banned;
}

bool directory::add_guest(const std::string& name, std::int64_t conv, std::int64_t until) {
    if (users_.count(name)) return false;
    user_entry& g = guests_[name];
    if (!g.site_key.empty()) return false; // a knock's name never gains a conversation
    g.guest = true;
    g.convs.insert(conv);
    g.guest_until = std::max(g.guest_until, until);
    return true;
}

bool directory::add_knock(const std::string& name, const std::string& key_id, std::int64_t until) {
    if (users_.count(name)) return false;
    const auto [it, fresh] = guests_.try_emplace(name);
    user_entry& k = it->second;
    if (!fresh && (k.site_key != key_id || !k.convs.empty())) return false;
    k.guest = true;
    k.site_key = key_id;
    k.guest_until = std::max(k.guest_until, until);
    return true;
}

std::vector<std::string> directory::expire_guests(std::int64_t now_s) {
    std::vector<std::string> gone;
    for (auto it = guests_.begin(); it != guests_.end();) {
        if (it->second.guest_until < now_s) {
            gone.push_back(it->first);
            it = guests_.erase(it);
        } else {
            ++it;
        }
    }
    return gone;
}

bool directory::remove(std::string_view name) {
    // A guest goes too (its row deleted by retention, or renamed by an erase).
    if (const auto g = guests_.find(name); g != guests_.end()) {
        guests_.erase(g);
        return true;
    }
    const auto it = users_.find(name);
    if (it == users_.end()) return false;
    users_.erase(it);
    return true;
}

void directory::add_member(std::int64_t conv, std::string_view name) {
    if (user_entry* e = find(name)) e->convs.insert(conv);
}

void directory::remove_member(std::int64_t conv, std::string_view name) {
    if (user_entry* e = find(name)) e->convs.erase(conv);
}

} // namespace mqchat::plugin
