#pragma once
/// A desk's knowledge base as operators write it (docs/assistant.md):
/// a JSON list of entries, or Markdown with one `## question` heading per
/// entry. Parsed whole, before anything is written: a file with one bad
/// entry changes nothing and names the entry.

#include <string>
#include <vector>

namespace mqchat::admin {

struct kb_link {
    std::string title, url;
};

struct kb_entry {
    std::string key;                    ///< [a-z0-9][a-z0-9_-]{0,79}; from the first question when not given
    std::vector<std::string> questions; ///< 1–20 phrasings, each 1–500 bytes
    std::string answer;                 ///< 1–4,000 bytes
    std::vector<kb_link> links;         ///< at most 10; http(s) URLs
};

/// JSON when the text starts with '[' (after blanks), Markdown otherwise.
/// False with `error` ("entry 3 (shipping): …") on the first problem,
/// including two entries with one key. At most 5,000 entries.
bool parse_knowledge_base(const std::string& text, std::vector<kb_entry>& out, std::string& error);

/// "How long does shipping take?" -> "how-long-does-shipping-take".
std::string key_from_question(const std::string& question);

} // namespace mqchat::admin
