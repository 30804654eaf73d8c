#include "assistant.hpp"

#include <set>
#include <utility>

#include "common/log.hpp"
#include "common/json.hpp"
#include "common/password.hpp"

namespace mqchat::bot {

namespace {

constexpr std::size_t max_messages_kept = 50;
constexpr int max_resubscribe_tries = 50;
constexpr auto resubscribe_delay = std::chrono::milliseconds(200);
constexpr int max_read_failures = 10;
constexpr auto reread_delay = std::chrono::seconds(1);
constexpr int history_page = 100;
constexpr auto ack_timeout = std::chrono::seconds(10);
constexpr int max_suggestions = 3;
constexpr std::size_t max_transcript = 10, max_draft_turns = 6, max_draft_entries = 3;


void note(const std::string& line) { log::info() << line; }
void warn(const std::string& line) { log::warning() << line; }

} // namespace

std::string suggested_questions(const Json::Value& matches, double threshold) {
    std::string out;
    int n = 0;
    for (const auto& m : matches) {
        if (n == max_suggestions || m["confidence"].asDouble() < threshold / 2) break;
        out.append(out.empty() ? "" : "\n").append(m["question"].asString());
        ++n;
    }
    return out;
}

std::string answer_text(const Json::Value& match, std::string text) {
    if (text.empty()) text = match["answer"].asString();
    for (const auto& link : match["links"])
        if (link["title"].isString() && link["url"].isString())
            text.append("\n").append(link["title"].asString()).append(": ").append(link["url"].asString());
    return text;
}

assistant::assistant(const bot_config& config, std::string config_path, bridge::mosquitto_link& link,
                     const sentiment_scorer& scorer)
    : config_(config),
      config_path_(std::move(config_path)),
      link_(link),
      scorer_(scorer),
      topics_(config.topic_prefix),
      inbox_(topics_.inbox(config.mqtt_username)),
      id_prefix_("b-" + password::random_hex(6) + "-") {
    if (!config_.model.url.empty()) model_ = std::make_unique<language_model>(config_.model);
}

void assistant::run(const std::atomic<bool>& stop, std::atomic<bool>& reload) {
    resume();
    while (!stop) {
        if (reload.exchange(false)) reload_settings();
        if (link_.take_reconnected()) resume();
        retry_refused();
        read_failed_ones();
        expire();
        if (model_)
            for (const auto& d : model_->take_done()) on_draft(d);
        bridge::incoming in;
        const bool got = link_.next(in, std::chrono::milliseconds(drafts_.empty() ? 100 : 10));
        // After the wait, whatever it brought: a grant comes before the first
        // message of its subscription, so that message waits for what came before it.
        for (const auto& filter : link_.take_granted()) on_granted(filter);
        if (!got) continue;
        Json::Value m;
        std::string why;
        if (!json::parse(in.payload, m, why) || !m.isObject()) continue;
        if (in.topic == inbox_) {
            on_inbox(m);
            continue;
        }
        const parsed_topic t = topics_.parse(in.topic);
        if (t.kind == topic_kind::conv_msg) on_message(t.conv, m);
    }
}

/// SIGHUP: the file's timings apply at once (the broker's settings at the
/// next start); every desk's rules are read again.
void assistant::reload_settings() {
    try {
        const bot_config fresh = load_config(config_path_);
        if (fresh.mqtt_uri != config_.mqtt_uri || fresh.mqtt_username != config_.mqtt_username ||
            fresh.mqtt_password != config_.mqtt_password || fresh.mqtt_client_id != config_.mqtt_client_id ||
            fresh.topic_prefix != config_.topic_prefix || fresh.session_expiry_s != config_.session_expiry_s)
            note("SIGHUP: the broker settings changed; they apply at the next start");
        config_.request_timeout_ms = fresh.request_timeout_ms;
        config_.rules_refresh_s = fresh.rules_refresh_s;
        note("SIGHUP: settings read again from " + config_path_ + "; the desks' rules are read again");
    } catch (const std::exception& e) {
        warn(std::string("SIGHUP: keeping the settings in use: ") + e.what());
    }
    for (auto& [desk, r] : rules_) r.known = false;
}

/// A conversation the broker would not let it read yet (the plugin had not
/// heard of the membership): asked again shortly, up to 50 times.
void assistant::retry_refused() {
    for (const auto& filter : link_.take_refused()) {
        auto& r = resubscribe_[filter];
        if (++r.tries > max_resubscribe_tries) {
            warn("the broker keeps refusing " + filter + "; giving up on it");
            resubscribe_.erase(filter);
            continue;
        }
        r.at = clock::now() + resubscribe_delay;
    }
    for (auto& [filter, r] : resubscribe_)
        if (r.at != clock::time_point{} && r.at <= clock::now()) {
            link_.subscribe(filter);
            r.at = {};
        }
}

/// Its subscription to a conversation has taken — at adoption, after the
/// broker said come back later, after a reconnection with no session kept.
/// A visitor's message published before that moment never reaches it live
/// (the widget sends the first one right after desk.visit; a refusal leaves
/// 200 ms): it reads them from history, after the last seq it has.
void assistant::on_granted(const std::string& filter) {
    resubscribe_.erase(filter);
    const parsed_topic t = topics_.parse(filter);
    if (t.kind != topic_kind::conv_msg) return;
    const auto it = conversations_.find(t.conv);
    if (it == conversations_.end() || it->second.seen < 0 || it->second.leaving) return;
    if (it->second.reading) {
        it->second.read_again = true;
        return;
    }
    it->second.reading = true;
    it->second.read_failures = 0;
    read_history(t.conv);
}

void assistant::read_history(std::int64_t conv) {
    const auto it = conversations_.find(conv);
    if (it == conversations_.end()) return;
    Json::Value params(Json::objectValue);
    params["conv"] = Json::Int64(conv);
    params["after"] = Json::Int64(it->second.seen);
    params["limit"] = history_page;
    call("history", params, [this, conv, adopted = it->second.adopted](const Json::Value& reply) {
        const auto c = conversations_.find(conv);
        // Not for a conversation forgotten and taken up again meanwhile (handed back): that one reads its own.
        if (c != conversations_.end() && c->second.adopted == adopted) history_read(conv, reply);
    });
}

void assistant::history_read(std::int64_t conv, const Json::Value& reply) {
    auto it = conversations_.find(conv);
    if (!reply.isMember("result")) {
        if (++it->second.read_failures < max_read_failures) {
            warn("history of " + std::to_string(conv) + " failed (" + reply["error"]["message"].asString() +
                 "); reading it again shortly");
            reread_[conv] = clock::now() + reread_delay;
            return;
        }
        warn("history of " + std::to_string(conv) + " keeps failing; going on with what comes live");
    } else {
        for (const auto& m : reply["result"]["messages"]) {
            take(conv, m); // may hand over, and forget the conversation
            if (!conversations_.count(conv)) return;
        }
        it = conversations_.find(conv);
        if (reply["result"]["more"].asBool() || it->second.read_again) {
            it->second.read_again = false;
            return read_history(conv);
        }
    }
    it->second.reading = false;
    for (const auto& m : std::exchange(it->second.held, {})) {
        take(conv, m);
        if (!conversations_.count(conv)) return;
    }
}

void assistant::read_failed_ones() {
    const auto now = clock::now();
    for (auto it = reread_.begin(); it != reread_.end();) {
        if (it->second > now) {
            ++it;
            continue;
        }
        const std::int64_t conv = it->first;
        it = reread_.erase(it);
        read_history(conv);
    }
}

/// After (re)connecting: the conversations it has now (desk.mine), in case
/// their notices came while it was away with no session kept.
void assistant::resume() {
    resumed_ = false;
    const std::uint64_t asked_at = adoptions_;
    call("desk.mine", Json::Value(Json::objectValue), [this, asked_at](const Json::Value& reply) {
        if (!reply.isMember("result")) warn("desk.mine failed: " + reply["error"]["message"].asString());
        std::set<std::int64_t> mine;
        for (const auto& c : reply["result"]["conversations"]) {
            mine.insert(c["conv"].asInt64());
            if (!conversations_.count(c["conv"].asInt64()))
                adopt(c["conv"].asInt64(), c["desk"].asString(), c["visitor"].asString(), c["details"], nullptr,
                      c["unanswered_after"]);
        }
        // What it had before asking and is no longer its own (closed or
        // handed over while it was away) is forgotten; what it took up
        // since it asked is newer than the answer.
        if (reply.isMember("result")) {
            std::vector<std::int64_t> gone;
            for (const auto& [conv, c] : conversations_)
                if (c.adopted <= asked_at && !mine.count(conv)) gone.push_back(conv);
            for (auto conv : gone) forget(conv);
        }
        resumed_ = true;
        for (auto& [conv, messages] : std::exchange(early_, {}))
            for (const auto& m : messages) on_message(conv, m);
    });
}

void assistant::on_inbox(const Json::Value& m) {
    if (m.isMember("corr")) {
        const auto it = replies_.find(m["corr"].asString());
        if (it == replies_.end()) return;
        auto then = std::move(it->second.then);
        replies_.erase(it);
        then(m);
        return;
    }
    if (m.isMember("ack") || (m["error"].isObject() && m["error"].isMember("id"))) {
        const std::string id = m.isMember("ack") ? m["ack"].asString() : m["error"]["id"].asString();
        if (m.isMember("error")) warn("message " + id + " refused: " + m["error"]["message"].asString());
        const auto it = acks_.find(id);
        if (it == acks_.end()) return;
        auto then = std::move(it->second.then);
        acks_.erase(it);
        if (then) then();
        return;
    }
    const std::string notice = m["notice"].asString();
    const std::int64_t conv = m["conv"].asInt64();
    if (notice == "desk.bot" && conv > 0) {
        forget(conv); // handed back: a fresh start
        adopt(conv, m["desk"].asString(), m["visitor"].asString(), m["details"], m["returned"].asBool() ? "back" : "new",
              m["seq"]);
    } else if (notice == "desk.handed_over") {
        // Someone else handed it over (the visitor's button, an agent): the
        // person taking it still gets what the assistant knows.
        const auto it = conversations_.find(conv);
        if (it != conversations_.end()) {
            Json::Value params(Json::objectValue);
            params["conv"] = Json::Int64(conv);
            params["card"] = handoff_card(it->second.state);
            call("desk.card", params, [conv](const Json::Value& reply) {
                if (!reply.isMember("result"))
                    note("desk.card of " + std::to_string(conv) + ": " + reply["error"]["message"].asString());
            });
        }
        forget(conv);
    } else if (notice == "desk.closed" || notice == "desk.transferred") {
        forget(conv);
    }
}

void assistant::adopt(std::int64_t conv, const std::string& desk, const std::string& visitor, const Json::Value& details,
                      const char* greeting, const Json::Value& seq) {
    conversation& c = conversations_[conv];
    c.desk = desk;
    c.visitor = visitor;
    c.adopted = ++adoptions_;
    if (seq.isIntegral() && seq.asInt64() >= 0) c.seen = seq.asInt64();
    link_.subscribe(topics_.conv_msg(conv));
    note("conversation " + std::to_string(conv) + " at desk " + desk + " with " + visitor);
    const std::string why = greeting ? std::string(greeting) : "";
    const Json::Value given = details;
    with_rules(desk, [this, conv, why, given](const assistant_rules& rules) {
        if (!conversations_.count(conv)) return;
        if (const std::string rule = rule_at_start(rules, given); !rule.empty()) return hand_over(conv, rule, rules);
        if (why == "new") say(conv, rules.greeting);
        else if (why == "back") say(conv, "I'm back. How can I help?");
    });
}

void assistant::forget(std::int64_t conv) {
    if (conversations_.erase(conv)) link_.unsubscribe(topics_.conv_msg(conv));
    resubscribe_.erase(topics_.conv_msg(conv));
    reread_.erase(conv);
    drafts_.erase(conv); // a draft still coming is for a conversation it no longer has
}

void assistant::on_message(std::int64_t conv, const Json::Value& m) {
    const auto it = conversations_.find(conv);
    if (it == conversations_.end() && !resumed_) {
        early_[conv].push_back(m);
        return;
    }
    if (it == conversations_.end() || it->second.leaving) return;
    if (it->second.reading) return it->second.held.push_back(m);
    take(conv, m);
}

/// One message of a conversation, live or from history: a visitor's text
/// goes in line to be handled, once.
void assistant::take(std::int64_t conv, const Json::Value& m) {
    const auto it = conversations_.find(conv);
    if (it == conversations_.end() || it->second.leaving) return;
    const std::int64_t seq = m["seq"].asInt64();
    if (seq > 0 && seq <= it->second.seen) return; // had it
    if (seq > it->second.seen) it->second.seen = seq;
    if (m["sender"].asString() == config_.mqtt_username) return;
    const std::string type = m["type"].asString();
    if (!type.empty() && type != "text") return; // edits, reactions…: nothing to answer
    if (!m["body"].isString() || m["body"].asString().empty()) return;
    it->second.waiting.push_back(m["body"].asString());
    next_message(conv);
}

void assistant::next_message(std::int64_t conv) {
    const auto it = conversations_.find(conv);
    if (it == conversations_.end() || it->second.busy || it->second.waiting.empty() || it->second.leaving) return;
    conversation& c = it->second;
    c.busy = true;
    const std::string text = c.waiting.front();
    c.waiting.pop_front();
    with_rules(c.desk, [this, conv, text](const assistant_rules& rules) { handle(conv, text, rules); });
}

void assistant::handle(std::int64_t conv, const std::string& text, const assistant_rules& rules) {
    const auto it = conversations_.find(conv);
    if (it == conversations_.end() || it->second.leaving) return; // handing over: not a word more
    conversation_state& st = it->second.state;
    ++st.turns;
    st.sentiment.push_back(scorer_.score(text));
    st.messages.push_back(text);
    if (st.messages.size() > max_messages_kept) st.messages.erase(st.messages.begin());
    remember(conv, true, text);
    if (const std::string rule = rule_for_message(rules, st, text); !rule.empty()) return hand_over(conv, rule, rules);

    Json::Value params(Json::objectValue);
    params["desk"] = it->second.desk;
    params["q"] = text;
    call("desk.kb", params, [this, conv, rules](const Json::Value& reply) {
        const auto c = conversations_.find(conv);
        if (c == conversations_.end() || c->second.leaving) return;
        const Json::Value& best = reply["result"]["matches"][0];
        if (!reply.isMember("result")) warn("desk.kb failed: " + reply["error"]["message"].asString());
        const answer_decision d =
            decide(rules, c->second.state, best.isObject() ? best["key"].asString() : "", best["confidence"].asDouble());
        if (d.what == answer_decision::escalate) return hand_over(conv, d.rule, rules);
        auto done = [this, conv] { done_with_message(conv); };
        if (d.what == answer_decision::answer) return answer(conv, reply["result"]["matches"], rules);
        // Not sure: the nearest questions, as buttons the widget shows (type quick_replies).
        const std::string suggestions = suggested_questions(reply["result"]["matches"], rules.threshold);
        if (suggestions.empty()) return say(conv, rules.unsure, done);
        say(conv, rules.unsure);
        say(conv, suggestions, done, "quick_replies");
    });
}

void assistant::done_with_message(std::int64_t conv) {
    const auto it = conversations_.find(conv);
    if (it == conversations_.end()) return;
    it->second.busy = false;
    next_message(conv);
}

void assistant::remember(std::int64_t conv, bool visitor, const std::string& text) {
    const auto it = conversations_.find(conv);
    if (it == conversations_.end()) return;
    auto& t = it->second.transcript;
    t.push_back({visitor, text});
    if (t.size() > max_transcript) t.erase(t.begin());
}

/// A confident match: the entry's text — or, with a language model, its
/// draft from the best entries and this conversation (and the entry's text
/// when the draft cannot be used).
void assistant::answer(std::int64_t conv, const Json::Value& matches, const assistant_rules& rules) {
    const Json::Value& best = matches[0];
    const auto it = conversations_.find(conv);
    if (!model_ || it == conversations_.end()) {
        remember(conv, false, best["answer"].asString());
        return say(conv, answer_text(best), [this, conv] { done_with_message(conv); });
    }
    draft_request r;
    r.conv = conv;
    r.desk = it->second.desk;
    for (const auto& m : matches)
        if (r.entries.size() < max_draft_entries && m["confidence"].asDouble() >= rules.threshold / 2)
            r.entries.push_back({m["question"].asString(), m["answer"].asString()});
    r.recent = it->second.transcript;
    if (r.recent.size() > max_draft_turns) r.recent.erase(r.recent.begin(), r.recent.end() - max_draft_turns);
    drafts_[conv] = {best, rules};
    model_->submit(std::move(r));
}

void assistant::on_draft(const draft_result& d) {
    const auto pending = drafts_.find(d.conv);
    if (pending == drafts_.end()) return;
    const pending_draft p = pending->second;
    drafts_.erase(pending);
    const auto it = conversations_.find(d.conv);
    if (it == conversations_.end() || it->second.leaving) return;
    auto done = [this, conv = d.conv] { done_with_message(conv); };
    if (d.what == draft_result::drafted) {
        remember(d.conv, false, d.text);
        return say(d.conv, answer_text(p.best, d.text), done);
    }
    if (d.what == draft_result::declined) {
        const answer_decision next = declined(p.rules, it->second.state);
        if (next.what == answer_decision::escalate) return hand_over(d.conv, next.rule, p.rules);
        remember(d.conv, false, p.rules.unsure);
        return say(d.conv, p.rules.unsure, done);
    }
    // Slow, failing or nonsensical: the knowledge base's own words, never silence.
    note("conversation " + std::to_string(d.conv) + ": the model's draft is not used (" + d.why + "); the entry's text instead");
    remember(d.conv, false, p.best["answer"].asString());
    say(d.conv, answer_text(p.best), done);
}

void assistant::hand_over(std::int64_t conv, const std::string& rule, const assistant_rules& rules) {
    const auto it = conversations_.find(conv);
    if (it == conversations_.end() || it->second.leaving) return;
    it->second.leaving = true;
    const Json::Value card = handoff_card(it->second.state);
    note("conversation " + std::to_string(conv) + ": handing over (" + rule + ")");
    // Said first, and stored (acked) before it leaves: the handoff takes its membership.
    say(conv, rules.handoff, [this, conv, rule, card] {
        Json::Value params(Json::objectValue);
        params["conv"] = Json::Int64(conv);
        params["rule"] = rule;
        params["card"] = card;
        call("desk.handoff", params, [this, conv](const Json::Value& reply) {
            if (!reply.isMember("result"))
                warn("desk.handoff of " + std::to_string(conv) + " failed: " + reply["error"]["message"].asString());
            forget(conv);
        });
    });
}

void assistant::with_rules(const std::string& desk, std::function<void(const assistant_rules&)> then) {
    desk_rules& r = rules_[desk];
    if (r.known && clock::now() - r.read_at < std::chrono::seconds(config_.rules_refresh_s)) return then(r.rules);
    r.waiting.push_back(std::move(then));
    if (r.asked) return;
    r.asked = true;
    Json::Value params(Json::objectValue);
    params["desk"] = desk;
    call("desk.assistant", params, [this, desk](const Json::Value& reply) {
        desk_rules& d = rules_[desk];
        d.asked = false;
        std::string why;
        assistant_rules parsed;
        if (reply.isMember("result") && parse_assistant_rules(reply["result"]["rules"], parsed, why)) {
            d.rules = parsed;
        } else if (!d.known) {
            warn("desk " + desk + ": no rules (" +
                (reply.isMember("error") ? reply["error"]["message"].asString() : why) + "); using the defaults");
        }
        d.known = true;
        d.read_at = clock::now();
        auto waiting = std::exchange(d.waiting, {});
        for (auto& f : waiting) f(d.rules);
    });
}

void assistant::call(const std::string& method, Json::Value params, reply_handler then) {
    const std::string corr = id_prefix_ + std::to_string(++next_id_);
    params["corr"] = corr;
    replies_[corr] = {clock::now() + std::chrono::milliseconds(config_.request_timeout_ms), std::move(then)};
    link_.publish(topics_.rpc(method), json::write(params));
}

void assistant::say(std::int64_t conv, const std::string& text, std::function<void()> then, const char* type) {
    const std::string id = id_prefix_ + std::to_string(++next_id_);
    Json::Value m(Json::objectValue);
    m["id"] = id;
    m["body"] = text;
    if (type) m["type"] = type;
    acks_[id] = {clock::now() + ack_timeout, std::move(then)};
    link_.publish(topics_.conv_send(conv), json::write(m));
}

/// Requests and messages never answered: their continuations run as failures.
void assistant::expire() {
    const auto now = clock::now();
    for (auto it = replies_.begin(); it != replies_.end();) {
        if (it->second.deadline > now) {
            ++it;
            continue;
        }
        auto then = std::move(it->second.then);
        it = replies_.erase(it);
        Json::Value timeout(Json::objectValue);
        timeout["error"]["code"] = "timeout";
        timeout["error"]["message"] = "no answer in time";
        then(timeout);
    }
    for (auto it = acks_.begin(); it != acks_.end();) {
        if (it->second.deadline > now) {
            ++it;
            continue;
        }
        auto then = std::move(it->second.then);
        it = acks_.erase(it);
        if (then) then();
    }
}

} // namespace mqchat::bot
