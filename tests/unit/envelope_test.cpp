#include <cppunit/extensions/HelperMacros.h>

#include "common/envelope.hpp"
#include "common/json.hpp"
#include "common/names.hpp"

using namespace mqchat;

class envelope_test : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(envelope_test);
    CPPUNIT_TEST(accepts_minimal_envelope);
    CPPUNIT_TEST(keeps_optional_fields);
    CPPUNIT_TEST(ignores_client_sender_and_unknown_fields);
    CPPUNIT_TEST(refuses_malformed_json);
    CPPUNIT_TEST(refusal_quoting_the_payload_is_text);
    CPPUNIT_TEST(refuses_missing_or_bad_fields);
    CPPUNIT_TEST(refuses_oversize_and_empty_payloads);
    CPPUNIT_TEST(refuses_deep_nesting);
    CPPUNIT_TEST(refuses_invalid_utf8_and_nul);
    CPPUNIT_TEST(keeps_id_for_refusal_notice);
    CPPUNIT_TEST(stamp_roundtrip);
    CPPUNIT_TEST(ack_false_travels_to_the_bridge);
    CPPUNIT_TEST(stamped_requires_sender);
    CPPUNIT_TEST(stored_ack_and_error_json);
    CPPUNIT_TEST(typing_parses_and_stamps);
    CPPUNIT_TEST(every_client_receipt_stamps_into_one_the_bridge_takes);
    CPPUNIT_TEST(e2e_envelope_round_trips_and_its_refusals_are_one_line_of_text);
    CPPUNIT_TEST_SUITE_END();

    send_envelope env;
    envelope_error err;

    bool parse(const std::string& s, std::size_t limit = 16384) { return parse_send(s, limit, env, err); }

