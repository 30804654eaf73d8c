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
#include <optional>
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
        pg::result start(
            PQexec(db.get(), "COPY messages (conv_id, seq, sender_id, client_id, body, ts, search) FROM STDIN"));
        if (PQresultStatus(start.get()) != PGRES_COPY_IN) throw std::runtime_error(PQerrorMessage(db.get()));
    }
    std::string buf;
    const std::int64_t t0 = 1700000000000;
    for (int c = 0; c < convs; ++c) {
        for (int q = 1; q <= per_conv; ++q) {
            // Every thousandth message mentions a quokka: what the searches look for.
            // The search vector is written as the trigger would make it ('simple').
            const bool quokka = q % 1000 == 0;
            buf += std::to_string(first_conv + c) + '\t' + std::to_string(q) + '\t' +
                   std::to_string(first_user + (q % 100)) + "\tm-" + std::to_string(q) +
                   "\tmessage number " + std::to_string(q) + " in a conversation about the " +
                   (quokka ? "quokka" : "benchmark") + '\t' + std::to_string(t0 + q * 1000L) +
                   "\t'message':1 'number':2 '" + std::to_string(q) + "':3 'in':4 'a':5 'conversation':6 'about':7 'the':8 '" +
                   (quokka ? "quokka" : "benchmark") + "':9\n";
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
    const int convs = 10, per_conv = s.quick ? 3000 : 1000000;
    test::temp_dir dir("bench-history");
    test::pg_cluster cluster(dir);
    test::admin_ok(cluster.conninfo(), {"migrate"});
    pg::connection db(cluster.conninfo());
    // The seed writes the search vectors itself (to_tsvector on 10 million
    // rows would take longer than everything else).
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
    auto search_params = [&](bool in_one) {
        return [&, in_one] {
            Json::Value p(Json::objectValue);
            p["q"] = "quokka";
            if (in_one) p["conv"] = Json::Int64(conv());
            return compact(p);
        };
    };
    struct figures {
        std::vector<double> page, sync, search_conv, search_all;
    };
    auto measure = [&] {
        timed_requests(reader, "history", 100, page_params); // warm the cache
        figures f;
        f.page = timed_requests(reader, "history", iterations, page_params);
        f.sync = timed_requests(reader, "sync", iterations, sync_params);
        f.search_conv = timed_requests(reader, "search", iterations / 3, search_params(true));
        f.search_all = timed_requests(reader, "search", iterations / 3, search_params(false));
        return f;
    };
    figures partitioned = measure();
    const std::string label = std::to_string(convs) + " conversations x " + std::to_string(per_conv) +
                              " messages, partitioned (schema 021)";
    // The same data in one plain table, as before schema 021 (full runs only:
    // copying 10 million rows and building their indexes takes minutes).
    std::optional<figures> flat;
    if (!s.quick) {
        store.stop();
        const auto t1 = clock::now();
        db.exec("ALTER TABLE mentions DROP CONSTRAINT mentions_conv_id_seq_fkey");
        db.exec("ALTER TABLE reactions DROP CONSTRAINT reactions_conv_id_seq_fkey");
        db.exec("ALTER TABLE messages RENAME TO messages_partitioned");
        db.exec("CREATE TABLE messages (LIKE messages_partitioned INCLUDING DEFAULTS)");
        db.exec("INSERT INTO messages SELECT * FROM messages_partitioned");
        db.exec("ALTER TABLE messages ADD PRIMARY KEY (conv_id, seq)");
        db.exec("ALTER TABLE messages ADD UNIQUE (conv_id, sender_id, client_id)");
        db.exec("CREATE INDEX ON messages USING gin (search)");
        db.exec("DROP TABLE messages_partitioned");
        db.exec("VACUUM ANALYZE messages");
        note(s, "history: the same messages copied into one plain table in " +
                    std::to_string(std::chrono::duration<double>(clock::now() - t1).count()) + " s");
        store.start();
        flat = measure();
    }
    auto with_flat = [&](std::vector<double> figures::*which, double p) {
        if (!flat) return std::string();
        return "; one plain table: " + std::to_string(percentile((*flat).*which, p)) + " ms";
    };
    report("history_page_p50_ms", percentile(partitioned.page, 50), "ms", std::nullopt,
           label + ", request round trip" + with_flat(&figures::page, 50));
    report("history_page_p99_ms", percentile(partitioned.page, 99), "ms", std::nullopt,
           "50 messages before a random seq" + with_flat(&figures::page, 99));
    report("sync_p50_ms", percentile(partitioned.sync, 50), "ms", std::nullopt, with_flat(&figures::sync, 50));
    report("sync_p99_ms", percentile(partitioned.sync, 99), "ms", std::nullopt,
           std::to_string(convs) + " conversations x 10 new messages" + with_flat(&figures::sync, 99));
    report("search_conv_p99_ms", percentile(partitioned.search_conv, 99), "ms", std::nullopt,
           "a word in every 1,000th message, one conversation (p50 " +
               std::to_string(percentile(partitioned.search_conv, 50)) + " ms)" + with_flat(&figures::search_conv, 99));
    report("search_all_p99_ms", percentile(partitioned.search_all, 99), "ms", std::nullopt,
           "the same word in all 10 of the reader's conversations (p50 " +
               std::to_string(percentile(partitioned.search_all, 50)) + " ms)" + with_flat(&figures::search_all, 99));
}

} // namespace mqchat::bench
