#include "secret_file.hpp"

#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <stdexcept>

namespace mqchat {

void check_secret_file(const std::string& path) {
    struct stat st {};
    if (stat(path.c_str(), &st) != 0) return;
    if ((st.st_mode & (S_IROTH | S_IWOTH)) == 0) return;
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    throw std::runtime_error("the secret file " + path + " can be read or written by every user (mode " + mode +
                             "); chmod o-rwx " + path);
}

std::string read_secret_line(const std::string& path) {
    check_secret_file(path);
    std::ifstream in(path);
    std::string line;
    if (!in || !std::getline(in, line)) throw std::runtime_error("cannot read the secret file " + path);
    while (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) throw std::runtime_error("the secret file " + path + " is empty");
    return line;
}

} // namespace mqchat
