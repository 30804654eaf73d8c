#include "directory_lookup.hpp"

#include <sodium.h>

#include <mosquitto.h>
#include <mosquitto_broker.h>

#include <charconv>
#include <memory>


namespace mqchat::plugin {

namespace {
/// After a failed connect, questions are given up at once for this long.
constexpr auto reconnect_pause = std::chrono::seconds(2);
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

directory_lookup::directory_lookup(std::string conninfo, worker_status& status, std::function<void()> on_news)
    : conninfo_(std::move(conninfo)), status_(status), on_news_(std::move(on_news)) {}

directory_lookup::~directory_lookup() {
    if (thread_.joinable()) thread_.detach(); // only when never stopped: the worker holds no reference then
}

void directory_lookup::start() {
    thread_ = std::thread([self = shared_from_this()] {
        self->run();
        std::lock_guard lock(self->mutex_);
        self->exited_ = true;
        self->exited_cv_.notify_all();
    });
}

void directory_lookup::stop() {
    std::unique_lock lock(mutex_);
    stop_ = true;
    work_cv_.notify_all();
    if (!thread_.joinable()) return;
    // A worker stuck in a query on a frozen server would hold up the broker's
    // shutdown: it is given a moment, then left to finish on its own (it
    // keeps this object alive and touches nothing of the broker's).
    const bool exited = exited_cv_.wait_for(lock, std::chrono::seconds(2), [&] { return exited_; });
    lock.unlock();
    if (exited) thread_.join();
    else thread_.detach();
}

void directory_lookup::ask_user(const std::string& name, std::uint64_t ticket) {
    std::lock_guard lock(mutex_);
    users_asked_.insert(name);
    asked_through_ = ticket;
    work_cv_.notify_one();
}

void directory_lookup::ask_member(const std::string& name, std::int64_t conv, std::uint64_t ticket) {
    std::lock_guard lock(mutex_);
    members_asked_.emplace(name, conv);
    asked_through_ = ticket;
    work_cv_.notify_one();
}

std::uint64_t directory_lookup::answered_through() const {
    std::lock_guard lock(mutex_);
    return answered_through_;
}

std::vector<lookup_answer> directory_lookup::take() {
    std::vector<lookup_answer> out;
    std::lock_guard lock(mutex_);
    out.swap(answers_);
    return out;
}

void directory_lookup::set_busy(bool busy) {
    status_.lookup_busy_since_ns.store(busy ? worker_status::now_ns() : 0, std::memory_order_release);
}

void directory_lookup::log(int level, std::string text) {
    // Mosquitto's log may also publish on $SYS: only the broker's thread writes it.
    {
        std::lock_guard lock(mutex_);
        answers_.push_back({lookup_answer::kind::log, std::move(text), level, std::nullopt});
    }
    on_news_();
}

void directory_lookup::answer_batch(pg::connection& db, const std::vector<std::string>& users,
                                    const std::vector<std::pair<std::string, std::int64_t>>& members) {
    std::vector<lookup_answer> found;
    if (!users.empty()) {
        const auto r = db.exec(std::string(user_select_sql) + " AND u.name = ANY($1::text[]) GROUP BY u.id",
                               {pg::text_array(users)});
        std::set<std::string> present;
        for (int i = 0; i < r.rows(); ++i) {
            lookup_answer a;
            a.what = lookup_answer::kind::user_found;
            a.user = user_from_row(r, i);
            a.name = a.user->name;
            present.insert(a.name);
            found.push_back(std::move(a));
        }
        for (const auto& name : users)
            if (!present.count(name)) found.push_back({lookup_answer::kind::no_such_user, name, 0, std::nullopt});
    }
    if (!members.empty()) {
        std::vector<std::string> names;
        std::string convs = "{";
        for (const auto& [name, conv] : members) {
            names.push_back(name);
            if (convs.size() > 1) convs += ',';
            convs += std::to_string(conv);
        }
        convs += '}';
        const auto r = db.exec("SELECT q.name, q.conv FROM unnest($1::text[], $2::bigint[]) AS q(name, conv)"
                               " WHERE EXISTS (SELECT 1 FROM members m JOIN users u ON u.id = m.user_id"
                               "                WHERE u.name = q.name AND m.conv_id = q.conv)",
                               {pg::text_array(names), convs});
        std::set<std::pair<std::string, std::int64_t>> yes;
        for (int i = 0; i < r.rows(); ++i) yes.emplace(r.str(i, 0), r.int64(i, 1));
        for (const auto& [name, conv] : members)
            found.push_back({yes.count({name, conv}) ? lookup_answer::kind::member : lookup_answer::kind::not_member,
                             name, conv, std::nullopt});
    }
    std::lock_guard lock(mutex_);
    for (auto& a : found) answers_.push_back(std::move(a));
}

void directory_lookup::run() {
    std::unique_ptr<pg::connection> db;
    auto connect = [&] {
        db = std::make_unique<pg::connection>(conninfo_);
        db->exec("SET application_name = 'mqchat-plugin-lookup'");
    };
    auto retry_after = std::chrono::steady_clock::time_point{};
    bool warned = false;
    // Connected before the first question, so the first answer is a query's
    // round trip, not a connection's (and nobody waits while it connects).
    set_busy(true);
    try {
        connect();
    } catch (const pg::error&) {
        db.reset(); // the first question tries again
    }
    set_busy(false);
    while (true) {
        std::vector<std::string> users;
        std::vector<std::pair<std::string, std::int64_t>> members;
        std::uint64_t through = 0;
        {
            std::unique_lock lock(mutex_);
            work_cv_.wait(lock, [&] { return stop_ || !users_asked_.empty() || !members_asked_.empty(); });
            if (stop_) return;
            users.assign(users_asked_.begin(), users_asked_.end());
            members.assign(members_asked_.begin(), members_asked_.end());
            users_asked_.clear();
            members_asked_.clear();
            through = asked_through_;
        }
        set_busy(true);
        try {
            if (!db && std::chrono::steady_clock::now() >= retry_after) {
                connect();
                if (warned) log(MOSQ_LOG_INFO, "mqchat: direct user lookup is back");
                warned = false;
            }
            if (db) answer_batch(*db, users, members);
        } catch (const pg::error& e) {
            db.reset();
            retry_after = std::chrono::steady_clock::now() + reconnect_pause;
            if (!warned) log(MOSQ_LOG_WARNING, std::string("mqchat: direct user lookup failed: ") + e.what());
            warned = true;
        }
        {
            std::lock_guard lock(mutex_);
            answered_through_ = through;
        }
        set_busy(false);
        on_news_();
    }
}

} // namespace mqchat::plugin
