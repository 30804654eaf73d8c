#pragma once
/// The admin tool's support-desk commands (docs/desks.md): desks, their
/// agents and supervisors. Like every command: input checked first, one
/// transaction, admin::failure with a message for people.

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "commands.hpp"

namespace mqchat::admin {

/// The desk's id; admin::failure for a malformed name or no such desk.
std::int64_t find_desk(pg::connection& db, const std::string& name);

/// Prints "created desk NAME".
void desk_create(pg::connection& db, const std::string& name, const std::string& title, std::ostream& out);
/// Makes USER an agent of the desk, or changes its capacity (conversations held at once, 1–100).
void desk_add_agent(pg::connection& db, const std::string& desk, const std::string& user, std::int64_t capacity,
                    std::ostream& out);
/// The agent's assigned conversations of that desk stay assigned; nothing new comes.
void desk_remove_agent(pg::connection& db, const std::string& desk, const std::string& user, std::ostream& out);
/// A supervisor sees and acts on every desk (`on` false: no longer).
void desk_supervisor(pg::connection& db, const std::string& user, bool on, std::ostream& out);
/// How the desk's waiting conversations find an agent: manual (agents
/// claim), least_busy or round_robin (the bridge assigns; docs/desks.md).
void desk_routing(pg::connection& db, const std::string& desk, const std::string& mode, std::ostream& out);
/// Adds (or, with an empty body, removes) a canned response of the desk.
void desk_canned(pg::connection& db, const std::string& desk, const std::string& shortcut, const std::string& body,
                 std::ostream& out);
/// Sets the desk's business hours from specs like "mon-fri=09:00-17:00" or
/// "sat,sun=10:00-14:00" in `time_zone` (an IANA name); no specs: always open.
void desk_hours(pg::connection& db, const std::string& desk, const std::vector<std::string>& specs,
                const std::string& time_zone, std::ostream& out);
/// What may be sent in the desk's support conversations (docs/media.md):
/// at most `max_bytes` per file (0: the server's media_max_bytes) and these
/// MIME types or families ("image/*"; none: the server's media_types).
void desk_media(pg::connection& db, const std::string& desk, std::int64_t max_bytes,
                const std::vector<std::string>& types, std::ostream& out);
/// Where the desk's offline messages go (empty: it takes none).
void desk_email(pg::connection& db, const std::string& desk, const std::string& address, std::ostream& out);
/// Sets the desk's pre-chat form from specs "NAME[:text|email][:required]"
/// (names of 1–32 characters from a-z 0-9 _; at most 10); none: no form.
void desk_prechat(pg::connection& db, const std::string& desk, const std::vector<std::string>& specs, std::ostream& out);
/// Mints a site key for the desk's website (docs/desks.md, "Visitors from a
/// website"): a JWT signed with the plugin's HS256 secret (t.secret_file;
/// t.issuer / t.audience as the plugin requires), valid `days` days. Prints
/// its id and, last, the key.
void site_key_create(pg::connection& db, const std::string& desk, const std::string& label, std::int64_t days,
                     const token_options& t, std::ostream& out);
/// Revokes a site key by id: desk.visit refuses it from now on.
void site_key_revoke(pg::connection& db, const std::string& id, std::ostream& out);
/// One line per site key (of one desk, or all): id, desk, state, label.
void site_key_list(pg::connection& db, const std::string& desk, std::ostream& out);
/// Makes a new identity secret for the desk (the site's backend signs its
/// users' ids with it) and prints it last; `off`: the desk verifies no one.
void desk_identity_secret(pg::connection& db, const std::string& desk, bool off, std::ostream& out);
/// One line per desk: name, waiting, assigned, agents (capacity), title.
void desk_list(pg::connection& db, std::ostream& out);

} // namespace mqchat::admin
