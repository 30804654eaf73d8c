#pragma once
/// Users' data rights (docs/data-rights.md): everything stored about a user
/// as one JSON document, and erasure.

#include <iosfwd>
#include <string>

#include "commands.hpp"

namespace mqchat::admin {

/// The version of the export document ("version" in it); docs/data-rights.md
/// describes each version's fields.
inline constexpr int export_format_version = 1;

/// Writes the JSON document of everything stored about `name` to `out`,
/// read in one consistent snapshot.
void user_export(pg::connection& db, const std::string& name, std::ostream& out);

/// Erases a person's data (the text of their messages, devices, e-mail,
/// presence, login digests, visitor details, memberships, desk roles) and
/// turns the account into a banned placeholder under a random pseudonym;
/// their clients are disconnected by the rename (the directory's 'user-'
/// notice). `confirmed` is --yes-erase-forever: without it nothing changes.
/// Refused for the bridge's identity and assistants (role bridge, bot), and
/// for an account already erased. One transaction.
void user_erase(pg::connection& db, const std::string& name, bool confirmed, std::ostream& out);

} // namespace mqchat::admin
