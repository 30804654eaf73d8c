// PLACEHOLDER — DELETE when branch media-inspect is merged (its
// inspect.cpp / clamd.cpp replace this file). A stand-in for the checks so
// the media service links and runs before the real ones land: it sniffs
// nothing, trusts the declared type, makes no thumbnail, and has no scanner
// (a configured clamd always counts as unavailable). Never ship it.

#include "inspect.hpp"

#include <algorithm>

namespace mqchat::media {

void init_inspection(int) {}

inspection inspect(const std::filesystem::path& upload, std::string_view, std::string_view declared_type,
                   const inspect_policy& policy, const std::filesystem::path&) {
    inspection out;
    out.mime = std::string(declared_type);
    out.stored = upload;
    out.stored_mime = out.mime;
    const auto allowed = [&](const std::string& t) {
        if (t == out.mime) return true;
        return t.size() > 2 && t.compare(t.size() - 2, 2, "/*") == 0 &&
               out.mime.compare(0, t.size() - 1, t, 0, t.size() - 1) == 0;
    };
    if (!std::any_of(policy.allowed_types.begin(), policy.allowed_types.end(), allowed)) {
        out.refusal = std::string(refusal::type_not_allowed);
        out.message = "type " + out.mime + " is not allowed here";
    }
    return out;
}

bool safe_inline_image(std::string_view mime) {
    return mime == "image/jpeg" || mime == "image/png" || mime == "image/gif" || mime == "image/webp";
}

scan_result clamd_scan(const std::filesystem::path&, const clamd_settings& settings) {
    scan_result r;
    if (settings.address.empty()) return r;
    r.outcome = scan_result::verdict::unavailable;
    r.detail = "placeholder: no scanner";
    return r;
}

} // namespace mqchat::media
