// Case "history": conversations of a million messages each (10 million in
// all, seeded with COPY), then the two requests a returning client makes,
// end to end through mosquitto, the plugin and the bridge: `history` (a page
// of 50 before a random seq) and `sync` (everything after its cursors in
// every conversation). p50/p99 of the round trip over thousands of requests;
// the plans of the statements the bridge runs for them go to
// history_plans.txt, to show they come from an index.

#include <libpq-fe.h>

#include <json/json.h>

#include <fstream>
#include <functional>
#include <random>

#include "bench.hpp"
#include "requests/pg_requests.hpp"
#include "support/mqtt_client.hpp"
#include "support/servers.hpp"

namespace mqchat::bench {

namespace {

void seed(pg::connection& db, int convs, int per_conv) {
    db.exec("INSERT INTO users (name, password_hash) SELECT 'h' || g, $1 FROM generate_series(0, 99) g",
            {cheap_hash("pw")});
    db.exec("WITH c AS (INSERT INTO conversations (last_seq) SELECT $1 FROM generate_series(1, $2) RETURNING id, last_seq)"
            " INSERT INTO conversation_outbox SELECT id, last_seq FROM c", // all published
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

/// Round trips of `n` requests made by `client`, one after the other.
std::vector<double> timed_requests(test::mqtt_client& client, const std::string& method, int n,
                                   const std::function<std::string()>& params) {
    std::vector<double> ms;
    const std::string inbox = "chat/user/reader/inbox";
    for (int i = 0; i < n; ++i) {
        const std::string corr = method + std::to_string(i);
        const auto t0 = clock::now();
        if (client.publish_request("chat/rpc/" + method, params(), inbox, corr) != 0)
            throw std::runtime_error(method + " request refused");
        test::received r;
        do {
            if (!client.wait_message(r, std::chrono::seconds(10), inbox)) throw std::runtime_error("no reply to " + method);
        } while (r.correlation_data != corr);
        ms.push_back(std::chrono::duration<double, std::milli>(clock::now() - t0).count());
        if (r.payload.find("\"result\"") == std::string::npos) throw std::runtime_error(method + " failed: " + r.payload);
    }
    return ms;
}

} // namespace

void run_history(const settings& s) {
    const int convs = 10, per_conv = s.quick ? 20000 : 1000000;
    test::temp_dir dir("bench-history");
    test::pg_cluster cluster(dir);
    test::admin_ok(cluster.conninfo(), {"migrate"});
    pg::connection db(cluster.conninfo());
    // The search index is not what this case measures, and building 10
    // million text vectors would take longer than everything else.
    db.exec("ALTER TABLE messages DISABLE TRIGGER messages_search");
    const auto t0 = clock::now();
    seed(db, convs, per_conv);
    const double seed_s = std::chrono::duration<double>(clock::now() - t0).count();
    const double rows = static_cast<double>(convs) * per_conv;
    note(s, "history: seeded " + std::to_string(static_cast<long>(rows)) + " messages with COPY in " +
                std::to_string(seed_s) + " s (" + std::to_string(static_cast<long>(rows / seed_s)) + " rows/s)");

    // A reader in every conversation, the bridge, the broker with the plugin.
    db.exec("INSERT INTO users (name, password_hash) VALUES ('reader', $1)", {cheap_hash("pw")});
    db.exec("INSERT INTO members (conv_id, user_id) SELECT c.id, u.id FROM conversations c, users u WHERE u.name = 'reader'");
    add_bridge_user(db);
    db.exec("ANALYZE");
    test::broker b(dir, cluster.conninfo());
    b.start();
    test::bridge store(dir, cluster.conninfo(), b.port(), bridge_password);
    store.start();
    test::mqtt_client reader(b.port(), {"reader-bench", "reader", "pw"});
    if (reader.connect() != 0 || reader.subscribe("chat/user/reader/inbox") != 1)
        throw std::runtime_error("the reader cannot log in");

    const std::int64_t first_conv = db.exec("SELECT min(id) FROM conversations").int64(0, 0);
    const std::int64_t reader_id = db.exec("SELECT id FROM users WHERE name = 'reader'").int64(0, 0);
    std::mt19937 rng(7);
    auto conv = [&] { return first_conv + static_cast<std::int64_t>(rng() % static_cast<unsigned>(convs)); };
    auto before = [&] { return 51 + static_cast<std::int64_t>(rng() % static_cast<unsigned>(per_conv - 50)); };
    auto cursors = [&] { // ten new messages in each conversation
        Json::Value c(Json::objectValue);
        for (int i = 0; i < convs; ++i) c[std::to_string(first_conv + i)] = per_conv - 10;
        return c;
    };
    auto compact = [](const Json::Value& v) {
        Json::StreamWriterBuilder w;
        w["indentation"] = "";
        return Json::writeString(w, v);
    };

    {
        std::ofstream plans(s.out_dir + "/history_plans.txt");
        const std::vector<std::pair<std::string, pg::params>> statements{
            {bridge::pg_requests::history_before_sql(),
             {std::to_string(conv()), std::to_string(before()), "51"}},
            {bridge::pg_requests::sync_sql(), {std::to_string(reader_id), compact(cursors()), "201"}}};
        for (const auto& [sql, args] : statements) {
            auto r = db.exec("EXPLAIN (ANALYZE, BUFFERS) " + sql, args);
            plans << sql << "\n";
            for (int i = 0; i < r.rows(); ++i) plans << "  " << r.text(i, 0) << "\n";
            plans << "\n";
        }
    }
    const int iterations = s.quick ? 300 : 3000;
    auto page_params = [&] {
        Json::Value p(Json::objectValue);
        p["conv"] = Json::Int64(conv());
        p["before"] = Json::Int64(before());
        p["limit"] = 50;
        return compact(p);
    };
    auto sync_params = [&] {
        Json::Value p(Json::objectValue);
        p["cursors"] = cursors();
        return compact(p);
    };
    timed_requests(reader, "history", 100, page_params); // warm the cache
    auto page = timed_requests(reader, "history", iterations, page_params);
    auto sync = timed_requests(reader, "sync", iterations, sync_params);
    const std::string label = std::to_string(convs) + " conversations x " + std::to_string(per_conv) + " messages";
    report("history_page_p50_ms", percentile(page, 50), "ms", std::nullopt, label + ", request round trip");
    report("history_page_p99_ms", percentile(page, 99), "ms", std::nullopt, "50 messages before a random seq");
    report("sync_p50_ms", percentile(sync, 50), "ms");
    report("sync_p99_ms", percentile(sync, 99), "ms", std::nullopt,
           std::to_string(convs) + " conversations x 10 new messages");
}

} // namespace mqchat::bench
