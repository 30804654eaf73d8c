#include "deferred_writer.hpp"

#include <algorithm>
#include <chrono>

#include "common/pg.hpp"
#include "common/log.hpp"

namespace mqchat::bridge {

deferred_writer::deferred_writer(message_store& store, std::size_t max_pending)
    : store_(store), max_pending_(max_pending), thread_([this] { run(); }) {}

deferred_writer::~deferred_writer() {
    {
        std::lock_guard lock(mutex_);
        stop_ = true;
    }
    wake_.notify_all();
    thread_.join();
}

void deferred_writer::add_receipt(std::int64_t conv, const std::string& user, const receipt& r) {
    std::lock_guard lock(mutex_);
    merge_receipt({conv, user}, r);
}

void deferred_writer::merge_receipt(const std::pair<std::int64_t, std::string>& key, const receipt& r) {
    if (receipts_.size() >= max_pending_ && !receipts_.count(key)) return;
    receipt& latest = receipts_[key];
    latest.delivered = std::max(latest.delivered, r.delivered); // cursors only move forward
    latest.read = std::max(latest.read, r.read);
}

void deferred_writer::add_presence(const std::string& user, const presence_record& p) {
    std::lock_guard lock(mutex_);
    if (presence_.size() >= max_pending_ && !presence_.count(user)) return;
    presence_[user] = p;
}

void deferred_writer::add_pushes(const std::vector<message_ref>& stored) {
    std::lock_guard lock(mutex_);
    const std::size_t room = max_pending_ > pushes_.size() ? max_pending_ - pushes_.size() : 0;
    pushes_.insert(pushes_.end(), stored.begin(), stored.begin() + static_cast<std::ptrdiff_t>(std::min(room, stored.size())));
}

void deferred_writer::add_published(const std::map<std::int64_t, std::int64_t>& conv_seq) {
    std::lock_guard lock(mutex_);
    merge_published(conv_seq);
}

void deferred_writer::merge_published(const std::map<std::int64_t, std::int64_t>& conv_seq) {
    // Not bounded by max_pending: one entry per conversation, and dropping
    // one would only mean a larger republish.
    for (const auto& [conv, seq] : conv_seq) {
        auto& latest = published_[conv];
        latest = std::max(latest, seq);
    }
}

bool deferred_writer::stopping() {
    std::lock_guard lock(mutex_);
    return stop_;
}

bool deferred_writer::nothing_pending() const {
    return receipts_.empty() && presence_.empty() && pushes_.empty() && published_.empty();
}

void deferred_writer::put_back(const std::map<std::pair<std::int64_t, std::string>, receipt>& receipts,
                               std::map<std::string, presence_record>& presence,
                               const std::vector<message_ref>& pushes,
                               const std::map<std::int64_t, std::int64_t>& published) {
    merge_published(published);
    for (const auto& [key, r] : receipts) merge_receipt(key, r);
    for (auto& [user, p] : presence)
        if (presence_.size() < max_pending_) presence_.emplace(user, p); // keeps a newer one
    const std::size_t room = max_pending_ > pushes_.size() ? max_pending_ - pushes_.size() : 0;
    pushes_.insert(pushes_.begin(), pushes.begin(), pushes.begin() + static_cast<std::ptrdiff_t>(std::min(room, pushes.size())));
}

void deferred_writer::run() {
    int backoff_ms = 100;
    bool warned = false;
    while (true) {
        std::map<std::pair<std::int64_t, std::string>, receipt> receipts;
        std::map<std::string, presence_record> presence;
        std::vector<message_ref> pushes;
        std::map<std::int64_t, std::int64_t> published;
        {
            std::unique_lock lock(mutex_);
            // About ten times a second: many receipts and presence updates
            // of one member fold into one row, many messages into one push statement.
            wake_.wait_for(lock, std::chrono::milliseconds(backoff_ms), [this] { return stop_; });
            receipts.swap(receipts_);
            presence.swap(presence_);
            pushes.swap(pushes_);
            published.swap(published_);
            if (stop_ && receipts.empty() && presence.empty() && pushes.empty() && published.empty()) return;
        }
        if (receipts.empty() && presence.empty() && pushes.empty() && published.empty()) continue;
        try {
            // Each step clears what it wrote, so a failure puts back only the rest.
            store_.store_receipts(receipts);
            receipts.clear();
            store_.store_presence(presence);
            presence.clear();
            if (!pushes.empty()) store_.queue_push(pushes);
            pushes.clear();
            store_.mark_published(published); // after the pushes: see the header
            published.clear();
            if (warned) log::info() << "receipts, presence, pushes and published seqs are stored again";
            warned = false;
            backoff_ms = 100;
        } catch (const pg::error& e) {
            if (!warned)
                log::warning() << "could not store receipts, presence, pushes or published seqs yet: " << e.what();
            warned = true;
            backoff_ms = std::min(backoff_ms * 2, 5000);
            if (stopping()) return; // the database is away and the bridge stops: nothing here is owed to anyone
            std::lock_guard lock(mutex_);
            put_back(receipts, presence, pushes, published);
        }
        {
            std::lock_guard lock(mutex_);
            if (stop_ && nothing_pending()) return;
        }
    }
}

} // namespace mqchat::bridge
