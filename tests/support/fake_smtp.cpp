#include "fake_smtp.hpp"

#include <sstream>
#include <stdexcept>
#include <thread>

#include "chat.hpp"

namespace mqchat::test {

fake_smtp::fake_smtp()
    : server_({"node", source_dir() + "/tests/support/fake_smtp.js", dir_.file("port"), dir_.file("mail.log")},
              dir_.file("node.log")) {
    port_ = server_.wait_for_file(dir_.file("port"));
    if (port_.empty()) throw std::runtime_error("the fake SMTP server did not start:\n" + read_file(dir_.file("node.log")));
}

std::vector<std::string> fake_smtp::bridge_settings(const std::string& from) const {
    return {"smtp_url smtp://127.0.0.1:" + port_, "smtp_from " + from};
}

std::vector<Json::Value> fake_smtp::mails() const {
    std::vector<Json::Value> out;
    std::istringstream lines(read_file(dir_.file("mail.log")));
    for (std::string line; std::getline(lines, line);) out.push_back(json_of(line));
    return out;
}

std::vector<Json::Value> fake_smtp::wait_for(std::size_t n) const {
    for (int i = 0; i < 100 && mails().size() < n; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    return mails();
}

} // namespace mqchat::test
