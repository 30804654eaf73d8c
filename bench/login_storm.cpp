// Case "login_storm": 5,000 users log in at once with their real passwords
// (Argon2id m=19 MiB t=2, the cost mqchat-admin uses) and with tokens, to
// mosquitto with the plugin as shipped (login_key_file, listen_backlog 4096):
//   - cold: first logins since the users were made, every one an Argon2id run
//     on the plugin's password threads (clients told to come back meanwhile
//     reconnect with backoff), side by side with bare Mosquitto checking the
//     same 5,000 logins against its password file;
//   - warm: the same clients reconnect (a network blip): remembered digests;
//   - after a broker restart: digests loaded from the database;
//   - tokens: HS256 JWTs minted by an "app backend" (this program).
// While each storm runs, a bystander that is already connected publishes at
// QoS 1 every 20 ms and times its PUBACKs: how long the broker's thread is
// busy with logins is what other clients feel.

#include <json/json.h>

#include <atomic>
#include <fstream>
#include <thread>

#include "bench.hpp"
#include "common/password.hpp"
#include "common/token.hpp"
#include "support/mqtt_client.hpp"
#include "support/servers.hpp"

namespace mqchat::bench {

namespace {

/// Publishes every 20 ms and records PUBACK round trips until stopped.
class bystander {
public:
    bystander(int port, const std::string& topic) : client_(port, {"bystander", "by", "pw"}), topic_(topic) {
        if (client_.connect() != 0) throw std::runtime_error("the bystander cannot log in");
        thread_ = std::thread([this] {
            while (!stop_) {
                const auto t0 = clock::now();
                const int rc = client_.publish(topic_, "x", 1, false, std::chrono::seconds(120));
                const double ms = std::chrono::duration<double, std::milli>(clock::now() - t0).count();
                if (rc >= 0) samples_.push_back(ms);
                std::this_thread::sleep_for(std::chrono::milliseconds(20));
            }
        });
    }
    ~bystander() { finish(); }
    std::vector<double> finish() {
        stop_ = true;
        if (thread_.joinable()) thread_.join();
        return samples_;
    }

private:
    test::mqtt_client client_;
    std::string topic_;
    std::atomic<bool> stop_{false};
    std::vector<double> samples_;
    std::thread thread_;
};

struct storm_with_bystander {
    storm_result storm;
    double bystander_p99_ms = 0;
    double bystander_max_ms = 0;
};

storm_with_bystander storm_watched(test::broker& b, const std::string& topic, const std::string& prefix, int n,
                                   const std::function<std::string(int)>& password_of) {
    bystander by(b.port(), topic);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    storm_with_bystander r;
    r.storm = connect_storm(b, prefix, n, 0, password_of);
    auto samples = by.finish();
    if (samples.empty()) throw std::runtime_error("the bystander measured nothing");
    r.bystander_max_ms = *std::max_element(samples.begin(), samples.end());
    r.bystander_p99_ms = percentile(samples, 99);
    return r;
}

} // namespace

void run_login_storm(const settings& s) {
    const int n = s.quick ? 60 : 5000;
    test::temp_dir dir("bench-storm");
    test::pg_cluster db(dir);
    test::admin_ok(db.conninfo(), {"migrate"});
    std::int64_t conv = 0;
    {
        pg::connection c(db.conninfo());
        // One real-cost hash for all: the salt does not change the cost, and
        // hashing 5,000 passwords here would take as long as the storm.
        add_users(c, "s", n, password::hash("real-cost-pw"));
        add_users(c, "by", 1, cheap_hash("pw"));
        c.exec("UPDATE users SET name = 'by' WHERE name = 'by0'");
        conv = add_conversation(c, {"by"});
    }
    const std::string topic = "chat/conv/" + std::to_string(conv) + "/typing";
    const std::string secret(48, 's');
    test::write_secret_file(dir.file("login.key"), std::string(48, 'k') + "\n");
    test::write_secret_file(dir.file("hs256.secret"), secret + "\n");

    test::broker_options o; // as the shipped mosquitto.conf
    o.plugin_options = {"listen_backlog 4096", "login_key_file " + dir.file("login.key"),
                        "jwt_hs256_secret_file " + dir.file("hs256.secret")};
    test::broker b(dir, db.conninfo(), o, "storm");
    b.start();

    const auto real_password = [](int) { return std::string("real-cost-pw"); };

    // The same storm against bare Mosquitto (its password file, PBKDF2-SHA512):
    // what 5,000 logins at once cost any broker, whatever checks them.
    std::vector<std::pair<std::string, std::string>> logins{{"by", "pw"}};
    for (int i = 0; i < n; ++i) logins.emplace_back(numbered("s", static_cast<std::uint64_t>(i)), "real-cost-pw");
    test::broker bare(dir, "", bare_with_passwords(dir, logins), "storm-bare");
    bare.start();
    const auto on_bare = storm_watched(bare, "bench/bystander", "s", n, real_password);
    bare.stop();

    const auto cold = storm_watched(b, topic, "s", n, real_password);
    const auto warm = storm_watched(b, topic, "s", n, real_password);
    b.stop();
    b.start();
    const auto restarted = storm_watched(b, topic, "s", n, real_password);

    const token::signer app_backend = token::signer::hs256(secret);
    const std::int64_t exp = std::chrono::duration_cast<std::chrono::seconds>(
                                 std::chrono::system_clock::now().time_since_epoch()).count() + 3600;
    std::vector<std::string> tokens;
    for (int i = 0; i < n; ++i) {
        Json::Value claims(Json::objectValue);
        claims["sub"] = numbered("s", static_cast<std::uint64_t>(i));
        claims["exp"] = Json::Int64(exp);
        tokens.push_back(app_backend.sign(claims));
    }
    const auto with_tokens = storm_watched(b, topic, "s", n, [&](int i) { return tokens[static_cast<std::size_t>(i)]; });
    b.stop();

    const std::string who = std::to_string(n) + " clients at once";
    report("storm_5k_password_cold_s", cold.storm.seconds, "s", on_bare.storm.seconds,
           who + ", first logins: Argon2id each, off the broker's thread; baseline = bare Mosquitto's password file");
    report("storm_5k_password_warm_s", warm.storm.seconds, "s", std::nullopt, who + ", reconnect: remembered digests");
    report("storm_5k_password_restart_s", restarted.storm.seconds, "s", std::nullopt,
           who + ", after a broker restart: digests from the database");
    report("storm_5k_token_s", with_tokens.storm.seconds, "s", std::nullopt, who + ", HS256 tokens");
    report("storm_bystander_p99_cold_ms", cold.bystander_p99_ms, "ms", on_bare.bystander_p99_ms,
           "QoS 1 round trip of a connected client during the cold storm (max " +
               std::to_string(static_cast<int>(cold.bystander_max_ms)) + " ms; bare: max " +
               std::to_string(static_cast<int>(on_bare.bystander_max_ms)) +
               " ms, listen backlog 100 against the plugin's 4096)");
    report("storm_bystander_p99_restart_ms", restarted.bystander_p99_ms, "ms", std::nullopt,
           "the same during the storm after a restart (max " +
               std::to_string(static_cast<int>(restarted.bystander_max_ms)) + " ms)");
    report("storm_bystander_p99_token_ms", with_tokens.bystander_p99_ms, "ms", std::nullopt,
           "the same during the token storm (max " + std::to_string(static_cast<int>(with_tokens.bystander_max_ms)) +
               " ms)");
}

} // namespace mqchat::bench
