#pragma once
/// libpq behind RAII, with errors typed by what the caller should do about them.
///
///  - pg::broken_connection: the server went away; reconnect and retry the work.
///  - pg::unique_violation:  a duplicate row; usually "already done", not a failure.
///  - pg::sql_error:         anything else the server refused; report it.

#include <libpq-fe.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <vector>

namespace mqchat::pg {

struct error : std::runtime_error {
    using std::runtime_error::runtime_error;
};
struct broken_connection : error {
    using error::error;
};
struct sql_error : error {
    sql_error(const std::string& what, std::string state) : error(what), sqlstate(std::move(state)) {}
    std::string sqlstate;
};
struct unique_violation : sql_error {
    using sql_error::sql_error;
};

class result {
public:
    explicit result(PGresult* r) : r_(r, &PQclear) {}
    int rows() const { return PQntuples(r_.get()); }
    bool is_null(int row, int col) const { return PQgetisnull(r_.get(), row, col) != 0; }
    std::string_view text(int row, int col) const {
        return {PQgetvalue(r_.get(), row, col), static_cast<std::size_t>(PQgetlength(r_.get(), row, col))};
    }
    std::string str(int row, int col) const { return std::string(text(row, col)); }
    std::int64_t int64(int row, int col) const;
    bool boolean(int row, int col) const { return text(row, col) == "t"; }
    PGresult* get() const { return r_.get(); }

private:
    std::unique_ptr<PGresult, decltype(&PQclear)> r_;
};

/// Parameters are passed as text; std::nullopt is SQL NULL.
using params = std::vector<std::optional<std::string>>;

class connection {
public:
    /// Connects; throws broken_connection naming the server's reason.
    explicit connection(const std::string& conninfo);

    /// Runs one statement with parameters ($1, $2, …). Throws on error.
    /// A statement with parameters is prepared on this connection the first
    /// time it runs and reused after (see prepared_), so the server parses
    /// and plans it once, not at every request.
    result exec(const std::string& sql, const params& args = {});
    /// The same, doing something else while the answer has not come:
    /// `meanwhile(socket)` is called until it has; it must return once the
    /// connection's socket is readable, or soon after (it may wait on it).
    /// Without `meanwhile`, the same as the call above.
    result exec(const std::string& sql, const params& args, const std::function<void(int socket)>& meanwhile);
    /// Runs a script of several statements without parameters.
    void exec_script(const std::string& sql);

    bool ok() const { return PQstatus(conn_.get()) == CONNECTION_OK; }
    PGconn* get() const { return conn_.get(); }
    int socket() const { return PQsocket(conn_.get()); }

private:
    result check(PGresult* r);
    /// The name this connection prepared `sql` under, preparing it now if
    /// there is room; nullptr: run it unprepared.
    const std::string* prepared_name(const std::string& sql, int n_params);

    std::unique_ptr<PGconn, decltype(&PQfinish)> conn_;
    /// Statement text → prepared statement name. Bounded: statements are
    /// fixed texts with parameters, so a few dozen; anything beyond the
    /// bound (text built per call by mistake) runs unprepared rather than
    /// growing the server's memory.
    std::unordered_map<std::string, std::string> prepared_;
    static constexpr std::size_t max_prepared = 256;
};

/// A text[] literal for a parameter (`= ANY($1::text[])`): every element
/// quoted, `"` and `\` escaped, so any string stays one element.
std::string text_array(const std::vector<std::string>& items);

/// Where the server's notices go — and the errors it sends a connection
/// that is not in a query, such as "FATAL: terminating connection due to
/// administrator command" when it shuts down. Unset, libpq's way: the text
/// on stderr. Daemons whose stderr is their log route them there instead
/// (one line each, in their log's shape). Set it once, before connecting.
void set_notice_handler(void (*handler)(const char* message));

/// Runs `fn` inside BEGIN … COMMIT; rolls back if it throws.
template <class Fn>
auto transaction(connection& c, Fn&& fn) {
    c.exec("BEGIN");
    try {
        if constexpr (std::is_void_v<decltype(fn())>) {
            fn();
            c.exec("COMMIT");
        } else {
            auto out = fn();
            c.exec("COMMIT");
            return out;
        }
    } catch (const broken_connection&) {
        throw;
    } catch (...) {
        try {
            c.exec("ROLLBACK");
        } catch (...) {
        }
        throw;
    }
}

} // namespace mqchat::pg
