#pragma once
/// The audit log of mqchat-admin (docs/data-rights.md, "Audit log"): every
/// command that changes something — or hands out someone's data or a
/// credential — is recorded in admin_audit with who ran it, the command and
/// its arguments (passwords masked), when, and how it ended. Recorded by the
/// dispatcher (main.cpp) around every command, never by the commands.

#include <cstdint>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "commands.hpp"

namespace mqchat::admin::audit {

/// Whether a command (its words, as typed) is recorded: everything but the
/// commands that only read and show operators' own data (lists, stats,
/// kb match, retention list, audit) and help.
bool recorded(const std::vector<std::string>& args);

/// The arguments as stored: the value after --password (or in
/// --password=…) is "***"; each argument at most 1,000 bytes.
std::vector<std::string> masked(const std::vector<std::string>& args);
/// The secret values among the arguments (masked in error details too).
std::vector<std::string> secrets_of(const std::vector<std::string>& args);

/// Who runs the tool: the OS user (effective uid), with the user who ran
/// sudo when there is one, e.g. "root (sudo: ann)".
std::string os_user();

/// One entry: written as 'running' when made, finished with the outcome.
/// Uses its own connection, so a command's rolled-back transaction or
/// broken connection never takes the entry with it.
class entry {
public:
    /// Throws admin::failure when the entry cannot be written to a
    /// database that has the audit log (the command must not run
    /// unrecorded); a database without it yet (before migration 022) is
    /// noted and the entry is written at finish() if the table exists then.
    entry(const std::string& conninfo, const std::string& actor, const std::vector<std::string>& args);
    ~entry();
    entry(const entry&) = delete;
    entry& operator=(const entry&) = delete;

    /// Records the outcome (detail: the error, for a failure). Never throws;
    /// a failure to record is reported on stderr.
    void finish(bool ok, const std::string& detail);

private:
    std::unique_ptr<pg::connection> db_;
    std::optional<std::int64_t> id_;
    std::string actor_, command_;
    std::vector<std::string> args_, secrets_;
    bool finished_ = false;
};

/// Prints entries newer than `since_s` seconds (0: all), newest first, at most `limit`.
void list(pg::connection& db, std::int64_t since_s, std::int64_t limit, std::ostream& out);

} // namespace mqchat::admin::audit
