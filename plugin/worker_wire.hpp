#pragma once
/// The messages between the broker's thread and the worker process
/// (worker_process.hpp), as bytes on a pipe: each is a frame of
/// [u32 length of what follows][u8 type][fields], integers in the machine's
/// own byte order (both ends are the same program on the same machine),
/// strings as [u32 length][bytes].
///
/// Only the plugin writes these and only the plugin reads them, but a reader
/// never trusts a length: a frame that does not add up is an error
/// (wire::malformed), never a read out of bounds.

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>

#include "directory_lookup.hpp"
#include "directory_sync.hpp"
#include "password_checker.hpp"

namespace mqchat::plugin::wire {

struct malformed : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// The broker's requests.
struct ask_user {
    std::string name;
    std::uint64_t ticket = 0;
};
struct ask_member {
    std::string name;
    std::int64_t conv = 0;
    std::uint64_t ticket = 0;
};
struct check_password {
    std::string user, password, stored_hash, digest;
};
struct remember_login {
    std::string name, digest;
};

// What the worker process found out, besides directory_change,
// lookup_answer and password_verdict, which travel as they are.
/// Every lookup up to this ticket is answered, its answers sent before this.
struct lookup_progress {
    std::uint64_t answered_through = 0;
};
/// A password check the worker process could not take (its queue is full).
struct password_dropped {
    std::string digest;
};

using message = std::variant<ask_user, ask_member, check_password, remember_login, directory_change, lookup_answer,
                             lookup_progress, password_verdict, password_dropped>;

/// Appends the frame of a message to `out`.
void put(std::string& out, const ask_user& m);
void put(std::string& out, const ask_member& m);
void put(std::string& out, const check_password& m);
void put(std::string& out, const remember_login& m);
void put(std::string& out, const directory_change& m);
void put(std::string& out, const lookup_answer& m);
void put(std::string& out, const lookup_progress& m);
void put(std::string& out, const password_verdict& m);
void put(std::string& out, const password_dropped& m);

/// The length of the frame at the start of `bytes` when all of it is there,
/// else 0 (more is to come). Throws malformed for a length no frame has.
std::size_t complete_frame(std::string_view bytes);

/// The message in `frame`, a whole frame as complete_frame() measured it.
message decode(std::string_view frame);

} // namespace mqchat::plugin::wire
