#include "common/pg.hpp"
#include "common/metrics.hpp"

#include <atomic>
#include <charconv>
#include <cstdio>

namespace mqchat::pg {

std::int64_t result::int64(int row, int col) const {
    const std::string_view t = text(row, col);
    std::int64_t v = 0;
    const auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
    if (ec != std::errc() || p != t.data() + t.size())
        throw error("column " + std::to_string(col) + " is not an integer: '" + std::string(t) + "'");
    return v;
}

namespace {
/// Every connection of the process counts here (docs/operations.md,
/// "Watching it run"): connects by outcome, errors by kind. A duplicate
/// (23505) is an answer ("already stored"), not an error.
metrics::counter& connects(const char* outcome) {
    return metrics::default_registry()
        .counters("mqchat_database_connects_total", "Connections to PostgreSQL opened, by outcome (ok, failed).",
                  {"outcome"}, 4)
        .with({outcome});
}
metrics::counter& errors(const char* kind) {
    return metrics::default_registry()
        .counters("mqchat_database_errors_total",
                  "PostgreSQL errors, by kind (connection_lost, sql); duplicates not counted.", {"kind"}, 4)
        .with({kind});
}
} // namespace

namespace {
std::atomic<void (*)(const char*)> notice_handler{nullptr};

void forward_notice(void*, const char* message) {
    if (auto* handler = notice_handler.load()) handler(message);
    else std::fputs(message, stderr); // what libpq's own processor does
}
} // namespace

void set_notice_handler(void (*handler)(const char* message)) { notice_handler.store(handler); }

connection::connection(const std::string& conninfo) : conn_(PQconnectdb(conninfo.c_str()), &PQfinish) {
    if (!conn_) throw broken_connection("out of memory connecting to PostgreSQL");
    PQsetNoticeProcessor(conn_.get(), &forward_notice, nullptr);
    if (PQstatus(conn_.get()) != CONNECTION_OK) {
        static metrics::counter& failed = connects("failed");
        failed.inc();
        std::string why = PQerrorMessage(conn_.get());
        while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
        throw broken_connection("cannot connect to PostgreSQL: " + why);
    }
    static metrics::counter& ok = connects("ok");
    ok.inc();
    // Every mqchat query is short; a planner estimate above jit_above_cost
    // (easily reached by the counts in conv.list or the push badges) would
    // spend hundreds of milliseconds compiling a plan that runs in one.
    check(PQexec(conn_.get(), "SET jit = off"));
}

result connection::check(PGresult* raw) {
    result r(raw);
    const ExecStatusType st = raw ? PQresultStatus(raw) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return r;
    if (PQstatus(conn_.get()) != CONNECTION_OK) {
        std::string why = PQerrorMessage(conn_.get());
        while (!why.empty() && why.back() == '\n') why.pop_back();
        static metrics::counter& lost = errors("connection_lost");
        lost.inc();
        throw broken_connection("lost connection to PostgreSQL: " + why);
    }
    const char* state = raw ? PQresultErrorField(raw, PG_DIAG_SQLSTATE) : nullptr;
    const char* msg = raw ? PQresultErrorField(raw, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
    std::string what = msg ? msg : PQerrorMessage(conn_.get());
    std::string sqlstate = state ? state : "";
    // Class 08 is "connection exception"; 57P01..57P03 are admin shutdown and friends.
    if (sqlstate.rfind("08", 0) == 0 || sqlstate.rfind("57P0", 0) == 0) {
        static metrics::counter& lost = errors("connection_lost");
        lost.inc();
        throw broken_connection(what);
    }
    if (sqlstate == "23505") throw unique_violation(what, sqlstate);
    static metrics::counter& refused = errors("sql");
    refused.inc();
    throw sql_error(what, sqlstate);
}

const std::string* connection::prepared_name(const std::string& sql, int n_params) {
    if (auto it = prepared_.find(sql); it != prepared_.end()) return &it->second;
    if (prepared_.size() >= max_prepared) return nullptr;
    std::string name = "mqchat_" + std::to_string(prepared_.size());
    check(PQprepare(conn_.get(), name.c_str(), sql.c_str(), n_params, nullptr)); // throws: not remembered
    return &prepared_.emplace(sql, std::move(name)).first->second;
}

namespace {
/// libpq's view of the parameters: C strings, nullptr for NULL.
std::vector<const char*> values_of(const params& args) {
    std::vector<const char*> values;
    values.reserve(args.size());
    for (const auto& a : args) values.push_back(a ? a->c_str() : nullptr);
    return values;
}
} // namespace

result connection::exec(const std::string& sql, const params& args) {
    const std::vector<const char*> values = values_of(args);
    const int n = static_cast<int>(values.size());
    // Statements without parameters (BEGIN, COMMIT, SET …) are cheap to parse.
    if (n > 0)
        if (const std::string* name = prepared_name(sql, n))
            return check(PQexecPrepared(conn_.get(), name->c_str(), n, values.data(), nullptr, nullptr, 0));
    return check(PQexecParams(conn_.get(), sql.c_str(), n, nullptr, values.data(), nullptr, nullptr, 0));
}

result connection::exec(const std::string& sql, const params& args,
                        const std::function<void(int socket)>& meanwhile) {
    if (!meanwhile) return exec(sql, args);
    const std::vector<const char*> values = values_of(args);
    const int n = static_cast<int>(values.size());
    const std::string* name = n > 0 ? prepared_name(sql, n) : nullptr;
    PGconn* c = conn_.get();
    const int sent = name ? PQsendQueryPrepared(c, name->c_str(), n, values.data(), nullptr, nullptr, 0)
                          : PQsendQueryParams(c, sql.c_str(), n, nullptr, values.data(), nullptr, nullptr, 0);
    if (!sent) return check(nullptr);
    while (PQisBusy(c)) {
        meanwhile(PQsocket(c));
        if (!PQconsumeInput(c)) break; // the connection's failure comes with the result
    }
    PGresult* last = nullptr;
    while (PGresult* r = PQgetResult(c)) {
        if (last) PQclear(last);
        last = r;
    }
    return check(last);
}

void connection::exec_script(const std::string& sql) { check(PQexec(conn_.get(), sql.c_str())); }

std::string text_array(const std::vector<std::string>& items) {
    std::string out = "{";
    for (std::size_t i = 0; i < items.size(); ++i) {
        out += i ? ",\"" : "\"";
        for (const char c : items[i]) {
            if (c == '"' || c == '\\') out += '\\';
            out += c;
        }
        out += '"';
    }
    return out + "}";
}

} // namespace mqchat::pg
