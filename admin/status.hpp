#pragma once
/// `mqchat-admin status`: the stack's health summed up for a person, from
/// the database (which sees every broker's plugin, every bridge and every
/// media service connect) and, when given, the bridges' and media services'
/// readiness endpoints.

#include <iosfwd>
#include <string>
#include <vector>

#include "common/pg.hpp"

namespace mqchat::admin {

struct status_options {
    /// Bridges' endpoints (metrics_listen) to ask /readyz: "HOST:PORT" or a URL.
    std::vector<std::string> bridges;
    /// Media services' endpoints (their metrics_listen) to ask /readyz.
    std::vector<std::string> media;
    /// Warn when the outbox holds messages stored longer ago than this.
    int stale_outbox_s = 10;
};

/// Connects to `conninfo` and prints one line per part: "NAME  ok|warn|FAIL
/// what" (a database that cannot be reached is a FAIL line, and the bridges
/// are still asked). Returns false when any part FAILs (the command then
/// exits 1, for scripts and monitors).
bool status(const std::string& conninfo, const status_options& o, std::ostream& out);

} // namespace mqchat::admin
