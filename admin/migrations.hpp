#pragma once
/// The schema/ files, compiled in (see CMakeLists.txt), in version order.

#include <string>
#include <vector>

namespace mqchat::admin {

struct migration {
    int version;
    std::string name;
    std::string sql;
};

const std::vector<migration>& migrations();

} // namespace mqchat::admin
