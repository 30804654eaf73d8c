#include "worker_wire.hpp"

#include <cstring>
#include <limits>
#include <memory>
#include <type_traits>

namespace mqchat::plugin::wire {

namespace {

/// The type byte of a frame: the message's place in wire::message.
template <class T, std::size_t I = 0>
constexpr std::uint8_t type_of() {
    static_assert(I < std::variant_size_v<message>, "not a wire message");
    if constexpr (std::is_same_v<T, std::variant_alternative_t<I, message>>) return static_cast<std::uint8_t>(I);
    else return type_of<T, I + 1>();
}

constexpr std::size_t length_bytes = 4;
/// Far beyond any frame the plugin sends (a snapshot of a million users is
/// tens of megabytes), far below what a broken length would claim.
constexpr std::uint32_t max_frame = 1u << 30;

class frame_writer {
public:
    frame_writer(std::string& out, std::uint8_t type) : out_(out), start_(out.size()) {
        out_.append(length_bytes, '\0');
        out_.push_back(static_cast<char>(type));
    }
    void u8(std::uint8_t v) { out_.push_back(static_cast<char>(v)); }
    void boolean(bool v) { u8(v ? 1 : 0); }
    void u32(std::uint32_t v) { raw(&v, sizeof v); }
    void u64(std::uint64_t v) { raw(&v, sizeof v); }
    void i64(std::int64_t v) { raw(&v, sizeof v); }
    void str(std::string_view s) {
        u32(static_cast<std::uint32_t>(s.size()));
        out_.append(s);
    }
    void user(const user_record& u) {
        str(u.name);
        str(u.password_hash);
        boolean(u.bridge);
        boolean(u.banned);
        u32(static_cast<std::uint32_t>(u.convs.size()));
        for (const std::int64_t c : u.convs) i64(c);
        str(u.remembered);
        str(u.presence.status);
        str(u.presence.text);
        boolean(u.presence.hide_last_seen);
    }
    /// Writes the length in front; the frame is complete.
    void finish() {
        const std::size_t length = out_.size() - start_ - length_bytes;
        if (length > max_frame) throw malformed("a frame of " + std::to_string(length) + " bytes is too long");
        const auto n = static_cast<std::uint32_t>(length);
        std::memcpy(out_.data() + start_, &n, sizeof n);
    }

private:
    void raw(const void* p, std::size_t n) { out_.append(static_cast<const char*>(p), n); }
    std::string& out_;
    const std::size_t start_;
};

class field_reader {
public:
    explicit field_reader(std::string_view fields) : rest_(fields) {}
    std::uint8_t u8() {
        need(1);
        const auto v = static_cast<std::uint8_t>(rest_[0]);
        rest_.remove_prefix(1);
        return v;
    }
    bool boolean() {
        const std::uint8_t v = u8();
        if (v > 1) throw malformed("a boolean that is neither 0 nor 1");
        return v == 1;
    }
    std::uint32_t u32() { return raw<std::uint32_t>(); }
    std::uint64_t u64() { return raw<std::uint64_t>(); }
    std::int64_t i64() { return raw<std::int64_t>(); }
    std::string str() {
        const std::uint32_t n = u32();
        need(n);
        std::string s(rest_.substr(0, n));
        rest_.remove_prefix(n);
        return s;
    }
    /// A count of items of at least `each` bytes, checked against what is
    /// left before anything is reserved for them.
    std::size_t count(std::size_t each) {
        const std::uint32_t n = u32();
        if (static_cast<std::uint64_t>(n) * each > rest_.size()) throw malformed("a count beyond the frame");
        return n;
    }
    user_record user() {
        user_record u;
        u.name = str();
        u.password_hash = str();
        u.bridge = boolean();
        u.banned = boolean();
        const std::size_t convs = count(sizeof(std::int64_t));
        u.convs.reserve(convs);
        for (std::size_t i = 0; i < convs; ++i) u.convs.push_back(i64());
        u.remembered = str();
        u.presence.status = str();
        u.presence.text = str();
        u.presence.hide_last_seen = boolean();
        return u;
    }
    template <class Enum>
    Enum kind(Enum last) {
        const std::uint8_t v = u8();
        if (v > static_cast<std::uint8_t>(last)) throw malformed("an unknown kind");
        return static_cast<Enum>(v);
    }
    void done() const {
        if (!rest_.empty()) throw malformed("bytes after the last field");
    }

private:
    void need(std::size_t n) const {
        if (rest_.size() < n) throw malformed("a field beyond the frame");
    }
    template <class T>
    T raw() {
        need(sizeof(T));
        T v;
        std::memcpy(&v, rest_.data(), sizeof v);
        rest_.remove_prefix(sizeof v);
        return v;
    }
    std::string_view rest_;
};

/// The smallest user_record on the wire: five empty strings, three booleans and a count.
constexpr std::size_t min_user_bytes = 5 * 4 + 3 + 4;

} // namespace

void put(std::string& out, const ask_user& m) {
    frame_writer w(out, type_of<ask_user>());
    w.str(m.name);
    w.u64(m.ticket);
    w.finish();
}

void put(std::string& out, const ask_member& m) {
    frame_writer w(out, type_of<ask_member>());
    w.str(m.name);
    w.i64(m.conv);
    w.u64(m.ticket);
    w.finish();
}

void put(std::string& out, const check_password& m) {
    frame_writer w(out, type_of<check_password>());
    w.str(m.user);
    w.str(m.password);
    w.str(m.stored_hash);
    w.str(m.digest);
    w.finish();
}

void put(std::string& out, const remember_login& m) {
    frame_writer w(out, type_of<remember_login>());
    w.str(m.name);
    w.str(m.digest);
    w.finish();
}

void put(std::string& out, const directory_change& m) {
    frame_writer w(out, type_of<directory_change>());
    w.u8(static_cast<std::uint8_t>(m.what));
    w.boolean(m.snapshot != nullptr);
    if (m.snapshot) {
        w.u32(static_cast<std::uint32_t>(m.snapshot->size()));
        for (const auto& u : *m.snapshot) w.user(u);
    }
    w.user(m.user);
    w.str(m.name);
    w.u32(static_cast<std::uint32_t>(m.names.size()));
    for (const auto& n : m.names) w.str(n);
    w.i64(m.conv);
    w.i64(m.version);
    w.i64(m.log_level);
    w.str(m.log_text);
    w.finish();
}

void put(std::string& out, const lookup_answer& m) {
    frame_writer w(out, type_of<lookup_answer>());
    w.u8(static_cast<std::uint8_t>(m.what));
    w.str(m.name);
    w.i64(m.conv);
    w.boolean(m.user.has_value());
    if (m.user) w.user(*m.user);
    w.finish();
}

void put(std::string& out, const lookup_progress& m) {
    frame_writer w(out, type_of<lookup_progress>());
    w.u64(m.answered_through);
    w.finish();
}

void put(std::string& out, const password_verdict& m) {
    frame_writer w(out, type_of<password_verdict>());
    w.str(m.user);
    w.str(m.stored_hash);
    w.str(m.digest);
    w.boolean(m.good);
    w.finish();
}

void put(std::string& out, const password_dropped& m) {
    frame_writer w(out, type_of<password_dropped>());
    w.str(m.digest);
    w.finish();
}

std::size_t complete_frame(std::string_view bytes) {
    std::uint32_t length = 0;
    if (bytes.size() < length_bytes) return 0;
    std::memcpy(&length, bytes.data(), sizeof length);
    if (length == 0 || length > max_frame) throw malformed("a frame length of " + std::to_string(length));
    return bytes.size() - length_bytes >= length ? length_bytes + length : 0;
}

message decode(std::string_view frame) {
    field_reader f(frame.substr(length_bytes + 1));
    const auto type = static_cast<std::uint8_t>(frame.at(length_bytes));
    switch (type) {
    case type_of<ask_user>(): {
        ask_user m;
        m.name = f.str();
        m.ticket = f.u64();
        f.done();
        return m;
    }
    case type_of<ask_member>(): {
        ask_member m;
        m.name = f.str();
        m.conv = f.i64();
        m.ticket = f.u64();
        f.done();
        return m;
    }
    case type_of<check_password>(): {
        check_password m;
        m.user = f.str();
        m.password = f.str();
        m.stored_hash = f.str();
        m.digest = f.str();
        f.done();
        return m;
    }
    case type_of<remember_login>(): {
        remember_login m;
        m.name = f.str();
        m.digest = f.str();
        f.done();
        return m;
    }
    case type_of<directory_change>(): {
        directory_change m;
        m.what = f.kind(directory_change::kind::log);
        if (f.boolean()) {
            auto users = std::make_shared<std::vector<user_record>>();
            const std::size_t n = f.count(min_user_bytes);
            users->reserve(n);
            for (std::size_t i = 0; i < n; ++i) users->push_back(f.user());
            m.snapshot = std::move(users);
        }
        m.user = f.user();
        m.name = f.str();
        const std::size_t names = f.count(4);
        m.names.reserve(names);
        for (std::size_t i = 0; i < names; ++i) m.names.push_back(f.str());
        m.conv = f.i64();
        m.version = f.i64();
        const std::int64_t level = f.i64();
        if (level < 0 || level > std::numeric_limits<int>::max()) throw malformed("a log level out of range");
        m.log_level = static_cast<int>(level);
        m.log_text = f.str();
        f.done();
        return m;
    }
    case type_of<lookup_answer>(): {
        lookup_answer m;
        m.what = f.kind(lookup_answer::kind::log);
        m.name = f.str();
        m.conv = f.i64();
        if (f.boolean()) m.user = f.user();
        f.done();
        return m;
    }
    case type_of<lookup_progress>(): {
        lookup_progress m;
        m.answered_through = f.u64();
        f.done();
        return m;
    }
    case type_of<password_verdict>(): {
        password_verdict m;
        m.user = f.str();
        m.stored_hash = f.str();
        m.digest = f.str();
        m.good = f.boolean();
        f.done();
        return m;
    }
    case type_of<password_dropped>(): {
        password_dropped m;
        m.digest = f.str();
        f.done();
        return m;
    }
    default: throw malformed("a frame of unknown type " + std::to_string(type));
    }
}

} // namespace mqchat::plugin::wire
