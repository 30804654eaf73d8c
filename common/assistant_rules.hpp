#pragma once
/// A desk assistant's answer threshold and escalation rules
/// (docs/assistant.md): stored as JSON with the desk (desk_assistants.rules),
/// written by mqchat-admin, read by mqchat-bot. One parser for both, so the
/// operator is told at once what the assistant would refuse.

#include <json/json.h>

#include <map>
#include <string>
#include <vector>

namespace mqchat {

struct assistant_rules {
    /// The knowledge base answers when its best entry's confidence is at
    /// least this (0–1); below it the assistant says it is not sure.
    double threshold = 0.5;
    /// A visitor message containing one of these (whole words, any case)
    /// goes to a person: rule `keyword`.
    std::vector<std::string> keywords = {"human", "agent", "person", "someone real", "talk to someone"};
    /// This many unsure answers in a row: rule `failures`. The same
    /// question asked again after an answer counts as a failure too.
    int max_failures = 3;
    /// More visitor messages than this without the conversation ending: rule `length`.
    int max_turns = 12;
    /// Sentiment (a lexicon's score per message, about -5 to +5): one
    /// message at or below `sentiment_single`, or the last three's average
    /// at or below `sentiment_average`: rule `sentiment`.
    double sentiment_single = -3.0;
    double sentiment_average = -1.5;
    /// Pre-chat details that go straight to a person: rule `attribute`,
    /// e.g. {"plan": ["enterprise", "premium"]}.
    std::map<std::string, std::vector<std::string>> attributes;
    /// What it says: first, when unsure, and when it hands over.
    std::string greeting = "Hi! I'm the assistant. Ask me anything — or ask for a person at any time.";
    std::string unsure = "I'm not sure I can answer that. Could you put it another way, or shall I find you a person?";
    std::string handoff = "Connecting you with a person.";
};

/// Reads `rules` (an object; missing keys keep their defaults). False with
/// `error` naming the first bad key and what it must be.
bool parse_assistant_rules(const Json::Value& rules, assistant_rules& out, std::string& error);

/// The rules as JSON (every key), for storing and showing.
Json::Value assistant_rules_json(const assistant_rules& rules);

} // namespace mqchat
