#include "directory_sync.hpp"

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <fcntl.h>
#include <poll.h>
#include <sodium.h>
#include <unistd.h>

#include <charconv>
#include <sstream>

#include "common/pg.hpp"
#include "directory_lookup.hpp"

namespace mqchat::plugin {

directory_sync::directory_sync(std::string conninfo, worker_status& status, std::function<void()> on_news)
    : conninfo_(std::move(conninfo)), status_(status), on_news_(std::move(on_news)) {
    if (pipe(wake_) != 0 || pipe2(flush_, O_NONBLOCK) != 0)
        throw std::runtime_error("cannot create a pipe for the directory worker");
}

directory_sync::~directory_sync() {
    stop();
    close(wake_[0]);
    close(wake_[1]);
    close(flush_[0]);
    close(flush_[1]);
}

void directory_sync::start() { thread_ = std::thread([this] { run(); }); }

void directory_sync::stop() {
    if (!thread_.joinable()) return;
    stop_ = true;
    const char b = 1;
    [[maybe_unused]] const auto n = write(wake_[1], &b, 1);
    thread_.join();
}

std::vector<directory_change> directory_sync::take() {
    std::vector<directory_change> out;
    std::lock_guard lock(mutex_);
    out.swap(queue_);
    return out;
}

void directory_sync::push(directory_change change) {
    {
        std::lock_guard lock(mutex_);
        queue_.push_back(std::move(change));
    }
    on_news_();
}

void directory_sync::log(int level, std::string text) {
    directory_change c;
    c.what = directory_change::kind::log;
    c.log_level = level;
    c.log_text = std::move(text);
    push(std::move(c));
}

void directory_sync::remember_login(std::string name, std::string digest) {
    {
        std::lock_guard lock(mutex_);
        if (logins_.size() >= 100000) return; // the database is away; these are only a shortcut
        logins_.emplace_back(std::move(name), std::move(digest));
    }
    const char one = 1;
    if (write(flush_[1], &one, 1) < 0) { /* the pipe is full: the worker is already woken */ }
}

void directory_sync::store_logins(pg::connection& db) {
    char drain[256];
    while (read(flush_[0], drain, sizeof drain) > 0) {
    }
    std::vector<std::pair<std::string, std::string>> batch;
    {
        std::lock_guard lock(mutex_);
        batch.swap(logins_);
    }
    if (batch.empty()) return;
    std::string hex;
    db.exec("BEGIN");
    for (const auto& [name, digest] : batch) {
        hex.assign(digest.size() * 2 + 1, '\0');
        sodium_bin2hex(hex.data(), hex.size(), reinterpret_cast<const unsigned char*>(digest.data()), digest.size());
        hex.pop_back();
        db.exec("INSERT INTO login_digests (user_id, digest)"
                " SELECT id, decode($2, 'hex') FROM users WHERE name = $1"
                " ON CONFLICT (user_id) DO UPDATE SET digest = excluded.digest, updated_at = now()",
                {name, hex});
    }
    db.exec("COMMIT");
}

void directory_sync::run() {
    int backoff_ms = 200;
    bool warned = false;
    while (!stop_) {
        bool reached = false;
        try {
            if (!session(reached)) return;
        } catch (const std::exception& e) {
            status_.directory_healthy = false;
            if (reached) { // it worked for a while: start the backoff afresh
                warned = false;
                backoff_ms = 200;
            }
            if (!warned)
                log(MOSQ_LOG_WARNING, std::string("mqchat: database unavailable, retrying: ") + e.what());
            warned = true;
        }
        pollfd p{wake_[0], POLLIN, 0};
        if (poll(&p, 1, backoff_ms) > 0 || stop_) return;
        backoff_ms = std::min(backoff_ms * 2, 5000);
    }
}

void directory_sync::handle_notification(pg::connection& db, const std::string& payload) {
    std::istringstream in(payload);
    std::string verb;
    in >> verb;
    directory_change c;
    if (verb == "user+") {
        std::string role, banned;
        in >> c.user.name >> role >> c.user.password_hash >> banned;
        c.user.bridge = role == "bridge";
        c.user.banned = banned == "t";
        c.what = directory_change::kind::upsert_credentials;
    } else if (verb == "user-") {
        in >> c.name;
        c.what = directory_change::kind::remove_user;
    } else if (verb == "user") {
        in >> c.name;
        const auto r = db.exec(std::string(user_select_sql) + " AND u.name = $1 GROUP BY u.id", {c.name});
        if (r.rows() == 1) {
            c.what = directory_change::kind::upsert_user;
            c.user = user_from_row(r, 0);
        } else {
            c.what = directory_change::kind::remove_user;
        }
    } else if (verb == "member+" || verb == "member-") {
        in >> c.conv >> c.name >> c.version;
        c.what = verb == "member+" ? directory_change::kind::add_member : directory_change::kind::remove_member;
    } else {
        return;
    }
    push(std::move(c));
}

bool directory_sync::session(bool& reached) {
    pg::connection db(conninfo_);
    reached = true;
    db.exec("SET application_name = 'mqchat-plugin-directory'"); // for operators' pg_stat_activity
    db.exec("LISTEN mqchat_directory");

    // LISTEN first, then load: a change made during the load is both in the
    // load and in a notification, and applying it twice is harmless.
    // One snapshot for the users and the membership version they reflect.
    db.exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    const auto all = db.exec(std::string(user_select_sql) + " GROUP BY u.id");
    const std::int64_t version = db.exec("SELECT coalesce(max(members_version), 0) FROM conversations").int64(0, 0);
    const auto online = db.exec("SELECT u.name FROM presence p JOIN users u ON u.id = p.user_id WHERE p.devices > 0");
    db.exec("COMMIT");
    auto snapshot = std::make_shared<std::vector<user_record>>();
    snapshot->reserve(static_cast<std::size_t>(all.rows()));
    for (int i = 0; i < all.rows(); ++i) snapshot->push_back(user_from_row(all, i));
    status_.directory_healthy = true;
    {
        directory_change c;
        c.what = directory_change::kind::snapshot;
        c.snapshot = snapshot;
        c.version = version;
        for (int i = 0; i < online.rows(); ++i) c.names.push_back(online.str(i, 0));
        push(std::move(c));
    }
    log(MOSQ_LOG_INFO, "mqchat: loaded " + std::to_string(snapshot->size()) +
                           " users from the database; following changes");

    while (!stop_) {
        // Notifications may already sit in libpq's buffer (read during the
        // load or a re-query), so drain before waiting on the socket.
        while (PGnotify* n = PQnotifies(db.get())) {
            const std::string payload = n->extra;
            PQfreemem(n);
            handle_notification(db, payload);
        }
        pollfd fds[3] = {{db.socket(), POLLIN, 0}, {wake_[0], POLLIN, 0}, {flush_[0], POLLIN, 0}};
        const int ready = poll(fds, 3, 30000);
        if (ready < 0) continue;
        if (fds[1].revents) return false;
        if (fds[2].revents) {
            store_logins(db);
            continue;
        }
        if (ready == 0) {
            db.exec("SELECT 1"); // an idle check that notices a dead server
            continue;
        }
        if (PQconsumeInput(db.get()) == 0) throw pg::broken_connection(PQerrorMessage(db.get()));
    }
    return false;
}

} // namespace mqchat::plugin
