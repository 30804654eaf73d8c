#include "member_state_writer.hpp"

#include <algorithm>
#include <chrono>
#include <iostream>

#include "common/pg.hpp"

namespace mqchat::bridge {

member_state_writer::member_state_writer(message_store& store, std::size_t max_pending)
    : store_(store), max_pending_(max_pending), thread_([this] { run(); }) {}

member_state_writer::~member_state_writer() {
    {
        std::lock_guard lock(mutex_);
        stop_ = true;
    }
    wake_.notify_all();
    thread_.join();
}

void member_state_writer::add_receipt(std::int64_t conv, const std::string& user, const receipt& r) {
    std::lock_guard lock(mutex_);
    merge_receipt({conv, user}, r);
}

void member_state_writer::merge_receipt(const std::pair<std::int64_t, std::string>& key, const receipt& r) {
    if (receipts_.size() >= max_pending_ && !receipts_.count(key)) return;
    receipt& latest = receipts_[key];
    latest.delivered = std::max(latest.delivered, r.delivered); // cursors only move forward
    latest.read = std::max(latest.read, r.read);
}

void member_state_writer::add_presence(const std::string& user, const presence_record& p) {
    std::lock_guard lock(mutex_);
    if (presence_.size() >= max_pending_ && !presence_.count(user)) return;
    presence_[user] = p;
}

bool member_state_writer::stopping() {
    std::lock_guard lock(mutex_);
    return stop_;
}

void member_state_writer::run() {
    int backoff_ms = 100;
    bool warned = false;
    while (true) {
        std::map<std::pair<std::int64_t, std::string>, receipt> receipts;
        std::map<std::string, presence_record> presence;
        {
            std::unique_lock lock(mutex_);
            // About ten times a second: many receipts and presence updates
            // of one member fold into one row.
            wake_.wait_for(lock, std::chrono::milliseconds(backoff_ms), [this] { return stop_; });
            receipts.swap(receipts_);
            presence.swap(presence_);
            if (stop_ && receipts.empty() && presence.empty()) return;
        }
        if (receipts.empty() && presence.empty()) continue;
        try {
            store_.store_receipts(receipts);
            receipts.clear();
            store_.store_presence(presence);
            presence.clear();
            if (warned) std::cout << "mqchat-bridge: receipts and presence are stored again" << std::endl;
            warned = false;
            backoff_ms = 100;
        } catch (const pg::error& e) {
            if (!warned) std::cerr << "mqchat-bridge: could not store receipts and presence yet: " << e.what() << std::endl;
            warned = true;
            backoff_ms = std::min(backoff_ms * 2, 5000);
            if (stopping()) return; // the database is away and the bridge stops: nothing here is owed to anyone
            // Put them back under what has arrived since: newer presence wins, cursors take the maximum.
            std::lock_guard lock(mutex_);
            for (const auto& [key, r] : receipts) merge_receipt(key, r);
            for (auto& [user, p] : presence)
                if (presence_.size() < max_pending_) presence_.emplace(user, p); // keeps a newer one
        }
        {
            std::lock_guard lock(mutex_);
            if (stop_ && receipts_.empty() && presence_.empty()) return;
        }
    }
}

} // namespace mqchat::bridge
