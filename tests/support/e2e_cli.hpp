#pragma once
/// chat_cli run as a process, as a user would run it, for the end-to-end
/// encryption suites (e2e_flow_test, e2e_group_test): its output, its exit
/// code, and the small readings of its output they share.

#include <cppunit/extensions/HelperMacros.h>

#include <json/json.h>

#include <chrono>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/environment.hpp"
#include "support/process.hpp"
#include "support/servers.hpp"

namespace mqchat::test::e2e_cli {

struct cli_result {
    int rc;
    std::string out;
};

/// Runs chat_cli as `user` with the passphrase of `passphrase` (default: the user's own).
inline cli_result cli(chat_stack& s, const std::string& user, std::vector<std::string> args,
               const std::string& passphrase = "") {
    std::vector<std::string> argv{bin_dir() + "/chat_cli",
                                  "--uri",
                                  "tcp://127.0.0.1:" + std::to_string(s.port()),
                                  "--user",
                                  user,
                                  "--password",
                                  "pw-" + user};
    argv.insert(argv.end(), args.begin(), args.end());
    cli_result r{};
    r.rc = run_command(
        argv, r.out,
        {"MQCHAT_E2E_PASSPHRASE=" + (passphrase.empty() ? "pass of " + user : passphrase)});
    return r;
}

/// The same, asserting success.
inline std::string ok(chat_stack& s, const std::string& user, std::vector<std::string> args) {
    std::string what = user + ":";
    for (const auto& a : args)
        what += " " + a;
    const cli_result r = cli(s, user, std::move(args));
    CPPUNIT_ASSERT_EQUAL_MESSAGE(what + "\n" + r.out, 0, r.rc);
    return r.out;
}

inline bool has(const std::string& out, const std::string& line) {
    return out.find(line) != std::string::npos;
}

/// The number after `prefix` in `out` ("created encrypted conversation 7").
inline std::string number_after(const std::string& out, const std::string& prefix) {
    const auto at = out.find(prefix);
    CPPUNIT_ASSERT_MESSAGE(out, at != std::string::npos);
    std::istringstream in(out.substr(at + prefix.size()));
    long long n = 0;
    in >> n;
    return std::to_string(n);
}

/// Waits until the file at `path` holds `text`.
inline bool appears(const std::string& path, const std::string& text,
             std::chrono::seconds timeout = std::chrono::seconds(20)) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < until) {
        if (read_file(path).find(text) != std::string::npos) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
}

inline Json::Value parse(const std::string& text) {
    Json::Value v;
    std::istringstream(text) >> v;
    return v;
}


} // namespace mqchat::test::e2e_cli
