#pragma once
/// When the assistant hands a conversation to a person (docs/assistant.md,
/// "Escalation rules"). Pure functions of the desk's rules, what happened
/// in the conversation so far and the visitor's newest message, so every
/// rule is tested with a table of cases (tests/unit/escalation_test.cpp).

#include <json/json.h>

#include <string>
#include <string_view>
#include <vector>

#include "common/assistant_rules.hpp"

namespace mqchat::bot {

/// What the assistant knows of one conversation.
struct conversation_state {
    int turns = 0;                         ///< the visitor's messages so far
    int failures = 0;                      ///< unsure answers in a row
    std::vector<double> sentiment;         ///< one score per visitor message (−5 … +5)
    std::vector<std::string> answered;     ///< knowledge-base keys answered, in order
    std::vector<std::string> messages;     ///< the visitor's messages (for the summary; the last 50)
};

/// The rule that sends a new conversation straight to a person: `attribute`
/// when one of the pre-chat details has a value the rules list; "" otherwise.
std::string rule_at_start(const assistant_rules& rules, const Json::Value& details);

/// The rule a visitor's message fires before the knowledge base is asked
/// (the message is already counted in `state`: turns, sentiment):
/// `keyword`, then `sentiment`, then `length`; "" for none.
std::string rule_for_message(const assistant_rules& rules, const conversation_state& state, std::string_view text);

/// What to do with the knowledge base's best match for the message.
struct answer_decision {
    enum kind { answer, unsure, escalate } what = unsure;
    std::string rule; ///< for escalate: `failures` or `rephrase`
};
/// `best_key` "" when nothing matched. Updates the failure count.
/// The same entry as the last answer means the answer did not help:
/// `rephrase`. Below the threshold `max_failures` times in a row: `failures`.
answer_decision decide(const assistant_rules& rules, conversation_state& state, const std::string& best_key,
                       double confidence);

/// The language model found no answer in the entries the knowledge base
/// offered: the answer is taken back and it counts as unsure (`failures`
/// at the limit).
answer_decision declined(const assistant_rules& rules, conversation_state& state);

/// True when `phrase` occurs in `text` as whole words, in any case (ASCII
/// letters folded; other bytes compared as they are).
bool contains_phrase(std::string_view text, std::string_view phrase);

/// What the person taking over reads first: the counts, the sentiment
/// trend, up to three of the visitor's messages that say most (extractive:
/// the ones with the most words of three letters or more, a question
/// counting double, shown in the order written) and the answers given.
Json::Value handoff_card(const conversation_state& state);

} // namespace mqchat::bot
