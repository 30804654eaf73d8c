#pragma once
/// The assistant at work (docs/assistant.md): an MQTT client like any
/// other user, of role bot. It hears of a new support conversation of its
/// desks on its inbox (`desk.bot`), reads the visitor's messages on the
/// conversation's topic, and for each one either hands over (a rule fired:
/// escalation.hpp), answers from the desk's knowledge base (`desk.kb`), or
/// says it is not sure. Everything it does is a documented request or a
/// message: it has no database of its own and no special path in the broker.
///
/// One thread. Requests are answered on its inbox and matched by `corr`;
/// one visitor message of a conversation is handled at a time, in order.

#include <json/json.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "common/assistant_rules.hpp"
#include "common/topics.hpp"
#include "config.hpp"
#include "escalation.hpp"
#include "language_model.hpp"
#include "link/mosquitto_link.hpp"
#include "sentiment.hpp"

namespace mqchat::bot {

class assistant {
public:
    /// `config_path`: read again on SIGHUP.
    assistant(const bot_config& config, std::string config_path, bridge::mosquitto_link& link,
              const sentiment_scorer& scorer);

    /// Until `stop`: handles what arrives. `reload` (SIGHUP) reads the
    /// config file again (its timings; the broker settings need a restart)
    /// and drops the cached rules, so every desk's are read again.
    void run(const std::atomic<bool>& stop, std::atomic<bool>& reload);

private:
    using clock = std::chrono::steady_clock;
    using reply_handler = std::function<void(const Json::Value& reply)>; ///< {"result"} or {"error"}

    struct conversation {
        std::string desk, visitor;
        conversation_state state;
        std::vector<draft_request::turn> transcript; ///< the last messages both ways, for the model
        std::deque<std::string> waiting; ///< the visitor's messages not yet handled
        bool busy = false;               ///< one is being handled
        bool leaving = false;            ///< handing over: it says nothing more
        std::uint64_t adopted = 0;       ///< when it was taken up (adoptions_)
        /// The highest seq taken from it: a message at or below it is one it
        /// had (history and live deliveries overlap). At first the seq it
        /// was given the conversation at; -1 when not told (nothing is read
        /// from history then).
        std::int64_t seen = -1;
        /// Reading history after `seen` (its subscription has just taken):
        /// live messages wait in `held` meanwhile, so each is taken once and in order.
        bool reading = false;
        bool read_again = false; ///< granted again while reading: another read after this one
        int read_failures = 0;
        std::vector<Json::Value> held;
    };
    struct desk_rules {
        assistant_rules rules;
        clock::time_point read_at;
        bool known = false;
        std::vector<std::function<void(const assistant_rules&)>> waiting;
        bool asked = false;
    };

    void on_inbox(const Json::Value& m);
    void on_message(std::int64_t conv, const Json::Value& m);
    void take(std::int64_t conv, const Json::Value& m);
    void adopt(std::int64_t conv, const std::string& desk, const std::string& visitor, const Json::Value& details,
               const char* greeting, const Json::Value& seq);
    void on_granted(const std::string& filter);
    void read_history(std::int64_t conv);
    void history_read(std::int64_t conv, const Json::Value& reply);
    void read_failed_ones();
    void forget(std::int64_t conv);
    void next_message(std::int64_t conv);
    void handle(std::int64_t conv, const std::string& text, const assistant_rules& rules);
    void hand_over(std::int64_t conv, const std::string& rule, const assistant_rules& rules);
    void with_rules(const std::string& desk, std::function<void(const assistant_rules&)> then);
    void call(const std::string& method, Json::Value params, reply_handler then);
    /// Sends a message; `then` runs once it is stored (acked), refused or timed out.
    void say(std::int64_t conv, const std::string& text, std::function<void()> then = {}, const char* type = nullptr);
    void resume();
    void reload_settings();
    void retry_refused();
    void expire();
    void answer(std::int64_t conv, const Json::Value& matches, const assistant_rules& rules);
    void on_draft(const draft_result& d);
    void done_with_message(std::int64_t conv);
    void remember(std::int64_t conv, bool visitor, const std::string& text);

    bot_config config_;
    const std::string config_path_;
    bridge::mosquitto_link& link_;
    const sentiment_scorer& scorer_;
    const topic_names topics_;
    const std::string inbox_;
    const std::string id_prefix_; ///< of the ids of its messages and requests: unique per run
    std::uint64_t next_id_ = 0;

    std::map<std::int64_t, conversation> conversations_;
    /// Until desk.mine has answered after a (re)connection, messages of
    /// conversations it does not know yet wait here (the broker kept them
    /// in its session while it was away).
    bool resumed_ = false;
    std::uint64_t adoptions_ = 0; ///< conversations taken up so far
    std::map<std::int64_t, std::vector<Json::Value>> early_;
    std::map<std::string, desk_rules> rules_;
    struct pending_reply {
        clock::time_point deadline;
        reply_handler then;
    };
    std::map<std::string, pending_reply> replies_; ///< by corr
    struct pending_ack {
        clock::time_point deadline;
        std::function<void()> then;
    };
    std::map<std::string, pending_ack> acks_; ///< by message id
    struct retry {
        int tries = 0;
        clock::time_point at;
    };
    std::map<std::string, retry> resubscribe_; ///< filters the broker refused, tried again
    std::map<std::int64_t, clock::time_point> reread_; ///< conversations whose history read failed, and when to try again
    std::unique_ptr<language_model> model_;    ///< none without llm_url
    struct pending_draft {
        Json::Value best; ///< the knowledge base's entry, the fallback
        assistant_rules rules;
    };
    std::map<std::int64_t, pending_draft> drafts_; ///< by conversation
};

/// The knowledge base's answer as the visitor reads it: the entry's text
/// (or `text`, a model's draft of it), then the entry's links.
std::string answer_text(const Json::Value& match, std::string text = "");
/// When unsure: the questions of up to three matches with at least half the
/// threshold's confidence, one per line (a quick_replies message); "" for none.
std::string suggested_questions(const Json::Value& matches, double threshold);

} // namespace mqchat::bot
