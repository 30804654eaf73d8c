#pragma once
/// The schema/ files, compiled in (see CMakeLists.txt): the numbered
/// migrations (tables and data, each applied once, in version order) and
/// schema/functions/ (the current definition of each function and its
/// triggers, applied after the migrations on every `migrate`).

#include <string>
#include <vector>

namespace mqchat::admin {

struct migration {
    int version;
    std::string name;
    std::string sql;
};

const std::vector<migration>& migrations();

struct function_definition {
    std::string name; ///< the file's name: the function it defines
    std::string sql;  ///< CREATE OR REPLACE FUNCTION ... (and CREATE OR REPLACE TRIGGER ...)
};

/// In file name order; each file stands alone (plpgsql bodies are checked
/// when they run, so the order does not matter).
const std::vector<function_definition>& function_definitions();

} // namespace mqchat::admin
