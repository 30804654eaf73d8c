// One runner for every CppUnit suite: prints each test's name, outcome and
// wall time as it runs (the times show where the suite's minutes go) and
// exits non-zero on any failure. With an argument, runs only that test path
// (e.g. "chat_flow_test::forged_sender_is_overwritten").

#include <cppunit/CompilerOutputter.h>
#include <cppunit/Test.h>
#include <cppunit/TestFailure.h>
#include <cppunit/TestListener.h>
#include <cppunit/TestResult.h>
#include <cppunit/TestResultCollector.h>
#include <cppunit/TestRunner.h>
#include <cppunit/extensions/TestFactoryRegistry.h>

#include <chrono>
#include <cstdio>
#include <iostream>

namespace {

class timed_progress : public CppUnit::TestListener {
public:
    void startTest(CppUnit::Test* test) override {
        std::printf("%s", test->getName().c_str());
        std::fflush(stdout);
        failed_ = false;
        started_ = std::chrono::steady_clock::now();
    }
    void addFailure(const CppUnit::TestFailure& failure) override {
        if (!failed_) std::printf(" : %s", failure.isError() ? "error" : "assertion");
        failed_ = true;
    }
    void endTest(CppUnit::Test*) override {
        const std::chrono::duration<double> took = std::chrono::steady_clock::now() - started_;
        std::printf("%s (%.2f s)\n", failed_ ? "" : " : OK", took.count());
        std::fflush(stdout);
    }

private:
    bool failed_ = false;
    std::chrono::steady_clock::time_point started_;
};

} // namespace

int main(int argc, char** argv) {
    CppUnit::TestResult controller;
    CppUnit::TestResultCollector result;
    controller.addListener(&result);
    timed_progress progress;
    controller.addListener(&progress);

    CppUnit::TestRunner runner;
    runner.addTest(CppUnit::TestFactoryRegistry::getRegistry().makeTest());
    try {
        runner.run(controller, argc > 1 ? argv[1] : "");
    } catch (const std::invalid_argument& e) {
        std::cerr << "no such test: " << e.what() << "\n";
        return 2;
    }
    CppUnit::CompilerOutputter(&result, std::cerr).write();
    return result.wasSuccessful() ? 0 : 1;
}
