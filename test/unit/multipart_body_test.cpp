#include <carcheck/body/multipart_file_body.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/beast/_experimental/test/stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/test/unit_test.hpp>

#include "support/body_wire.hpp"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <unistd.h>

namespace {

namespace fs = std::filesystem;
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using carcheck::error_code;
using carcheck::multipart_file_body;
using request = http::request<multipart_file_body>;
using carcheck_test::bytes_of;
using carcheck_test::random_string;
using carcheck_test::serialize;
using temp_dir = carcheck_test::scratch_dir;
using carcheck_test::vm_hwm_kib;
using manual_writer = carcheck_test::writer_driver<multipart_file_body>;

request make_request()
{
    return request{http::verb::post, "/v3/recognize?country=us", 11};
}

void prepare(request& req)
{
    req.set(http::field::host, "localhost");
    req.set(http::field::content_type, req.body().content_type());
    req.prepare_payload();
}

std::string expected_body(const std::string& boundary, const std::string& filename_param, const std::string& type,
                          const std::string& content, const std::string& fields = {})
{
    return fields + "--" + boundary + "\r\nContent-Disposition: form-data; name=\"image\"; filename=" +
           filename_param + "\r\nContent-Type: " + type + "\r\n\r\n" + content + "\r\n--" + boundary + "--\r\n";
}

std::string replace_all(std::string s, const std::string& from, const std::string& to)
{
    for (auto pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size()))
        s.replace(pos, from.size(), to);
    return s;
}

/// Drives a writer by hand, as the serializer does.

} // namespace

BOOST_AUTO_TEST_SUITE(multipart_body_test)

BOOST_AUTO_TEST_CASE(small_file_is_byte_exact)
{
    temp_dir tmp;
    for (std::string content : {std::string("x"), std::string("xy"), std::string("xyz"), std::string("\xFF\xD8\xFF\xE0 jpeg"),
                                std::string("line\r\n--not-the-boundary\r\n")}) {
        auto path = tmp.write("car.jpg", content);
        auto req = make_request();
        std::string message;
        BOOST_TEST_REQUIRE(!req.body().open(path, message));
        prepare(req);
        const std::string type =
            content.rfind("\xFF\xD8\xFF", 0) == 0 ? "image/jpeg" : "application/octet-stream";
        const auto w = serialize(req);
        BOOST_TEST(!w.ec);
        const auto& boundary = req.body().boundary();
        BOOST_TEST(w.body == expected_body(boundary, "\"car.jpg\"", type, content));
        BOOST_TEST(w.header == "POST /v3/recognize?country=us HTTP/1.1\r\nHost: localhost\r\n"
                               "Content-Type: multipart/form-data; boundary=" +
                                   boundary + "\r\nContent-Length: " + std::to_string(w.body.size()) + "\r\n\r\n");
        BOOST_TEST(req.body().size() == w.body.size());
        BOOST_TEST(req.body().path() == path);
        BOOST_TEST(req.body().filename() == "car.jpg");
    }
}

BOOST_AUTO_TEST_CASE(sizes_around_block_boundaries)
{
    temp_dir tmp;
    const std::size_t k = 64 * 1024;
    for (std::size_t n : {std::size_t(1), std::size_t(2), std::size_t(3), k - 1, k, k + 1, 2 * k, std::size_t(1) << 20}) {
        const auto content = random_string(n, static_cast<unsigned>(n));
        auto path = tmp.write("f.bin", content);
        for (std::size_t block : {multipart_file_body::value_type::default_block_size, std::size_t(1000), std::size_t(1)}) {
            if (block == 1 && n > 70000)
                continue;
            auto req = make_request();
            std::string message;
            BOOST_TEST_REQUIRE(!req.body().open(path, message));
            req.body().set_block_size(block);
            prepare(req);
            const auto w = serialize(req);
            BOOST_TEST(!w.ec);
            BOOST_TEST(w.header.find("Content-Length: " + std::to_string(w.body.size()) + "\r\n") != std::string::npos);
            BOOST_TEST(w.header.find("Transfer-Encoding") == std::string::npos);
            BOOST_TEST(req.body().size() == w.body.size());
            const bool same = w.body == expected_body(req.body().boundary(), "\"f.bin\"", req.body().file_content_type().data(), content);
            BOOST_TEST(same, "size " << n << " block " << block);
        }
    }
}

