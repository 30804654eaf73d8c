#pragma once
/// The chat envelope: what a client sends, what the plugin hands the bridge,
/// what members receive, and the acks and errors that go to an inbox.
/// docs/protocol.md describes the same shapes for client authors.

#include <json/json.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mqchat {

inline constexpr std::size_t max_client_id_length = 64;
inline constexpr std::size_t max_type_length = 32;

/// Error codes a client can see in `{"error": {"code": …}}`.
namespace error_code {
inline constexpr std::string_view invalid_json = "invalid_json";
inline constexpr std::string_view invalid_envelope = "invalid_envelope";
inline constexpr std::string_view payload_too_large = "payload_too_large";
inline constexpr std::string_view not_member = "not_member";
inline constexpr std::string_view invalid_topic = "invalid_topic";
inline constexpr std::string_view retain_not_allowed = "retain_not_allowed";
inline constexpr std::string_view internal = "internal_error";
inline constexpr std::string_view rate_limited = "rate_limited";
inline constexpr std::string_view not_authorized = "not_authorized";
// Requests (common/rpc.hpp):
inline constexpr std::string_view invalid_request = "invalid_request"; ///< bad parameters
inline constexpr std::string_view unknown_method = "unknown_method";
inline constexpr std::string_view not_found = "not_found"; ///< no such conversation or user
inline constexpr std::string_view forbidden = "forbidden"; ///< e.g. only a group's admins may do this
inline constexpr std::string_view conflict = "conflict"; ///< someone else changed it first (a support conversation claimed, closed)
inline constexpr std::string_view overloaded = "overloaded"; ///< too many requests waiting: retry after retry_after_ms
// Attachments (media.upload; docs/media.md):
inline constexpr std::string_view too_large = "too_large";               ///< a file above the conversation's limit
inline constexpr std::string_view type_not_allowed = "type_not_allowed"; ///< a type the conversation does not take
inline constexpr std::string_view quota_exceeded = "quota_exceeded";     ///< the user's uploads of the last day
// The key directory (keys.*, devices.*; docs/protocol.md, "End-to-end encryption"):
inline constexpr std::string_view too_many = "too_many"; ///< a device or key limit: remove or use some first
} // namespace error_code

/// Types with a meaning to the server: events about an earlier message
/// (`ref` = its seq). Other types (e.g. "text", "image") are the clients' own.
namespace message_type {
inline constexpr std::string_view edit = "edit";             ///< body: the new text (the sender only)
inline constexpr std::string_view delete_ = "delete";        ///< no body; erases the text (the sender only)
inline constexpr std::string_view reaction = "reaction";     ///< body: an emoji or short word
inline constexpr std::string_view unreaction = "unreaction"; ///< takes one's reaction back (body: which one, or none for all)
// Attachments: `media` names an upload (docs/media.md); the body, if any, is its caption.
inline constexpr std::string_view image = "image";
inline constexpr std::string_view file = "file";
inline constexpr std::string_view audio = "audio";
inline constexpr std::string_view video = "video";
/// End-to-end encrypted (docs/protocol.md): no body; `e2e` holds the ciphertexts, and
/// `media` may name an encrypted upload (media.upload with encrypted: true).
inline constexpr std::string_view e2e = "e2e";
} // namespace message_type

/// The limits of an `e2e` envelope: recipients (devices) of the per-device
/// form, and the base64 characters of one ciphertext.
inline constexpr std::size_t max_e2e_recipients = 100;
inline constexpr std::size_t max_e2e_ciphertext = 8192;

/// image, file, audio, video: the types that carry `media` (and need no body).
bool is_media_type(std::string_view type);

/// A message as a client sends it on `chat/conv/{cid}/send`.
struct send_envelope {
    std::string id;            ///< client message id, 1–64 printable ASCII characters
    std::string body;          ///< non-empty UTF-8 text
    std::string type;          ///< optional, e.g. "text"; empty when absent
    std::int64_t reply_to = 0; ///< optional seq this message answers; 0 when absent
    std::int64_t ref = 0;      ///< edit, delete, (un)reaction: the seq it is about; 0 otherwise
    std::string media;         ///< image, file, audio, video (and e2e, optionally): the upload's id (media.upload); "" otherwise
    /// e2e: the opaque envelope, checked for shape (a JSON object), null otherwise.
    Json::Value e2e;
    /// false ("ack": false): no ack on the sender's inbox once stored — a
    /// sender subscribed to the conversation takes its own copy on
    /// `…/msg` (same id, with seq) as the ack. Saves the broker a publish
    /// and its PUBACK per message (docs/protocol.md, "Ack").
    bool ack = true;
    std::string sender;        ///< only in a stamped envelope: the authenticated user
    bool guest = false;        ///< only in a stamped envelope: the sender is a guest (token)
};

struct envelope_error {
    std::string_view code; ///< one of error_code
    std::string message;   ///< for people: says what is wrong and where
};