public:
    void accepts_minimal_envelope() {
        CPPUNIT_ASSERT(parse(R"({"id":"m-1","body":"hello"})"));
        CPPUNIT_ASSERT_EQUAL(std::string("m-1"), env.id);
        CPPUNIT_ASSERT_EQUAL(std::string("hello"), env.body);
        CPPUNIT_ASSERT(env.type.empty());
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0), env.reply_to);
    }
    void keeps_optional_fields() {
        CPPUNIT_ASSERT(parse(R"({"id":"x","body":"grüße 👋","type":"text","reply_to":42})"));
        CPPUNIT_ASSERT_EQUAL(std::string("grüße 👋"), env.body);
        CPPUNIT_ASSERT_EQUAL(std::string("text"), env.type);
        CPPUNIT_ASSERT_EQUAL(std::int64_t(42), env.reply_to);
    }
    void ignores_client_sender_and_unknown_fields() {
        CPPUNIT_ASSERT(parse(R"({"id":"x","body":"b","sender":"mallory","seq":99,"extra":{"a":1}})"));
        CPPUNIT_ASSERT(env.sender.empty());
        const std::string stamped = stamp_send(env, "alice");
        CPPUNIT_ASSERT(stamped.find("mallory") == std::string::npos);
        CPPUNIT_ASSERT(stamped.find("extra") == std::string::npos);
        CPPUNIT_ASSERT(stamped.find("\"sender\":\"alice\"") != std::string::npos);
    }
    void refuses_malformed_json() {
        for (const char* bad : {"{", "{\"id\":\"x\",\"body\":\"b\"", "not json", "{\"id\":\"x\",\"body\":\"b\"} trailing",
                                "{\"id\":\"x\",\"id\":\"y\",\"body\":\"b\"}", "{'id':'x'}", "[1,2", "{\"id\":\"x\",\"body\":\"b\",}"}) {
            CPPUNIT_ASSERT_MESSAGE(bad, !parse(bad));
            CPPUNIT_ASSERT_EQUAL_MESSAGE(bad, std::string(error_code::invalid_json), std::string(err.code));
            CPPUNIT_ASSERT(!err.message.empty());
            CPPUNIT_ASSERT(err.message.find('\n') == std::string::npos);
        }
    }
    void refusal_quoting_the_payload_is_text() {
        // Found by fuzz/envelope_fuzz: jsoncpp's "Duplicate key: '…'" quotes
        // the key, and invalid UTF-8 or control characters in it went into
        // the error JSON sent to the client.
        const std::string cases[] = {
            "{\"id\":\"m-3\",\"body\":\"hi\",\"gues\xfft\":\"x\",\"gues\xfft\":true}",
            R"({"id":"x","body":"b","a\u0001\u001f\u007f":1,"a\u0001\u001f\u007f":2})",
            R"({"id":"x","body":"b","k\u0000":1,"k\u0000":2})", R"({"id":"x","body":"b","a\nb":1,"a\nb":2})"};
        for (const std::string& bad : cases) {
            CPPUNIT_ASSERT_MESSAGE(bad, !parse(bad));
            CPPUNIT_ASSERT_EQUAL_MESSAGE(bad, std::string(error_code::invalid_json), std::string(err.code));
            CPPUNIT_ASSERT_MESSAGE(err.message, valid_utf8(err.message));
            for (char c : err.message) CPPUNIT_ASSERT_MESSAGE(err.message, static_cast<unsigned char>(c) >= 0x20 && c != 0x7F);
            CPPUNIT_ASSERT(valid_utf8(error_json(err.code, err.message, env.id, 1)));
        }
        // Valid UTF-8 in a quoted key stays as it is.
        CPPUNIT_ASSERT(!parse(R"({"id":"x","body":"b","grüße":1,"grüße":2})"));
        CPPUNIT_ASSERT_MESSAGE(err.message, err.message.find("grüße") != std::string::npos);
    }
    void refuses_missing_or_bad_fields() {
        const char* cases[] = {
            R"([])", R"("string")", R"(42)", R"({"body":"b"})", R"({"id":"x"})", R"({"id":"","body":"b"})",
            R"({"id":"has space","body":"b"})", R"({"id":5,"body":"b"})", R"({"id":"x","body":5})",
            R"({"id":"x","body":""})", R"({"id":"x","body":"b","type":7})", R"({"id":"x","body":"b","type":"a/b"})",
            R"({"id":"x","body":"b","reply_to":-1})", R"({"id":"x","body":"b","reply_to":"3"})",
            R"({"id":"x","body":"b","reply_to":1.5})",
            R"({"id":"0123456789012345678901234567890123456789012345678901234567890123456789","body":"b"})"};
        for (const char* bad : cases) {
            CPPUNIT_ASSERT_MESSAGE(bad, !parse(bad));
            CPPUNIT_ASSERT_EQUAL_MESSAGE(bad, std::string(error_code::invalid_envelope), std::string(err.code));
        }
    }
    void refuses_oversize_and_empty_payloads() {
        const std::string big = R"({"id":"x","body":")" + std::string(20000, 'a') + "\"}";
        CPPUNIT_ASSERT(!parse(big));
        CPPUNIT_ASSERT_EQUAL(std::string(error_code::payload_too_large), std::string(err.code));
        CPPUNIT_ASSERT(parse(big, 30000));
        CPPUNIT_ASSERT(!parse(""));
        CPPUNIT_ASSERT_EQUAL(std::string(error_code::invalid_json), std::string(err.code));
    }
    void refuses_deep_nesting() {
        std::string deep = R"({"id":"x","body":"b","x":)";
        for (int i = 0; i < 5000; ++i) deep += "[";
        for (int i = 0; i < 5000; ++i) deep += "]";
        deep += "}";
        CPPUNIT_ASSERT(!parse(deep, 1 << 20));
        CPPUNIT_ASSERT_EQUAL(std::string(error_code::invalid_json), std::string(err.code));
    }
    void refuses_invalid_utf8_and_nul() {
        CPPUNIT_ASSERT(!parse("{\"id\":\"x\",\"body\":\"\xC0\xAF\"}")); // overlong '/'
        CPPUNIT_ASSERT(!parse("{\"id\":\"x\",\"body\":\"\xED\xA0\x80\"}")); // surrogate
        CPPUNIT_ASSERT(!parse(R"({"id":"x","body":"a\u0000b"})"));
    }
    void keeps_id_for_refusal_notice() {
        CPPUNIT_ASSERT(!parse(R"({"id":"m-7","body":""})"));
        CPPUNIT_ASSERT_EQUAL(std::string("m-7"), env.id);
        CPPUNIT_ASSERT(!parse(R"({"id":"bad id","body":""})"));
        CPPUNIT_ASSERT(env.id.empty());
    }
    void stamp_roundtrip() {
        CPPUNIT_ASSERT(parse(R"({"id":"m","body":"\"quoted\" \\ and ünïcode","type":"text","reply_to":3})"));
        const std::string stamped = stamp_send(env, "bob");
        send_envelope back;
        CPPUNIT_ASSERT(parse_stamped(stamped, back, err));
        CPPUNIT_ASSERT_EQUAL(std::string("bob"), back.sender);
        CPPUNIT_ASSERT_EQUAL(env.body, back.body);
        CPPUNIT_ASSERT_EQUAL(env.type, back.type);
        CPPUNIT_ASSERT_EQUAL(env.reply_to, back.reply_to);
    }
    void ack_false_travels_to_the_bridge() {
        CPPUNIT_ASSERT(parse(R"({"id":"m","body":"b"})"));
        CPPUNIT_ASSERT(env.ack);
        CPPUNIT_ASSERT(stamp_send(env, "bob").find("ack") == std::string::npos); // the default is not written
        CPPUNIT_ASSERT(parse(R"({"id":"m","body":"b","ack":false})"));
        CPPUNIT_ASSERT(!env.ack);
        send_envelope back;
        CPPUNIT_ASSERT(parse_stamped(stamp_send(env, "bob"), back, err));
        CPPUNIT_ASSERT(!back.ack);
        CPPUNIT_ASSERT(parse(R"({"id":"m","body":"b","ack":true})"));
        CPPUNIT_ASSERT(env.ack);
        for (const char* bad : {R"({"id":"m","body":"b","ack":0})", R"({"id":"m","body":"b","ack":"false"})",
                                R"({"id":"m","body":"b","ack":null})"}) {
            CPPUNIT_ASSERT_MESSAGE(bad, !parse(bad));
            CPPUNIT_ASSERT_EQUAL(std::string("invalid_envelope"), std::string(err.code));
            CPPUNIT_ASSERT(err.message.find("'ack'") != std::string::npos);
        }
    }
    void stamped_requires_sender() {
        send_envelope back;
        CPPUNIT_ASSERT(!parse_stamped(R"({"id":"m","body":"b"})", back, err));
        CPPUNIT_ASSERT(!parse_stamped(R"({"id":"m","body":"b","sender":"a/b"})", back, err));
    }
    void stored_ack_and_error_json() {
        stored_message m;
        m.conv = 7;
        m.seq = 12;
        m.ts = 1700000000123;
        m.id = "c1";
        m.sender = "alice";
        m.body = "hi";
        Json::Value v;
        std::string why;
        CPPUNIT_ASSERT(json::parse(stored_json(m), v, why));
        CPPUNIT_ASSERT_EQUAL(Json::Int64(7), v["conv"].asInt64());
        CPPUNIT_ASSERT_EQUAL(Json::Int64(12), v["seq"].asInt64());
        CPPUNIT_ASSERT_EQUAL(Json::Int64(1700000000123), v["ts"].asInt64());
        CPPUNIT_ASSERT_EQUAL(std::string("alice"), v["sender"].asString());
        CPPUNIT_ASSERT(!v.isMember("type"));
        CPPUNIT_ASSERT(json::parse(ack_json("c1", 7, 12, 5), v, why));
        CPPUNIT_ASSERT_EQUAL(std::string("c1"), v["ack"].asString());
        CPPUNIT_ASSERT_EQUAL(Json::Int64(12), v["seq"].asInt64());
        CPPUNIT_ASSERT(json::parse(error_json("invalid_json", "bad", "c1", 7), v, why));
        CPPUNIT_ASSERT_EQUAL(std::string("invalid_json"), v["error"]["code"].asString());
        CPPUNIT_ASSERT_EQUAL(std::string("bad"), v["error"]["message"].asString());
    }
    void typing_parses_and_stamps() {
        bool typing = false;
        std::int64_t at = 0;
        envelope_error e;
        CPPUNIT_ASSERT(parse_typing(R"({"typing":true})", typing, at, e) && typing && at == -1);
        CPPUNIT_ASSERT(parse_typing(R"({"typing":false})", typing, at, e) && !typing && at == -1);
        CPPUNIT_ASSERT(parse_typing(R"({ "typing" : true, "at": 1795441272000 })", typing, at, e) && typing &&
                       at == 1795441272000);
        for (const char* bad : {R"({"typing":true,"user":"bob"})", R"({"typing":"yes"})", R"({"typing":true,"at":-1})",
                                R"({"typing":true,"at":1.5})", "{}", "[]", "", R"({"typing":true}x)",
                                R"({"typing":true,"at":12}})", R"({"typing":true,"at":}")", R"({"typing":true,"at":1x})",
                                R"({"typing":false,"at":})", R"({"typing":true,"at":12)"})
            CPPUNIT_ASSERT_MESSAGE(bad, !parse_typing(bad, typing, at, e));
        // The compact form with "at" (read without a JSON parse) means what the parse says.
        for (const std::string when : {"0", "7", "1795441272000", "999999999999999999", "9223372036854775807"}) {
            for (const bool on : {true, false}) {
                const std::string compact = std::string("{\"typing\":") + (on ? "true" : "false") + ",\"at\":" + when + "}";
                const std::string spaced = std::string("{ \"at\": ") + when + ", \"typing\": " + (on ? "true" : "false") + " }";
                bool t1 = !on, t2 = !on;
                std::int64_t a1 = -2, a2 = -3;
                CPPUNIT_ASSERT_MESSAGE(compact, parse_typing(compact, t1, a1, e));
                CPPUNIT_ASSERT_MESSAGE(spaced, parse_typing(spaced, t2, a2, e));
                CPPUNIT_ASSERT_EQUAL(on, t1);
                CPPUNIT_ASSERT_EQUAL(t2, t1);
                CPPUNIT_ASSERT_EQUAL(a2, a1);
                CPPUNIT_ASSERT_EQUAL(std::stoll(when), static_cast<long long>(a1));
            }
        }
        // Beyond int64: refused either way.
        CPPUNIT_ASSERT(!parse_typing(R"({"typing":true,"at":9223372036854775808})", typing, at, e));
        // Byte for byte what members have always received.
        CPPUNIT_ASSERT_EQUAL(std::string(R"({"typing":true,"at":1795441272000,"user":"bob"})"),
                             stamp_typing(true, 1795441272000, "bob"));
        CPPUNIT_ASSERT_EQUAL(std::string(R"({"typing":false,"at":0,"user":"bob"})"), stamp_typing(false, 0, "bob"));
        CPPUNIT_ASSERT_EQUAL(std::string(R"({"typing":false,"user":"bob"})"), stamp_typing(false, -1, "bob"));
        const std::string longest_name(64, 'a');
        const typing_stamp widest(false, INT64_MAX, longest_name);
        std::string written(widest.size(), '\0');
        widest.write_to(written.data());
        CPPUNIT_ASSERT_EQUAL(R"({"typing":false,"at":9223372036854775807,"user":")" + longest_name + "\"}", written);
        // The stamped form is JSON that says the same, whoever it is from.
        for (const std::int64_t when : {std::int64_t(-1), std::int64_t(0), std::int64_t(1795441272000)}) {
            Json::Value v;
            std::string why;
            CPPUNIT_ASSERT(json::parse(stamp_typing(true, when, "guest-7.x@example_org"), v, why));
            CPPUNIT_ASSERT_EQUAL(std::string("guest-7.x@example_org"), v["user"].asString());
            CPPUNIT_ASSERT(v["typing"].asBool());
            CPPUNIT_ASSERT_EQUAL(when >= 0, v.isMember("at"));
            if (when >= 0) CPPUNIT_ASSERT_EQUAL(when, v["at"].asInt64());
        }
    }
    void every_client_receipt_stamps_into_one_the_bridge_takes() {
        // Found by envelope_fuzz: {"read": 0} used to stamp into {"user": "bob"}.
        for (const char* client : {R"({"read":0})", R"({"delivered":0})", R"({"delivered":0,"read":0})",
                                   R"({"read":428})", R"({"delivered":431,"read":428})"}) {
            receipt r, back;
            envelope_error e;
            CPPUNIT_ASSERT_MESSAGE(client, parse_receipt(client, r, e));
            CPPUNIT_ASSERT_MESSAGE(client, parse_stamped_receipt(stamp_receipt(r, "bob"), back, e));
            CPPUNIT_ASSERT_EQUAL(std::string("bob"), back.user);
            CPPUNIT_ASSERT_EQUAL(r.delivered, back.delivered);
            CPPUNIT_ASSERT_EQUAL(r.read, back.read);
        }
        receipt r;
        r.read = 428;
        r.delivered = 431;
        CPPUNIT_ASSERT_EQUAL(std::string(R"({"delivered":431,"read":428,"user":"bob"})"), stamp_receipt(r, "bob"));
    }

    void e2e_envelope_round_trips_and_its_refusals_are_one_line_of_text() {
        const std::string sent =
            R"({"id":"s-1","type":"e2e","e2e":{"sender_device":"a1","ciphertexts":{"bob/b1":{"type":0,"body":"QUJD"}}}})";
        CPPUNIT_ASSERT_MESSAGE(err.message, parse(sent));
        CPPUNIT_ASSERT(env.body.empty());
        send_envelope back;
        CPPUNIT_ASSERT(parse_stamped(stamp_send(env, "alice"), back, err));
        CPPUNIT_ASSERT(back.e2e == env.e2e);
        Json::Value stamped;
        std::string why;
        CPPUNIT_ASSERT(json::parse(stamp_send(env, "alice"), stamped, why));
        CPPUNIT_ASSERT(!stamped.isMember("body")); // nothing in the clear
        // Found by the fuzzer: an unknown key that is not UTF-8 was quoted into
        // the refusal, which must be one line of UTF-8 (it goes into JSON).
        const std::string bad_key = std::string(R"({"id":"s-2","type":"e2e","e2e":{"sender_device":"a","sessio)") +
                                    "\xff\xfe\x01" + R"(_id":"c2Vz","ciphertext":"QUJD"}})";
        CPPUNIT_ASSERT(!parse(bad_key));
        CPPUNIT_ASSERT_EQUAL(std::string(error_code::invalid_envelope), std::string(err.code));
        CPPUNIT_ASSERT(valid_utf8(err.message));
        for (const char c : err.message) CPPUNIT_ASSERT(static_cast<unsigned char>(c) >= 0x20);
        CPPUNIT_ASSERT(!parse(R"({"id":"s-3","type":"e2e","e2e":{"sender_device":"a","ciphertexts":{"bo\u0001b":{"type":0,"body":"QUJD"}}}})"));
        for (const char c : err.message) CPPUNIT_ASSERT(static_cast<unsigned char>(c) >= 0x20);
        // An encrypted file: the upload's id beside the ciphertexts, kept through the stamp;
        // anything but an id is refused.
        const std::string with_file =
            R"({"id":"s-4","type":"e2e","media":"0123456789abcdef0123456789abcdef","e2e":{"sender_device":"a","session_id":"c2Vz","ciphertext":"QUJD"}})";
        CPPUNIT_ASSERT_MESSAGE(err.message, parse(with_file));
        CPPUNIT_ASSERT_EQUAL(std::string("0123456789abcdef0123456789abcdef"), env.media);
        CPPUNIT_ASSERT(parse_stamped(stamp_send(env, "alice"), back, err));
        CPPUNIT_ASSERT_EQUAL(env.media, back.media);
        CPPUNIT_ASSERT(!parse(R"({"id":"s-5","type":"e2e","media":"../../etc/passwd","e2e":{"sender_device":"a","session_id":"c2Vz","ciphertext":"QUJD"}})"));
        CPPUNIT_ASSERT(err.message.find("media") != std::string::npos);
        CPPUNIT_ASSERT(!parse(R"({"id":"s-6","type":"text","body":"hi","media":"0123456789abcdef0123456789abcdef"})"));
    }
};
CPPUNIT_TEST_SUITE_REGISTRATION(envelope_test);
