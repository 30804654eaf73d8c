#pragma once
/// An optional language model that drafts the assistant's answer from the
/// knowledge base's best entries (docs/assistant.md, "A language model"):
/// any OpenAI-compatible chat-completions endpoint, over libcurl, with a
/// strict timeout. The model gets this conversation's last messages and the
/// retrieved entries, nothing else — no rules, no settings, no other
/// conversation. A slow, failing, declining or ungrounded answer is not
/// used: the assistant falls back to the entry's own text, or to "not sure".
///
/// Posts run on a thread of their own so a slow model never holds up the
/// assistant's other conversations; results are collected with take_done().

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace mqchat::bot {

struct model_settings {
    std::string url;      ///< e.g. https://api.example.com/v1/chat/completions; empty: no model
    std::string model;    ///< the "model" field
    std::string api_key;  ///< sent as "Authorization: Bearer …" when not empty
    int timeout_ms = 8000;
    int max_tokens = 300;
    std::string ca_file;  ///< trust this CA bundle instead of the system's
};

struct draft_request {
    std::int64_t conv = 0;
    std::string desk;
    struct entry {
        std::string question, answer;
    };
    std::vector<entry> entries; ///< best first
    struct turn {
        bool visitor = true;
        std::string text;
    };
    std::vector<turn> recent; ///< this conversation's last messages, oldest first; the last is the question
};

struct draft_result {
    std::int64_t conv = 0;
    enum kind { drafted, declined, failed } what = failed;
    std::string text; ///< drafted: the answer
    std::string why;  ///< failed or declined: for the log
};

/// The chat-completions request body for `r` (a system message with the
/// instructions and the entries, then the conversation).
std::string completion_body(const model_settings& s, const draft_request& r);

/// Reads a chat-completions response: the draft, or why it is not used —
/// not JSON, no text, over 2,000 bytes, not UTF-8, the model declined
/// ("ESCALATE"), or not grounded (fewer than a third of its words of four
/// letters or more, and fewer than three, appear in the entries).
draft_result read_completion(std::int64_t conv, long status, const std::string& body, const draft_request& r);

class language_model {
public:
    explicit language_model(model_settings settings);
    ~language_model();
    language_model(const language_model&) = delete;
    language_model& operator=(const language_model&) = delete;

    /// Queued for the model's thread; beyond 100 waiting it fails at once.
    void submit(draft_request r);
    std::vector<draft_result> take_done();
    bool idle();

private:
    void work();

    const model_settings settings_;
    std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<draft_request> waiting_;
    std::vector<draft_result> done_;
    int busy_ = 0;
    bool stopping_ = false;
    std::thread worker_;
};

} // namespace mqchat::bot
