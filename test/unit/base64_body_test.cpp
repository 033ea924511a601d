#include <carcheck/body/base64_body.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/beast/_experimental/test/stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/test/unit_test.hpp>

#include "support/body_wire.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <span>
#include <string>
#include <vector>

#include <unistd.h>

namespace {

namespace fs = std::filesystem;
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using carcheck::base64_body;
using carcheck::base64_encoding;
using carcheck::error_code;
using request = http::request<base64_body>;
using carcheck_test::bytes_of;
using carcheck_test::random_string;
using carcheck_test::serialize;
using temp_dir = carcheck_test::scratch_dir;
using carcheck_test::vm_hwm_kib;
using manual_writer = carcheck_test::writer_driver<base64_body>;

/// Independent encoder (bit by bit) for the expected bytes.
std::string reference_base64(const std::string& in)
{
    static const char* const abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    unsigned bits = 0, nbits = 0;
    for (char c : in) {
        bits = ((bits << 8) | static_cast<unsigned char>(c)) & 0xFFFF;
        nbits += 8;
        while (nbits >= 6) {
            nbits -= 6;
            out += abc[(bits >> nbits) & 63];
        }
    }
    if (nbits > 0)
        out += abc[(bits << (6 - nbits)) & 63];
    while (out.size() % 4 != 0)
        out += '=';
    return out;
}

request make_request()
{
    return request{http::verb::post, "/v3/recognize_bytes?country=us", 11};
}

void prepare(request& req)
{
    req.set(http::field::host, "localhost");
    req.set(http::field::content_type, req.body().content_type());
    req.prepare_payload();
}

} // namespace

BOOST_AUTO_TEST_SUITE(base64_body_test)