BOOST_AUTO_TEST_CASE(content_type_is_sniffed)
{
    temp_dir tmp;
    const std::vector<std::pair<std::string, std::string>> cases{
        {std::string("\xFF\xD8\xFF\xDB", 4) + "rest", "image/jpeg"},
        {std::string("\x89PNG\r\n\x1a\n", 8) + "rest", "image/png"},
        {"GIF89a....", "image/gif"},
        {"GIF87a....", "image/gif"},
        {"BM......", "image/bmp"},
        {"B", "application/octet-stream"},
        {std::string("\xFF\xD8", 2), "application/octet-stream"},
        {"hello", "application/octet-stream"},
    };
    for (const auto& [content, type] : cases) {
        auto path = tmp.write("img", content);
        multipart_file_body::value_type file;
        std::string message;
        BOOST_TEST_REQUIRE(!file.open(path, message));
        BOOST_TEST(file.file_content_type() == type);
        multipart_file_body::value_type mem;
        mem.assign(bytes_of(content));
        BOOST_TEST(mem.file_content_type() == type);

        auto req = make_request();
        req.body() = std::move(file);
        prepare(req);
        BOOST_TEST(serialize(req).body.find("\r\nContent-Type: " + type + "\r\n\r\n") != std::string::npos);
    }
}

