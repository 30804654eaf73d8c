#include <cppunit/extensions/HelperMacros.h>

#include <stdexcept>

#include "common/options.hpp"
#include "support/environment.hpp"

using namespace mqchat;

class options_test : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(options_test);
    CPPUNIT_TEST(reads_typed_values_and_defaults);
    CPPUNIT_TEST(reports_every_problem_at_once);
    CPPUNIT_TEST(reads_config_files);
    CPPUNIT_TEST(refuses_a_key_without_value);
    CPPUNIT_TEST_SUITE_END();

public:
    void reads_typed_values_and_defaults() {
        option_reader r({{"name", "x"}, {"flag", "true"}, {"count", "42"}}, "plugin_opt_");
        CPPUNIT_ASSERT_EQUAL(std::string("x"), r.required_string("name"));
        CPPUNIT_ASSERT(r.boolean("flag", false));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(42), r.integer("count", 1, 0, 100));
        CPPUNIT_ASSERT_EQUAL(std::string("dflt"), r.string("absent", "dflt"));
        CPPUNIT_ASSERT_EQUAL(std::string(""), r.errors());
        CPPUNIT_ASSERT_NO_THROW(r.finish());
    }
    void reports_every_problem_at_once() {
        option_reader r({{"flag", "maybe"}, {"count", "1000"}, {"typo_key", "1"}, {"other", "x"}}, "plugin_opt_");
        r.required_string("db_conninfo");
        r.required_string("second");
        r.boolean("flag", false);
        r.integer("count", 1, 0, 100);
        r.string("other", "");
        const std::string e = r.errors();
        CPPUNIT_ASSERT_MESSAGE(e, e.find("missing required options plugin_opt_db_conninfo, plugin_opt_second") != std::string::npos);
        CPPUNIT_ASSERT_MESSAGE(e, e.find("plugin_opt_flag 'maybe'") != std::string::npos);
        CPPUNIT_ASSERT_MESSAGE(e, e.find("plugin_opt_count '1000'") != std::string::npos);
        CPPUNIT_ASSERT_MESSAGE(e, e.find("unknown option plugin_opt_typo_key") != std::string::npos);
        CPPUNIT_ASSERT_THROW(r.finish(), std::invalid_argument);
    }
    void reads_config_files() {
        test::temp_dir dir("options");
        test::write_file(dir.file("a.conf"), "# comment\n\n  key   value with spaces  \nother\tx\n");
        const auto opts = read_option_file(dir.file("a.conf"));
        CPPUNIT_ASSERT_EQUAL(std::size_t(2), opts.size());
        CPPUNIT_ASSERT_EQUAL(std::string("key"), opts[0].first);
        CPPUNIT_ASSERT_EQUAL(std::string("value with spaces"), opts[0].second);
        CPPUNIT_ASSERT_EQUAL(std::string("x"), opts[1].second);
        CPPUNIT_ASSERT_THROW(read_option_file(dir.file("missing.conf")), std::runtime_error);
    }
    void refuses_a_key_without_value() {
        test::temp_dir dir("options");
        test::write_file(dir.file("b.conf"), "key value\nlonely\n");
        try {
            read_option_file(dir.file("b.conf"));
            CPPUNIT_FAIL("expected an error");
        } catch (const std::runtime_error& e) {
            CPPUNIT_ASSERT(std::string(e.what()).find("b.conf:2") != std::string::npos);
        }
    }
};
CPPUNIT_TEST_SUITE_REGISTRATION(options_test);
