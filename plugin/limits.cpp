#include "limits.hpp"

#include <algorithm>
#include <string>

#include "directory.hpp"

namespace mqchat::plugin {

namespace {
constexpr std::int64_t second_ns = 1'000'000'000;
constexpr std::int64_t flood_window_ns = 10 * second_ns;
constexpr int notices_per_second = 100;

/// Counts an event in a fixed window; returns the count in the current window.
int bump(std::int64_t now_ns, std::int64_t length_ns, std::int64_t& start_ns, int& count) {
    if (now_ns - start_ns >= length_ns) {
        start_ns = now_ns;
        count = 0;
    }
    return ++count;
}
} // namespace

bool limits::allow_message(user_entry& user, std::int64_t now_ns) const {
    if (config_.rate_per_s <= 0) return true;
    const double burst = config_.rate_burst > 0 ? config_.rate_burst : config_.rate_per_s;
    if (user.rate_last_ns == 0) user.rate_tokens = burst;
    else user.rate_tokens = std::min(burst, user.rate_tokens + static_cast<double>(now_ns - user.rate_last_ns) *
                                                                 config_.rate_per_s / static_cast<double>(second_ns));
    user.rate_last_ns = now_ns;
    if (user.rate_tokens < 1.0) return false;
    user.rate_tokens -= 1.0;
    return true;
}

int limits::count_refusal(const std::string& client_id, std::int64_t now_ns) {
    if (refusals_.size() > 100000) refusals_.clear(); // forget the past rather than grow without end
    window& w = refusals_[client_id];
    return bump(now_ns, flood_window_ns, w.start_ns, w.count);
}

bool limits::allow_typing(user_entry& user, std::int64_t now_ns) const {
    if (config_.typing_per_s <= 0) return true;
    return bump(now_ns, second_ns, user.typing_window_ns, user.typing_count) <= config_.typing_per_s;
}

bool limits::may_notify(const std::string& user, std::int64_t now_ns) {
    if (notices_.size() > 100000) notices_.clear();
    window& w = notices_[user];
    return bump(now_ns, second_ns, w.start_ns, w.count) <= notices_per_second;
}

std::string limits::allow_knock(std::string_view address, std::string_view key_id, std::int64_t now_ns) {
    constexpr std::int64_t minute_ns = 60 * second_ns;
    // Windows of a minute: forgetting them all now and then costs at most
    // one minute's counts, and keeps a spray of addresses from growing memory.
    if (knocks_by_address_.size() > 100000) knocks_by_address_.clear();
    if (knocks_by_key_.size() > 10000) knocks_by_key_.clear();
    window& a = knocks_by_address_[std::string(address)];
    window& k = knocks_by_key_[std::string(key_id)];
    const int per_address = config_.knocks_per_minute_per_address, per_key = config_.knocks_per_minute_per_site_key;
    // Count against the address first: one noisy address must not use up a
    // whole site's allowance.
    if (per_address > 0 && bump(now_ns, minute_ns, a.start_ns, a.count) > per_address)
        return "more than " + std::to_string(per_address) + " visitor logins a minute from this address";
    if (per_key > 0 && bump(now_ns, minute_ns, k.start_ns, k.count) > per_key)
        return "more than " + std::to_string(per_key) + " visitor logins a minute with this site key";
    return "";
}

bool limits::acceptable_client_id(std::string_view id) const {
    if (id.empty() || id.size() > static_cast<std::size_t>(config_.max_client_id_length)) return false;
    for (char c : id)
        if (c < 0x21 || c > 0x7E || c == '/' || c == '+' || c == '#') return false;
    return true;
}

bool limits::admit(const mosquitto* client, const std::string& user, const std::string& client_id,
                   std::string* displaced, int elsewhere) {
    release(client); // a re-authentication of the same connection counts once
    int& n = per_user_[user];
    const auto same_id = by_client_id_.find(client_id);
    const std::string holder = same_id == by_client_id_.end() ? "" : admitted_.at(same_id->second).user;
    if (config_.max_connections_per_user > 0 && n + elsewhere >= config_.max_connections_per_user &&
        holder != user) {
        if (n == 0) per_user_.erase(user);
        return false;
    }
    ++n;
    admitted_[client] = {user, client_id};
    by_client_id_[client_id] = client;
    if (holder != user) {
        ++devices_[user];
        if (!holder.empty()) { // the broker is about to close the other user's connection
            if (--devices_[holder] <= 0) devices_.erase(holder);
            if (displaced) *displaced = holder;
        }
    }
    return true;
}

std::string limits::release(const mosquitto* client) {
    const auto it = admitted_.find(client);
    if (it == admitted_.end()) return "";
    std::string user = it->second.user;
    const auto u = per_user_.find(user);
    if (u != per_user_.end() && --u->second <= 0) per_user_.erase(u);
    const auto id = by_client_id_.find(it->second.client_id);
    const bool held = id != by_client_id_.end() && id->second == client;
    if (held) {
        by_client_id_.erase(id);
        if (--devices_[user] <= 0) devices_.erase(user);
    }
    admitted_.erase(it);
    return held ? user : "";
}

int limits::devices(const std::string& user) const {
    const auto it = devices_.find(user);
    return it == devices_.end() ? 0 : it->second;
}

int limits::connections(const std::string& user) const {
    const auto it = per_user_.find(user);
    return it == per_user_.end() ? 0 : it->second;
}

} // namespace mqchat::plugin