/// Validates a client's payload. Any `sender` the client wrote is ignored.
/// On failure returns false with `error` filled and, if the payload had a
/// usable `id`, `out.id` set so the refusal can name the message.
bool parse_send(std::string_view payload, std::size_t max_payload, send_envelope& out,
                envelope_error& error);

/// The `id` of a refused payload, for its refusal notice: the payload's
/// "id" when it is a JSON object (within `max_payload`) with a valid one,
/// whatever else is wrong with it; "" otherwise.
std::string message_id_of(std::string_view payload, std::size_t max_payload);

/// The canonical envelope the plugin forwards to the bridge: the client's
/// fields plus `sender` set to the authenticated user (and `guest` for a
/// guest, whom the bridge then registers in the conversation).
std::string stamp_send(const send_envelope& env, std::string_view sender, bool guest = false);

/// The bridge's side of stamp_send. False if the payload was not stamped by
/// the plugin (no sender) or is otherwise invalid.
bool parse_stamped(std::string_view payload, send_envelope& out, envelope_error& error);

/// A stored message as members receive it on `chat/conv/{cid}/msg`.
struct stored_message {
    std::int64_t conv = 0;
    std::int64_t seq = 0;
    std::int64_t ts = 0; ///< server time, ms since the epoch
    std::string id;
    std::string sender;
    std::string body;
    std::string type;
    std::int64_t reply_to = 0;
    std::int64_t ref = 0;
    bool edited = false;                ///< history: the text was changed by a later edit
    bool deleted = false;               ///< history: deleted; the text is gone
    std::vector<std::string> mentions;  ///< members named with @name in the text
    Json::Value reactions;              ///< history: {"👍": ["bob", …]} or null
    /// An attachment as the media service checked it: {"id", "name", "mime",
    /// "size", "width"?, "height"?, "thumb"} (docs/media.md), or null.
    Json::Value media;
    /// An end-to-end encrypted message's envelope, as its sender sent it, or null.
    Json::Value e2e;
    /// Not in the JSON: the conversation's membership version when it was
    /// stored (schema/004), sent as the MQTT 5 user property mqchat-mv.
    std::int64_t members_version = 0;
};

/// The MQTT 5 user property carrying stored_message::members_version from
/// the bridge to the plugins (which take it off before delivery).
inline constexpr const char* members_version_property = "mqchat-mv";

std::string stored_json(const stored_message& m);
/// The same as a JSON value, for replies that carry messages (history, sync).
Json::Value stored_value(const stored_message& m);

/// A receipt on `chat/conv/{cid}/receipt`: how far a member has had messages
/// delivered and has read them. Either may be absent (0).
struct receipt {
    std::int64_t delivered = 0;
    std::int64_t read = 0;
    std::string user; ///< only when stamped: the member it is from
};
/// A client's receipt: {"delivered"?: seq, "read"?: seq}, at least one, and
/// nothing else (a "user" is refused: only the server says who it is from).
bool parse_receipt(std::string_view payload, receipt& out, envelope_error& error);
/// What members and the bridge get: {"user", "delivered"?, "read"?}.
std::string stamp_receipt(const receipt& r, std::string_view user);
bool parse_stamped_receipt(std::string_view payload, receipt& out, envelope_error& error);

/// Typing on `chat/conv/{cid}/typing`: a client sends {"typing": true|false}
/// and, optionally, "at" (its clock, ms since the epoch, passed on so a
/// receiver can drop a stale one); nothing else. Members get
/// {"user", "typing", "at"?} (stamped by the plugin). `at` is -1 when absent.
bool parse_typing(std::string_view payload, bool& typing, std::int64_t& at, envelope_error& error);
std::string stamp_typing(bool typing, std::int64_t at, std::string_view user);

/// The same stamp laid out once, to be written straight into a buffer of
/// size() bytes: the plugin writes it into the broker's own allocation, one
/// per typing message, with nothing in between. `user` must be a valid user
/// name (names.hpp), which needs no JSON escaping, and must outlive this.
class typing_stamp {
public:
    typing_stamp(bool typing, std::int64_t at, std::string_view user);
    std::size_t size() const { return size_; }
    void write_to(char* out) const;

private:
    bool typing_;
    std::string_view user_;
    char at_[20];                ///< the decimal digits of "at", if any
    std::size_t at_digits_ = 0;  ///< 0: no "at"
    std::size_t size_;
};

/// `{"ack": id, "conv": …, "seq": …, "ts": …}` on the sender's inbox.
std::string ack_json(std::string_view id, std::int64_t conv, std::int64_t seq, std::int64_t ts);

/// `{"error": {"code", "message"}, "id"?, "conv"?}` on a user's inbox.
std::string error_json(std::string_view code, std::string_view message, std::string_view id,
                       std::int64_t conv);

} // namespace mqchat
