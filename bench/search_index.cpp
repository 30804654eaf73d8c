// Case "search_index": new messages' search entries never stall the store.
// A message's INSERT appends its search entries to the pending list of its
// partition's GIN index (fastupdate, PostgreSQL's default); whoever finds
// that list over gin_pending_list_limit merges it into the index — without
// the bridge's search indexer, the INSERT of a store transaction, while
// every chat message behind it waits. On a messages table too big for
// autovacuum to come by often (autovacuum is off on it here: its passes
// merge the list too) that happens every few seconds.
//
// Store calls of one ten-word message each (words drawn log-uniformly from
// 20,000: a few common, most rare), one after another into one
// conversation, as fast as PostgreSQL takes them: first without the
// background merge (the baseline), then with the bridge's search indexer
// merging every second (bridge/search/search_indexer.hpp) — 40 s each
// (5 s with --quick, where the list's limit is 1 MB instead of the default
// 4 MB so that it fills within seconds all the same; a second's entries,
// about 0.6 MB here, still fit in it, as the indexer needs).
//
//  - search_index_store_max_ms: the slowest store call; baseline: without the indexer.
//  - search_index_store_p999_ms: likewise the 99.9th percentile.
//  - search_index_stalls: store calls over 20 ms.
//  - search_index_store_us: the average store call (what the merge costs the store path).

#include <atomic>
#include <cmath>
#include <random>
#include <thread>

#include "bench.hpp"
#include "search/search_indexer.hpp"
#include "support/servers.hpp"

namespace mqchat::bench {

namespace {

struct store_times {
    std::vector<double> ms; ///< each call's
    double mean_us = 0;
    std::size_t over_20ms = 0;
};

std::string word(std::size_t n) {
    std::string w = "w";
    do {
        w += static_cast<char>('a' + n % 26);
        n /= 26;
    } while (n);
    return w;
}

/// Stores ten-word messages one call each into `conv` for `time`.
store_times store_for(pg::connection& db, std::int64_t conv, std::chrono::milliseconds time, std::mt19937& rng,
                      int& next_id) {
    std::uniform_real_distribution<double> u(0, 1);
    store_times t;
    double total_ms = 0;
    const auto until = clock::now() + time;
    while (clock::now() < until) {
        std::string body;
        for (int k = 0; k < 10; ++k) {
            if (k) body += ' ';
            body += word(static_cast<std::size_t>(std::pow(20000.0, u(rng))));
        }
        const std::string batch = "[{\"conv\":" + std::to_string(conv) + ",\"sender\":\"u0\",\"id\":\"m" +
                                  std::to_string(++next_id) + "\",\"body\":\"" + body + "\"}]";
        const auto t0 = clock::now();
        db.exec("SELECT count(*) FROM mqchat_store_batch($1::jsonb)", {batch});
        const double ms = std::chrono::duration<double, std::milli>(clock::now() - t0).count();
        t.ms.push_back(ms);
        total_ms += ms;
        t.over_20ms += ms > 20;
    }
    t.mean_us = t.ms.empty() ? 0 : total_ms * 1000 / static_cast<double>(t.ms.size());
    return t;
}

} // namespace

void run_search_index(const settings& s) {
    const auto time = std::chrono::milliseconds(s.quick ? 5000 : 40000);
    test::temp_dir dir("bench-search-index");
    test::pg_cluster cluster(dir);
    test::admin_ok(cluster.conninfo(), {"migrate"});
    pg::connection db(cluster.conninfo());
    add_users(db, "u", 2, cheap_hash("pw"));
    const std::int64_t conv = add_conversation(db, {"u0", "u1"});
    db.exec("DO $$ DECLARE p regclass; BEGIN FOR p IN SELECT inhrelid::regclass FROM pg_inherits"
            " WHERE inhparent = 'messages'::regclass LOOP"
            " EXECUTE format('ALTER TABLE %s SET (autovacuum_enabled = off)', p); END LOOP; END $$");
    if (s.quick) db.exec("SET gin_pending_list_limit = '1MB'");
    std::mt19937 rng(7);
    int next_id = 0;

    store_for(db, conv, std::chrono::milliseconds(1000), rng, next_id); // warm up: plans, caches
    db.exec("SELECT mqchat_flush_search_index()");
    store_times without = store_for(db, conv, time, rng, next_id);
    db.exec("SELECT mqchat_flush_search_index()");

    mqchat::bridge::search_indexer indexer(cluster.conninfo(), std::chrono::milliseconds(1000)); // the default
    indexer.start();
    store_times with = store_for(db, conv, time, rng, next_id);

    const double max_without = *std::max_element(without.ms.begin(), without.ms.end());
    const double max_with = *std::max_element(with.ms.begin(), with.ms.end());
    report("search_index_store_max_ms", max_with, "ms", max_without,
           "one ten-word message a store call; baseline: no background merge (the store merges a full list)");
    report("search_index_store_p999_ms", percentile(with.ms, 99.9), "ms", percentile(without.ms, 99.9));
    report("search_index_stalls", static_cast<double>(with.over_20ms), "calls", static_cast<double>(without.over_20ms),
           "store calls over 20 ms");
    report("search_index_store_us", with.mean_us, "us", without.mean_us, "the average store call");
    note(s, "search_index: " + std::to_string(without.ms.size()) + " store calls without the indexer, " +
                std::to_string(with.ms.size()) + " with it (" + std::to_string(indexer.merged_pages_total()) +
                " pages merged in the background, " + std::to_string(indexer.errors_total()) + " errors)");
}

} // namespace mqchat::bench