BOOST_AUTO_TEST_CASE(filename_is_escaped)
{
    temp_dir tmp;
    auto path = tmp.write("a\"b\\c\r\nd;e.jpg", "data");
    auto req = make_request();
    std::string message;
    BOOST_TEST_REQUIRE(!req.body().open(path, message));
    prepare(req);
    const auto w = serialize(req);
    BOOST_TEST(w.body == expected_body(req.body().boundary(), "\"a\\\"b\\\\c%0D%0Ad;e.jpg\"", "application/octet-stream", "data"));
    BOOST_TEST(req.body().filename() == "a\"b\\c\r\nd;e.jpg");

    auto mem = make_request();
    const std::string data = "data";
    mem.body().assign(bytes_of(data), "x\ty\"z");
    prepare(mem);
    BOOST_TEST(serialize(mem).body.find("filename=\"x%09y\\\"z\"\r\n") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(boundary_is_long_random_and_absent_from_the_content)
{
    temp_dir tmp;
    const auto content = random_string(200000, 9);
    auto path = tmp.write("r.bin", content);
    std::string previous;
    for (int i = 0; i < 20; ++i) {
        auto req = make_request();
        std::string message;
        BOOST_TEST_REQUIRE(!req.body().open(path, message));
        const auto& b = req.body().boundary();
        BOOST_TEST(b.size() >= 32u);
        BOOST_TEST(b.size() <= 70u); // RFC 2046
        for (char c : b)
            BOOST_TEST((std::isalnum(static_cast<unsigned char>(c)) || c == '-'));
        BOOST_TEST(b != previous);
        previous = b;
        BOOST_TEST(req.body().content_type() == "multipart/form-data; boundary=" + b);
        BOOST_TEST(content.find(b) == std::string::npos);
        prepare(req);
        const auto w = serialize(req);
        // Delimiters appear exactly twice: the opening one and the closing one.
        std::size_t count = 0;
        for (auto pos = w.body.find("--" + b); pos != std::string::npos; pos = w.body.find("--" + b, pos + 1))
            ++count;
        BOOST_TEST(count == 2u);
    }
}

BOOST_AUTO_TEST_CASE(second_serialization_is_identical)
{
    temp_dir tmp;
    const auto content = random_string(300000, 11);
    auto path = tmp.write("retry.bin", content);
    auto req = make_request();
    std::string message;
    BOOST_TEST_REQUIRE(!req.body().open(path, message));
    req.body().add_field("note", "x");
    prepare(req);
    const auto first = serialize(req);
    const auto second = serialize(req);
    BOOST_TEST(!first.ec);
    BOOST_TEST(!second.ec);
    BOOST_TEST((first.header + first.body == second.header + second.body));

    // A serializer abandoned mid-body (a failed attempt), then a fresh one: still from byte 0.
    {
        req.body().set_block_size(1000);
        manual_writer m{req};
        BOOST_TEST(!m.init());
        error_code ec;
        std::string partial;
        BOOST_TEST(m.step(ec, &partial));
        BOOST_TEST(m.step(ec, &partial));
    }
    const auto third = serialize(req);
    BOOST_TEST((third.header + third.body == first.header + first.body));
}

BOOST_AUTO_TEST_CASE(memory_source_equals_file_source)
{
    temp_dir tmp;
    for (std::size_t n : {std::size_t(1), std::size_t(5), std::size_t(70000)}) {
        const auto content = std::string("\x89PNG", 4) + random_string(n, 13);
        auto path = tmp.write("same.png", content);
        auto from_file = make_request();
        std::string message;
        BOOST_TEST_REQUIRE(!from_file.body().open(path, message));
        prepare(from_file);
        auto from_memory = make_request();
        from_memory.body().assign(bytes_of(content), "same.png");
        prepare(from_memory);
        BOOST_TEST(from_memory.body().path().empty());
        const auto a = serialize(from_file);
        const auto b = serialize(from_memory);
        BOOST_TEST(!a.ec);
        BOOST_TEST(!b.ec);
        BOOST_TEST(from_file.body().size() == from_memory.body().size());
        const auto wa = replace_all(a.header + a.body, from_file.body().boundary(), "BOUNDARY");
        const auto wb = replace_all(b.header + b.body, from_memory.body().boundary(), "BOUNDARY");
        BOOST_TEST(wa == wb);
    }
}

BOOST_AUTO_TEST_CASE(extra_fields_come_first)
{
    temp_dir tmp;
    auto path = tmp.write("f.gif", "GIF89a");
    auto req = make_request();
    std::string message;
    BOOST_TEST_REQUIRE(!req.body().open(path, message));
    req.body().add_field("country", "us");
    req.body().add_field("we\"ird", "two\r\nlines");
    prepare(req);
    const auto w = serialize(req);
    const auto& b = req.body().boundary();
    const std::string fields = "--" + b + "\r\nContent-Disposition: form-data; name=\"country\"\r\n\r\nus\r\n" + "--" + b +
                               "\r\nContent-Disposition: form-data; name=\"we\\\"ird\"\r\n\r\ntwo\r\nlines\r\n";
    BOOST_TEST(w.body == expected_body(b, "\"f.gif\"", "image/gif", "GIF89a", fields));
    BOOST_TEST(req.body().size() == w.body.size());
}

BOOST_AUTO_TEST_CASE(rejects_missing_directory_empty_and_unreadable)
{
    temp_dir tmp;
    auto check = [](const fs::path& p, const std::string& why) {
        multipart_file_body::value_type body;
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
    check(fs::path(), "empty");
    auto locked = tmp.write("locked.jpg", "secret");
    fs::permissions(locked, fs::perms::none);
    if (::geteuid() != 0)
        check(locked, "cannot be opened");
    else
        BOOST_TEST_MESSAGE("running as root: the unreadable-file case is skipped");

    // A body without a source fails the write instead of sending something.
    auto req = make_request();
    prepare(req);
    BOOST_TEST((serialize(req).ec == carcheck::error::invalid_argument));
}

BOOST_AUTO_TEST_CASE(file_truncated_or_grown_after_open)
{
    temp_dir tmp;
    const auto content = random_string(10000, 17);
    // Before the attempt starts: nothing is sent.
    for (std::size_t new_size : {std::size_t(5000), std::size_t(10001)}) {
        auto path = tmp.write("changing.jpg", content);
        auto req = make_request();
        std::string message;
        BOOST_TEST_REQUIRE(!req.body().open(path, message));
        prepare(req);
        fs::resize_file(path, new_size);
        const auto w = serialize(req);
        BOOST_TEST((w.ec == carcheck::error::file_changed));
        BOOST_TEST(w.header.empty());
        BOOST_TEST(w.body.empty());
        BOOST_TEST(req.body().path() == path);
        BOOST_TEST(!req.body().error_detail().empty());
    }
    // Deleted after open.
    {
        auto path = tmp.write("deleted.jpg", content);
        auto req = make_request();
        std::string message;
        BOOST_TEST_REQUIRE(!req.body().open(path, message));
        prepare(req);
        fs::remove(path);
        BOOST_TEST((serialize(req).ec == carcheck::error::file_changed));
    }
    // During the upload: shorter.
    {
        auto path = tmp.write("shrinks.jpg", content);
        auto req = make_request();
        std::string message;
        BOOST_TEST_REQUIRE(!req.body().open(path, message));
        req.body().set_block_size(4096);
        prepare(req);
        manual_writer m{req};
        BOOST_TEST(!m.init());
        error_code ec;
        BOOST_TEST(m.step(ec, nullptr));
        fs::resize_file(path, 6000);
        while (m.step(ec, nullptr)) {
        }
        BOOST_TEST((ec == carcheck::error::file_changed));
        BOOST_TEST(req.body().error_detail().find("ended at byte 6000") != std::string::npos, req.body().error_detail());
        BOOST_TEST(req.body().path() == path);
    }
    // During the upload: longer, seen at the last block.
    {
        auto path = tmp.write("grows.jpg", content);
        auto req = make_request();
        std::string message;
        BOOST_TEST_REQUIRE(!req.body().open(path, message));
        req.body().set_block_size(4096);
        prepare(req);
        manual_writer m{req};
        BOOST_TEST(!m.init());
        error_code ec;
        BOOST_TEST(m.step(ec, nullptr));
        std::ofstream(path, std::ios::binary | std::ios::app) << "more";
        while (m.step(ec, nullptr)) {
        }
        BOOST_TEST((ec == carcheck::error::file_changed));
        BOOST_TEST(req.body().error_detail().find("grew") != std::string::npos, req.body().error_detail());
    }
    // The size is an exact multiple of the block: the growth probe is its own read.
    {
        auto path = tmp.write("exact.jpg", content.substr(0, 8192));
        auto req = make_request();
        std::string message;
        BOOST_TEST_REQUIRE(!req.body().open(path, message));
        req.body().set_block_size(4096);
        prepare(req);
        manual_writer m{req};
        BOOST_TEST(!m.init());
        error_code ec;
        BOOST_TEST(m.step(ec, nullptr));
        std::ofstream(path, std::ios::binary | std::ios::app) << "x";
        while (m.step(ec, nullptr)) {
        }
        BOOST_TEST((ec == carcheck::error::file_changed));
    }
}

// write_into (what the client uses for small requests: the body in one buffer, the file read
// straight into it) hands out exactly the bytes get() does, and refuses what get() refuses.
BOOST_AUTO_TEST_CASE(write_into_gives_the_streamed_bytes_in_one_step)
{
    temp_dir tmp;
    const auto content = random_string(30000, 23);
    const auto path = tmp.write("car.jpg", content);
    auto one_step = [](request& req, std::size_t room, error_code& ec) {
        manual_writer m{req};
        std::string out(room, '\0');
        ec = m.init();
        if (ec)
            return std::string();
        const std::size_t n = m.w.write_into({reinterpret_cast<std::byte*>(out.data()), out.size()}, ec);
        out.resize(n);
        return out;
    };
    std::vector<std::byte> image(reinterpret_cast<const std::byte*>(content.data()),
                                 reinterpret_cast<const std::byte*>(content.data()) + content.size());
    for (int source = 0; source < 2; ++source) {
        auto req = make_request();
        std::string message;
        if (source == 0)
            BOOST_TEST_REQUIRE(!req.body().open(path, message));
        else
            req.body().assign(image, "car.jpg");
        req.body().add_field("country", "us");
        prepare(req);
        const std::size_t size = static_cast<std::size_t>(req.body().size());
        const auto streamed = serialize(req).body;
        error_code ec;
        BOOST_TEST(one_step(req, size + 1, ec) == streamed);
        BOOST_TEST(!ec);
        BOOST_TEST(one_step(req, size + 1, ec) == streamed); // again from byte 0 (a retry)
        // No room for the growth probe: refused, nothing written.
        BOOST_TEST(one_step(req, size, ec).empty());
        BOOST_TEST((ec == carcheck::error::invalid_argument));
    }
    // The file grows or shrinks after the attempt started: file_changed, as from get().
    for (std::size_t new_size : {content.size() - 1, content.size() + 1}) {
        const auto changing = tmp.write("changing.jpg", content);
        auto req = make_request();
        std::string message;
        BOOST_TEST_REQUIRE(!req.body().open(changing, message));
        prepare(req);
        manual_writer m{req};
        BOOST_TEST_REQUIRE(!m.init());
        fs::resize_file(changing, new_size);
        std::string out(static_cast<std::size_t>(req.body().size()) + 1, '\0');
        error_code ec;
        m.w.write_into({reinterpret_cast<std::byte*>(out.data()), out.size()}, ec);
        BOOST_TEST((ec == carcheck::error::file_changed));
        BOOST_TEST(!req.body().error_detail().empty());
    }
}

BOOST_AUTO_TEST_CASE(async_write_over_a_beast_stream)
{
    temp_dir tmp;
    const auto content = random_string(200000, 19);
    auto path = tmp.write("async.jpg", content);
    net::io_context ioc;
    beast::test::stream client(ioc), server(ioc);
    client.connect(server);
    auto req = make_request();
    std::string message;
    BOOST_TEST_REQUIRE(!req.body().open(path, message));
    prepare(req);
    error_code result = net::error::would_block;
    std::size_t written = 0;
    http::async_write(client, req, [&](error_code ec, std::size_t n) {
        result = ec;
        written = n;
        client.close();
    });
    ioc.run();
    BOOST_TEST(!result);
    const std::string all(server.str());
    BOOST_TEST(all.size() == written);
    const auto body = all.substr(all.find("\r\n\r\n") + 4);
    BOOST_TEST(body == expected_body(req.body().boundary(), "\"async.jpg\"", "application/octet-stream", content));
}

BOOST_AUTO_TEST_CASE(python_email_parser_reads_the_upload)
{
    if (std::system("python3 -c 'import email' >/dev/null 2>&1") != 0) {
        BOOST_TEST_MESSAGE("python3 not found: skipped");
        return;
    }
    temp_dir tmp;
    const auto content = std::string("\xFF\xD8\xFF\xE0", 4) + random_string(100000, 23);
    auto path = tmp.write("plate \"1\".jpg", content);
    auto req = make_request();
    std::string message;
    BOOST_TEST_REQUIRE(!req.body().open(path, message));
    req.body().add_field("country", "us");
    prepare(req);
    const auto w = serialize(req);
    const auto wire_file = tmp.write("wire.txt", "Content-Type: " + req.body().content_type() + "\r\n\r\n" + w.body);
    const auto out_file = tmp.dir / "image.out";
    const auto script = tmp.write("check.py",
                                  "import sys, email, email.policy\n"
                                  "# message_from_bytes: message_from_binary_file's text wrapper turns a bare CR into LF\n"
                                  "msg = email.message_from_bytes(open(sys.argv[1], 'rb').read(), policy=email.policy.HTTP)\n"
                                  "assert msg.is_multipart(), 'not multipart'\n"
                                  "parts = list(msg.iter_parts())\n"
                                  "assert len(parts) == 2, len(parts)\n"
                                  "assert parts[0].get_param('name', header='content-disposition') == 'country'\n"
                                  "assert parts[0].get_payload(decode=True) == b'us'\n"
                                  "img = parts[1]\n"
                                  "assert img.get_param('name', header='content-disposition') == 'image'\n"
                                  "assert img.get_filename() == 'plate \"1\".jpg', img.get_filename()\n"
                                  "assert img.get_content_type() == 'image/jpeg', img.get_content_type()\n"
                                  "open(sys.argv[2], 'wb').write(img.get_payload(decode=True))\n");
    const std::string cmd = "python3 '" + script.string() + "' '" + wire_file.string() + "' '" + out_file.string() + "'";
    BOOST_TEST(std::system(cmd.c_str()) == 0);
    std::ifstream in(out_file, std::ios::binary);
    const std::string parsed((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    BOOST_TEST((parsed == content));
}

BOOST_AUTO_TEST_CASE(large_file_streams_in_constant_memory)
{
    temp_dir tmp;
    const std::size_t size = 64u << 20;
    const auto path = tmp.dir / "big.bin";
    carcheck_test::write_random_file(path, size, 29);
    // Reset the peak RSS (Linux); if not possible, the peak check is skipped.
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
    std::string block; // reused: a sanitizer's quarantine would keep every freed copy resident
    while (more) {
        block.clear();
        more = m.step(ec, &block);
        total += block.size();
        BOOST_TEST_REQUIRE(!ec);
    }
    BOOST_TEST(total == req.body().size());
    const auto overhead = req.body().size() - size; // head and closing delimiter
    BOOST_TEST(m.largest <= req.body().block_size() + overhead);
    const auto hwm_after = vm_hwm_kib();
    BOOST_TEST_MESSAGE("64 MiB multipart upload: largest buffer " << m.largest << " bytes, peak RSS growth "
                                                                  << (hwm_after - hwm_before) << " KiB");
    if (hwm_reset && hwm_before != 0)
        BOOST_TEST(hwm_after - hwm_before < 16u * 1024); // far below the 64 MiB file
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
