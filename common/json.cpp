#include "common/json.hpp"

#include <memory>
#include <sstream>

#include "common/names.hpp"

namespace mqchat::json {

namespace {
std::unique_ptr<Json::CharReader> make_reader() {
    Json::CharReaderBuilder b;
    Json::CharReaderBuilder::strictMode(&b.settings_);
    b.settings_["strictRoot"] = false; // a non-object gets the clearer "must be a JSON object"
    b.settings_["stackLimit"] = max_depth;
    b.settings_["allowSpecialFloats"] = false;
    return std::unique_ptr<Json::CharReader>(b.newCharReader());
}

std::unique_ptr<Json::StreamWriter> make_writer() {
    Json::StreamWriterBuilder b;
    b["indentation"] = "";
    b["emitUTF8"] = true;
    return std::unique_ptr<Json::StreamWriter>(b.newStreamWriter());
}

/// jsoncpp reports "* Line 1, Column 9\n  Syntax error: …\n"; make it one line:
/// "Line 1, Column 9: Syntax error: …". Some reports quote the input
/// ("Duplicate key: '…'"), and the reason goes back to the client inside JSON,
/// so control characters become '?', and so do all non-ASCII bytes when the
/// quote is not valid UTF-8.
std::string one_line(const std::string& s) {
    std::string out;
    std::istringstream in(s);
    std::string line;
    while (std::getline(in, line)) {
        const auto first = line.find_first_not_of(" \t*");
        if (first == std::string::npos) continue;
        const auto last = line.find_last_not_of(" \t\r");
        if (!out.empty()) out += ": ";
        out += line.substr(first, last - first + 1);
    }
    for (char& c : out)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) c = '?';
    if (!valid_utf8(out))
        for (char& c : out)
            if (static_cast<unsigned char>(c) >= 0x80) c = '?';
    return out;
}
} // namespace

bool parse(std::string_view text, Json::Value& out, std::string& error) {
    // Readers and writers are not thread-safe; each thread keeps its own.
    thread_local const std::unique_ptr<Json::CharReader> reader = make_reader();
    try {
        std::string errs;
        if (!reader->parse(text.data(), text.data() + text.size(), &out, &errs)) {
            error = one_line(errs);
            if (error.empty()) error = "malformed JSON";
            return false;
        }
        return true;
    } catch (const std::exception& e) { // jsoncpp throws when stackLimit is exceeded
        error = one_line(e.what());
        return false;
    }
}

std::string write(const Json::Value& value) {
    thread_local const std::unique_ptr<Json::StreamWriter> writer = make_writer();
    std::ostringstream os;
    writer->write(value, &os);
    return os.str();
}

} // namespace mqchat::json
