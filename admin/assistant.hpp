#pragma once
/// The admin tool's assistant commands (docs/assistant.md): a desk's
/// assistant and its rules, the desk's knowledge base, and what the
/// assistant did (statistics).

#include <iosfwd>
#include <string>

#include "commands.hpp"

namespace mqchat::admin {

/// Makes the bot user (role 'bot': `user add NAME --bot`) the desk's
/// assistant, with the rules of `rules_file` (JSON; "" keeps the desk's or
/// the defaults) and its knowledge base matched in `language` (a text search
/// configuration; "" keeps the desk's, english at first). Prints the rules.
void desk_assistant(pg::connection& db, const std::string& desk, const std::string& bot, const std::string& language,
                    const std::string& rules_file, std::ostream& out);
/// The desk has no assistant from now on; its conversations with the
/// assistant wait in the queue for a person.
void desk_assistant_off(pg::connection& db, const std::string& desk, std::ostream& out);
/// Loads the desk's knowledge base from a file (JSON or Markdown): entries
/// are added or updated by key, and entries not in the file are removed —
/// in one transaction, after the whole file was checked.
void kb_load(pg::connection& db, const std::string& desk, const std::string& file, std::ostream& out);
/// One line per entry: key, number of phrasings, first question.
void kb_list(pg::connection& db, const std::string& desk, std::ostream& out);
/// The entries a visitor's `text` would match, best first, with their
/// confidence: for tuning the threshold and the phrasings.
void kb_match(pg::connection& db, const std::string& desk, const std::string& text, std::ostream& out);
/// What the desk's assistant did: conversations it had, resolved alone,
/// handed over by rule, and the time from handoff to a person.
void desk_stats(pg::connection& db, const std::string& desk, std::ostream& out);

} // namespace mqchat::admin
