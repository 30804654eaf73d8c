// Case "history": 10 million stored messages (seeded with COPY), then the
// two reads a returning client makes: a page of 50 messages before a seq in
// one conversation, and "everything after my cursors" across 20
// conversations. Measured as the SQL the history and sync requests run, on
// one connection, p50/p99 over thousands of random calls; the plans are
// written to history_plans.txt to show they come from an index.

#include <libpq-fe.h>

#include <fstream>
#include <functional>
#include <random>

#include "bench.hpp"
#include "support/servers.hpp"

namespace mqchat::bench {

namespace {

constexpr const char* page_sql =
    "SELECT m.seq, m.client_id, u.name, m.ts, m.body, m.type, m.reply_to"
    "  FROM messages m LEFT JOIN users u ON u.id = m.sender_id"
    " WHERE m.conv_id = $1 AND m.seq < $2 ORDER BY m.seq DESC LIMIT 50";

constexpr const char* sync_sql =
    "SELECT m.conv_id, m.seq, m.client_id, u.name, m.ts, m.body"
    "  FROM unnest($1::bigint[], $2::bigint[]) AS c(conv_id, after_seq)"
    "  JOIN LATERAL (SELECT * FROM messages m WHERE m.conv_id = c.conv_id AND m.seq > c.after_seq"
    "                 ORDER BY m.seq LIMIT 200) m ON true"
    "  LEFT JOIN users u ON u.id = m.sender_id"
    " ORDER BY m.conv_id, m.seq LIMIT 200";

void seed(pg::connection& db, int convs, int per_conv) {
    db.exec("INSERT INTO users (name, password_hash) SELECT 'h' || g, $1 FROM generate_series(0, 99) g",
            {cheap_hash("pw")});
    db.exec("INSERT INTO conversations (last_seq, published_seq) SELECT $1, $1 FROM generate_series(1, $2)",
            {std::to_string(per_conv), std::to_string(convs)});
    const std::int64_t first_user = db.exec("SELECT min(id) FROM users").int64(0, 0);
    const std::int64_t first_conv = db.exec("SELECT min(id) FROM conversations").int64(0, 0);
    {
        pg::result start(PQexec(db.get(), "COPY messages (conv_id, seq, sender_id, client_id, body, ts) FROM STDIN"));
        if (PQresultStatus(start.get()) != PGRES_COPY_IN) throw std::runtime_error(PQerrorMessage(db.get()));
    }
    std::string buf;
    const std::int64_t t0 = 1700000000000;
    for (int c = 0; c < convs; ++c) {
        for (int q = 1; q <= per_conv; ++q) {
            buf += std::to_string(first_conv + c) + '\t' + std::to_string(q) + '\t' +
                   std::to_string(first_user + (q % 100)) + "\tm-" + std::to_string(q) +
                   "\tmessage number " + std::to_string(q) + " in a conversation about the benchmark\t" +
                   std::to_string(t0 + q * 1000L) + '\n';
            if (buf.size() > (1 << 20)) {
                if (PQputCopyData(db.get(), buf.data(), static_cast<int>(buf.size())) != 1)
                    throw std::runtime_error(PQerrorMessage(db.get()));
                buf.clear();
            }
        }
    }
    if (PQputCopyData(db.get(), buf.data(), static_cast<int>(buf.size())) != 1 || PQputCopyEnd(db.get(), nullptr) != 1)
        throw std::runtime_error(PQerrorMessage(db.get()));
    pg::result r(PQgetResult(db.get()));
    if (PQresultStatus(r.get()) != PGRES_COMMAND_OK) throw std::runtime_error(PQresultErrorMessage(r.get()));
    while (PGresult* more = PQgetResult(db.get())) PQclear(more);
    db.exec("ANALYZE");
}

std::vector<double> timed(pg::connection& db, const char* name, int iterations,
                          const std::function<std::vector<std::string>()>& args) {
    std::vector<double> ms;
    for (int i = 0; i < iterations; ++i) {
        const auto a = args();
        std::vector<const char*> v;
        for (const auto& x : a) v.push_back(x.c_str());
        const auto t0 = clock::now();
        pg::result r(PQexecPrepared(db.get(), name, static_cast<int>(v.size()), v.data(), nullptr, nullptr, 0));
        ms.push_back(std::chrono::duration<double, std::milli>(clock::now() - t0).count());
        if (PQresultStatus(r.get()) != PGRES_TUPLES_OK || r.rows() == 0)
            throw std::runtime_error(std::string(name) + " returned nothing: " + PQresultErrorMessage(r.get()));
    }
    return ms;
}

} // namespace

void run_history(const settings& s) {
    const int convs = s.quick ? 100 : 1000, per_conv = s.quick ? 1000 : 10000;
    test::temp_dir dir("bench-history");
    test::pg_cluster cluster(dir);
    test::admin_ok(cluster.conninfo(), {"migrate"});
    pg::connection db(cluster.conninfo());
    const auto t0 = clock::now();
    seed(db, convs, per_conv);
    const double seed_s = std::chrono::duration<double>(clock::now() - t0).count();
    const double rows = static_cast<double>(convs) * per_conv;
    note(s, "history: seeded " + std::to_string(static_cast<long>(rows)) + " messages with COPY in " +
                std::to_string(seed_s) + " s (" + std::to_string(static_cast<long>(rows / seed_s)) + " rows/s)");

    const std::int64_t first_conv = db.exec("SELECT min(id) FROM conversations").int64(0, 0);
    std::mt19937 rng(7);
    auto conv = [&] { return first_conv + static_cast<std::int64_t>(rng() % static_cast<unsigned>(convs)); };

    pg::result p1(PQprepare(db.get(), "page", page_sql, 2, nullptr));
    pg::result p2(PQprepare(db.get(), "sync", sync_sql, 2, nullptr));
    auto page_args = [&] {
        return std::vector<std::string>{std::to_string(conv()),
                                        std::to_string(51 + rng() % static_cast<unsigned>(per_conv - 50))};
    };
    auto sync_args = [&] {
        std::string ids = "{", afters = "{";
        for (int i = 0; i < 20; ++i) {
            ids += (i ? "," : "") + std::to_string(conv());
            afters += (i ? "," : "") + std::to_string(per_conv - 10); // ten new messages in each
        }
        return std::vector<std::string>{ids + "}", afters + "}"};
    };

    {
        std::ofstream plans(s.out_dir + "/history_plans.txt");
        for (const auto& [sql, args] : {std::pair{std::string(page_sql), page_args()}, std::pair{std::string(sync_sql), sync_args()}}) {
            std::string explain = "EXPLAIN (ANALYZE, BUFFERS) " + sql;
            auto r = db.exec(explain, {args[0], args[1]});
            plans << sql << "\n";
            for (int i = 0; i < r.rows(); ++i) plans << "  " << r.text(i, 0) << "\n";
            plans << "\n";
        }
    }
    const int iterations = s.quick ? 500 : 5000;
    timed(db, "page", 200, page_args); // warm the cache
    auto page = timed(db, "page", iterations, page_args);
    auto sync = timed(db, "sync", iterations, sync_args);
    const std::string label = std::to_string(static_cast<long>(rows)) + " messages";
    report("history_page_p50_ms", percentile(page, 50), "ms", std::nullopt, label);
    report("history_page_p99_ms", percentile(page, 99), "ms", std::nullopt, "50 messages before a seq");
    report("sync_p50_ms", percentile(sync, 50), "ms");
    report("sync_p99_ms", percentile(sync, 99), "ms", std::nullopt, "20 conversations x 10 new messages");
}

} // namespace mqchat::bench