BOOST_AUTO_TEST_CASE(small_file_is_byte_exact)
{
    temp_dir tmp;
    const std::vector<std::pair<std::string, std::string>> cases{
        {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"}, {"foob", "Zm9vYg=="}, {"foobar", "Zm9vYmFy"}};
    for (const auto& [content, encoded] : cases) {
        auto path = tmp.write("car.jpg", content);
        for (bool raw : {false, true}) {
            auto req = make_request();
            std::string message;
            BOOST_TEST_REQUIRE(!req.body().open(path, message));
            req.body().set_encoding(raw ? base64_encoding::raw : base64_encoding::json_string);
            prepare(req);
            const auto w = serialize(req);
            BOOST_TEST(!w.ec);
            const std::string body = raw ? encoded : "\"" + encoded + "\"";
            BOOST_TEST(w.body == body);
            // application/json for both forms: the spec's type, and the one the live service
            // answered 200 to with the bare text.
            BOOST_TEST(w.header == "POST /v3/recognize_bytes?country=us HTTP/1.1\r\nHost: localhost\r\n"
                                   "Content-Type: application/json\r\nContent-Length: " +
                                       std::to_string(body.size()) + "\r\n\r\n");
            BOOST_TEST(req.body().size() == body.size());
            BOOST_TEST(req.body().path() == path);
        }
    }
}

BOOST_AUTO_TEST_CASE(sizes_around_block_boundaries)
{
    temp_dir tmp;
    const std::size_t k = 64 * 1024, in_block = 48 * 1024;
    for (std::size_t n : {std::size_t(1), std::size_t(2), std::size_t(3), std::size_t(4), in_block - 1, in_block,
                          in_block + 1, k - 1, k, k + 1, std::size_t(1) << 20}) {
        const auto content = random_string(n, static_cast<unsigned>(n));
        const auto expected = reference_base64(content);
        auto path = tmp.write("f.bin", content);
        for (std::size_t block : {base64_body::value_type::default_block_size, std::size_t(1001), std::size_t(4),
                                  std::size_t(1)}) {
            if (block < 8 && n > 70000)
                continue;
            for (bool raw : {false, true}) {
                auto req = make_request();
                std::string message;
                BOOST_TEST_REQUIRE(!req.body().open(path, message));
                req.body().set_block_size(block);
                req.body().set_encoding(raw ? base64_encoding::raw : base64_encoding::json_string);
                prepare(req);
                const auto w = serialize(req);
                BOOST_TEST(!w.ec);
                BOOST_TEST(w.header.find("Content-Length: " + std::to_string(w.body.size()) + "\r\n") != std::string::npos);
                BOOST_TEST(w.header.find("Transfer-Encoding") == std::string::npos);
                BOOST_TEST(req.body().size() == w.body.size());
                const bool same = w.body == (raw ? expected : "\"" + expected + "\"");
                BOOST_TEST(same, "size " << n << " block " << block << " raw " << raw);
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(block_size_is_rounded_to_whole_groups)
{
    base64_body::value_type b;
    BOOST_TEST(b.block_size() == 65536u);
    b.set_block_size(1001);
    BOOST_TEST(b.block_size() == 1000u);
    b.set_block_size(1);
    BOOST_TEST(b.block_size() == 4u);
}

BOOST_AUTO_TEST_CASE(memory_source_equals_file_source)
{
    temp_dir tmp;
    for (std::size_t n : {std::size_t(1), std::size_t(2), std::size_t(50000), std::size_t(200001)}) {
        const auto content = random_string(n, 31);
        auto path = tmp.write("same.jpg", content);
        for (bool raw : {false, true}) {
            auto from_file = make_request();
            std::string message;
            BOOST_TEST_REQUIRE(!from_file.body().open(path, message));
            from_file.body().set_encoding(raw ? base64_encoding::raw : base64_encoding::json_string);
            prepare(from_file);
            auto from_memory = make_request();
            from_memory.body().assign(bytes_of(content));
            from_memory.body().set_encoding(raw ? base64_encoding::raw : base64_encoding::json_string);
            prepare(from_memory);
            const auto a = serialize(from_file);
            const auto b = serialize(from_memory);
            BOOST_TEST(!a.ec);
            BOOST_TEST(!b.ec);
            BOOST_TEST((a.header + a.body == b.header + b.body));
            BOOST_TEST(from_memory.body().size() == b.body.size());
        }
    }
    // An empty buffer is an empty body, or the empty JSON string (the client rejects it
    // before this).
    auto empty = make_request();
    empty.body().assign({});
    prepare(empty);
    BOOST_TEST(serialize(empty).body == "");
    empty.body().set_encoding(base64_encoding::json_string);
    prepare(empty);
    BOOST_TEST(serialize(empty).body == "\"\"");
}

BOOST_AUTO_TEST_CASE(second_serialization_is_identical)
{
    temp_dir tmp;
    auto path = tmp.write("retry.bin", random_string(300001, 37));
    auto req = make_request();
    std::string message;
    BOOST_TEST_REQUIRE(!req.body().open(path, message));
    prepare(req);
    const auto first = serialize(req);
    {
        manual_writer m{req}; // an attempt abandoned after one block
        BOOST_TEST(!m.init());
        error_code ec;
        BOOST_TEST(m.step(ec, nullptr));
    }
    const auto second = serialize(req);
    BOOST_TEST(!first.ec);
    BOOST_TEST((first.header + first.body == second.header + second.body));
}

BOOST_AUTO_TEST_CASE(rejects_missing_directory_and_empty)
{
    temp_dir tmp;
    auto check = [](const fs::path& p, const std::string& why) {
        base64_body::value_type body;
        std::string message;
        const auto ec = body.open(p, message);
        BOOST_TEST((ec == carcheck::error::invalid_argument), p);
        BOOST_TEST(message.find(p.string()) != std::string::npos, message);
        BOOST_TEST(message.find(why) != std::string::npos, message);
        BOOST_TEST(!body.has_source());
    };
    check(tmp.dir / "missing.jpg", "does not exist");
    check(tmp.dir, "directory");
    check(tmp.write("empty.jpg", ""), "empty");
    auto req = make_request();
    prepare(req);
    BOOST_TEST((serialize(req).ec == carcheck::error::invalid_argument));
}

BOOST_AUTO_TEST_CASE(file_truncated_or_grown_after_open)
{
    temp_dir tmp;
    const auto content = random_string(30000, 41);
    for (std::size_t new_size : {std::size_t(100), std::size_t(30003)}) {
        auto path = tmp.write("changing.jpg", content);
        auto req = make_request();
        std::string message;
        BOOST_TEST_REQUIRE(!req.body().open(path, message));
        prepare(req);
        fs::resize_file(path, new_size);
        const auto w = serialize(req);
        BOOST_TEST((w.ec == carcheck::error::file_changed));
        BOOST_TEST(w.header.empty());
        BOOST_TEST(req.body().path() == path);
        BOOST_TEST(!req.body().error_detail().empty());
    }
    for (bool grow : {false, true}) {
        auto path = tmp.write("midway.jpg", content);
        auto req = make_request();
        std::string message;
        BOOST_TEST_REQUIRE(!req.body().open(path, message));
        req.body().set_block_size(4096);
        prepare(req);
        manual_writer m{req};
        BOOST_TEST(!m.init());
        error_code ec;
        BOOST_TEST(m.step(ec, nullptr));
        if (grow)
            std::ofstream(path, std::ios::binary | std::ios::app) << "more";
        else
            fs::resize_file(path, 10000);
        while (m.step(ec, nullptr)) {
        }
        BOOST_TEST((ec == carcheck::error::file_changed));
        BOOST_TEST(req.body().error_detail().find(grow ? "grew" : "ended at byte 10000") != std::string::npos,
                   req.body().error_detail());
        BOOST_TEST(req.body().path() == path);
    }
}

BOOST_AUTO_TEST_CASE(async_write_over_a_beast_stream)
{
    temp_dir tmp;
    const auto content = random_string(150000, 43);
    auto path = tmp.write("async.jpg", content);
    net::io_context ioc;
    beast::test::stream client(ioc), server(ioc);
    client.connect(server);
    auto req = make_request();
    std::string message;
    BOOST_TEST_REQUIRE(!req.body().open(path, message));
    prepare(req);
    error_code result = net::error::would_block;
    http::async_write(client, req, [&](error_code ec, std::size_t) {
        result = ec;
        client.close();
    });
    ioc.run();
    BOOST_TEST(!result);
    const std::string all(server.str());
    BOOST_TEST(all.substr(all.find("\r\n\r\n") + 4) == reference_base64(content)); // default: bare text
}

BOOST_AUTO_TEST_CASE(default_is_the_bare_text_and_json_string_is_quoted)
{
    // The whole request on the wire, from a caller's buffer, in both forms.
    const std::string content = "any carcass";
    const auto bytes = std::as_bytes(std::span(content.data(), content.size()));
    auto req = make_request();
    BOOST_TEST((req.body().encoding() == base64_encoding::raw));
    req.body().assign(bytes);
    prepare(req);
    const std::string head = "POST /v3/recognize_bytes?country=us HTTP/1.1\r\nHost: localhost\r\n"
                             "Content-Type: application/json\r\nContent-Length: ";
    auto w = serialize(req);
    BOOST_TEST(w.header + w.body == head + "16\r\n\r\nYW55IGNhcmNhc3M=");

    auto quoted = make_request();
    quoted.body().assign(bytes);
    quoted.body().set_encoding(base64_encoding::json_string);
    prepare(quoted);
    w = serialize(quoted);
    BOOST_TEST(w.header + w.body == head + "18\r\n\r\n\"YW55IGNhcmNhc3M=\"");
}

BOOST_AUTO_TEST_CASE(coreutils_base64_decodes_the_raw_form)
{
    if (std::system("command -v base64 >/dev/null 2>&1") != 0) {
        BOOST_TEST_MESSAGE("base64 (coreutils) not found: skipped");
        return;
    }
    temp_dir tmp;
    const auto content = random_string(123457, 47);
    auto path = tmp.write("in.bin", content);
    auto req = make_request();
    std::string message;
    BOOST_TEST_REQUIRE(!req.body().open(path, message));
    prepare(req); // the default encoding: the bare text
    const auto w = serialize(req);
    const auto encoded = tmp.write("encoded.txt", w.body);
    const auto decoded = tmp.dir / "decoded.bin";
    const std::string cmd = "base64 -d '" + encoded.string() + "' > '" + decoded.string() + "'";
    BOOST_TEST(std::system(cmd.c_str()) == 0);
    std::ifstream in(decoded, std::ios::binary);
    const std::string got((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    BOOST_TEST((got == content));
}

BOOST_AUTO_TEST_CASE(large_file_streams_in_constant_memory)
{
    temp_dir tmp;
    const std::size_t size = 64u << 20;
    const auto path = tmp.dir / "big.bin";
    carcheck_test::write_random_file(path, size, 53);
    bool hwm_reset = static_cast<bool>(std::ofstream("/proc/self/clear_refs") << "5");
    const auto hwm_before = vm_hwm_kib();
    auto req = make_request();
    std::string message;
    BOOST_TEST_REQUIRE(!req.body().open(path, message));
    prepare(req);
    manual_writer m{req};
    BOOST_TEST(!m.init());
    error_code ec;
    std::uint64_t total = 0;
    bool more = true;
    std::string block;
    while (more) {
        block.clear();
        more = m.step(ec, &block);
        total += block.size();
        BOOST_TEST_REQUIRE(!ec);
    }
    BOOST_TEST(total == req.body().size());
    BOOST_TEST(total == (size + 2) / 3 * 4); // the bare text, the default
    BOOST_TEST(m.largest <= req.body().block_size() + 2);
    const auto hwm_after = vm_hwm_kib();
    BOOST_TEST_MESSAGE("64 MiB base64 upload: largest buffer " << m.largest << " bytes, peak RSS growth "
                                                               << (hwm_after - hwm_before) << " KiB");
    if (hwm_reset && hwm_before != 0)
        BOOST_TEST(hwm_after - hwm_before < 16u * 1024);
}

// A writer begun again (init() resets it) after its body was given a larger file sends the
// new file whole: its buffers grow with the block instead of being overrun.
BOOST_AUTO_TEST_CASE(a_writer_begun_again_for_a_larger_file)
{
    temp_dir tmp;
    const auto small = tmp.write("small.jpg", random_string(100, 3));
    const auto large = tmp.write("large.jpg", random_string(200000, 4));
    auto req = make_request();
    std::string message;
    BOOST_TEST_REQUIRE(!req.body().open(small, message));
    prepare(req);
    manual_writer m{req};
    error_code ec;
    std::string out;
    BOOST_TEST_REQUIRE(!m.init());
    while (m.step(ec, &out)) {
    }
    BOOST_TEST_REQUIRE(!ec);
    BOOST_TEST(out == serialize(req).body);
    BOOST_TEST_REQUIRE(!req.body().open(large, message));
    prepare(req);
    out.clear();
    BOOST_TEST_REQUIRE(!m.init());
    while (m.step(ec, &out)) {
    }
    BOOST_TEST(!ec);
    BOOST_TEST(out == serialize(req).body);
}

BOOST_AUTO_TEST_SUITE_END()
