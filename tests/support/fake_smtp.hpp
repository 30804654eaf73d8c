#pragma once
/// tests/support/fake_smtp.js as a test's SMTP server: it takes every mail
/// and writes one JSON line per mail ({"from", "to": [...], "data"}).

#include <json/json.h>

#include <cstddef>
#include <string>
#include <vector>

#include "environment.hpp"
#include "process.hpp"

namespace mqchat::test {

class fake_smtp {
public:
    /// Starts the server on a free port; throws when it does not come up.
    fake_smtp();
    /// The bridge settings that send mail here, from `from`.
    std::vector<std::string> bridge_settings(const std::string& from) const;
    /// Every mail taken so far, oldest first.
    std::vector<Json::Value> mails() const;
    /// Waits up to 10 s for at least `n` mails; returns what there is.
    std::vector<Json::Value> wait_for(std::size_t n) const;

private:
    temp_dir dir_{"smtp"};
    child_process server_;
    std::string port_;
};

} // namespace mqchat::test
