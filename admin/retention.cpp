#include "retention.hpp"

#include <ostream>

#include "common/topics.hpp"
#include "desks.hpp"

namespace mqchat::admin {

std::int64_t parse_age(const std::string& text, const std::string& what, std::int64_t min_s, std::int64_t max_s) {
    const auto refuse = [&](const std::string& why) {
        return failure(what + " '" + text + "' " + why + " (e.g. 30d, 12h, 2w; from " + format_age(min_s) + " to " +
                       format_age(max_s) + ")");
    };
    if (text.size() < 2 || text.size() > 10) throw refuse("is not an age");
    const std::string digits = text.substr(0, text.size() - 1);
    if (digits.find_first_not_of("0123456789") != std::string::npos) throw refuse("is not an age");
    std::int64_t unit = 0;
    switch (text.back()) {
    case 'm': unit = 60; break;
    case 'h': unit = 3600; break;
    case 'd': unit = 86400; break;
    case 'w': unit = 7 * 86400; break;
    default: throw refuse("has no unit m, h, d or w");
    }
    const std::int64_t n = std::stoll(digits); // at most 9 digits: no overflow below
    const std::int64_t s = n * unit;
    if (s < min_s) throw refuse("is too short");
    if (s > max_s) throw refuse("is too long");
    return s;
}

std::string format_age(std::int64_t s) {
    if (s % 86400 == 0) return std::to_string(s / 86400) + "d";
    if (s % 3600 == 0) return std::to_string(s / 3600) + "h";
    if (s % 60 == 0) return std::to_string(s / 60) + "m";
    return std::to_string(s) + "s";
}

namespace {

std::string describe(const retention_target& t) {
    switch (t.what) {
    case retention_target::scope::conv: return "conversation " + t.value;
    case retention_target::scope::desk: return "desk " + t.value;
    case retention_target::scope::kind: return "kind " + t.value;
    case retention_target::scope::visitors: return "visitors";
    }
    return "";
}

} // namespace

void retention_set(pg::connection& db, const retention_target& t, std::optional<std::int64_t> max_age_s, bool off,
                   std::ostream& out) {
    std::string scope;
    std::optional<std::string> conv, desk, kind;
    switch (t.what) {
    case retention_target::scope::conv: {
        const std::int64_t id = parse_conv_id(t.value);
        if (id == 0) throw failure("invalid conversation id '" + t.value + "'");
        if (db.exec("SELECT 1 FROM conversations WHERE id = $1", {std::to_string(id)}).rows() == 0)
            throw failure("no conversation " + std::to_string(id));
        scope = "conv";
        conv = std::to_string(id);
        break;
    }
    case retention_target::scope::desk:
        scope = "desk";
        desk = std::to_string(find_desk(db, t.value));
        break;
    case retention_target::scope::kind:
        if (t.value != "group" && t.value != "direct" && t.value != "support")
            throw failure("unknown kind '" + t.value + "': group, direct or support");
        scope = "kind";
        kind = t.value;
        break;
    case retention_target::scope::visitors:
        if (!off && !max_age_s) throw failure("visitors need a max age (or --off)");
        scope = "visitors";
        break;
    }
    if (off) {
        if (db.exec("DELETE FROM retention_settings WHERE scope = $1 AND conv_id IS NOT DISTINCT FROM $2::bigint"
                    " AND desk_id IS NOT DISTINCT FROM $3::bigint AND kind IS NOT DISTINCT FROM $4::text RETURNING 1",
                    {scope, conv, desk, kind})
                .rows() == 0)
            throw failure(describe(t) + " has no retention setting");
        out << "retention of " << describe(t) << " removed\n";
        return;
    }
    const std::optional<std::string> age = max_age_s ? std::optional<std::string>(std::to_string(*max_age_s)) : std::nullopt;
    db.exec("INSERT INTO retention_settings (scope, conv_id, desk_id, kind, max_age_s)"
            " VALUES ($1, $2::bigint, $3::bigint, $4::text, $5::bigint)"
            " ON CONFLICT (scope, coalesce(conv_id, 0), coalesce(desk_id, 0), coalesce(kind, ''))"
            " DO UPDATE SET max_age_s = excluded.max_age_s, updated_at = now()",
            {scope, conv, desk, kind, age});
    if (max_age_s)
        out << (t.what == retention_target::scope::visitors ? "visitors and closed support conversations"
                                                            : "messages of " + describe(t))
            << " are kept " << format_age(*max_age_s) << "\n";
    else
        out << "messages of " << describe(t) << " are kept forever\n";
}

void retention_list(pg::connection& db, std::ostream& out) {
    const auto r = db.exec(
        "SELECT r.scope, coalesce(r.conv_id::text, d.name, r.kind, ''), r.max_age_s"
        "  FROM retention_settings r LEFT JOIN desks d ON d.id = r.desk_id"
        " ORDER BY CASE r.scope WHEN 'conv' THEN 1 WHEN 'desk' THEN 2 WHEN 'kind' THEN 3 ELSE 4 END,"
        "          r.conv_id, d.name, r.kind");
    for (int i = 0; i < r.rows(); ++i) {
        const std::string scope = r.str(i, 0);
        out << (scope == "visitors" ? "visitors" : scope + " " + r.str(i, 1)) << "\t"
            << (r.is_null(i, 2) ? std::string("keep forever") : "max-age " + format_age(r.int64(i, 2))) << "\n";
    }
    if (r.rows() == 0) out << "no retention settings: everything is kept\n";
}

std::int64_t retention_run(pg::connection& db, int batch_rows, std::ostream& out) {
    std::int64_t total = 0, batches = 0;
    for (;;) {
        const auto r = db.exec("SELECT purged, done FROM mqchat_purge_expired($1)", {std::to_string(batch_rows)});
        total += r.int64(0, 0);
        ++batches;
        if (r.boolean(0, 1)) break;
    }
    out << "purged " << total << " rows in " << batches << (batches == 1 ? " batch" : " batches") << "\n";
    return total;
}

} // namespace mqchat::admin
