#ifndef CARCHECK_TEST_SUPPORT_MOCK_FIXTURE_HPP
#define CARCHECK_TEST_SUPPORT_MOCK_FIXTURE_HPP

// Runs the bundled mock server in-process on free loopback ports and gives tests a client
// configured to trust its generated certificate.

#include "mock_server.hpp"

#include <carcheck/carcheck.hpp>

#include <boost/asio.hpp>
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <type_traits>
#include <string>
#include <unistd.h>

namespace carcheck_test {

namespace asio = boost::asio;
namespace fs = std::filesystem;

inline carcheck::mock::server_options default_mock_options()
{
    carcheck::mock::server_options o;
    o.keys.push_back(carcheck::mock::key_config{.key = "test-key"});
    return o;
}

/// A scratch directory removed at the end of the test.
struct temp_dir {
    fs::path path;
    temp_dir()
    {
        char tmpl[] = "/tmp/carcheck-test-XXXXXX";
        path = ::mkdtemp(tmpl);
    }
    ~temp_dir()
    {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
};

/// A small JPEG-shaped image (SOI, COM segment, EOI) that the mock "sees" as `plate`.
inline std::string image_bytes(const std::string& plate, std::size_t padding = 0)
{
    std::string comment = "plate=" + plate + ";region=ca";
    comment.append(padding, 'x');
    std::string out = "\xFF\xD8";
    out += "\xFF\xFE";
    const std::size_t len = comment.size() + 2;
    out += static_cast<char>((len >> 8) & 0xFF);
    out += static_cast<char>(len & 0xFF);
    out += comment;
    out += "\xFF\xD9";
    return out;
}

inline fs::path write_file(const fs::path& p, const std::string& bytes)
{
    std::ofstream(p, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    return p;
}

template <class T>
struct is_awaitable : std::false_type {};
template <class T, class E>
struct is_awaitable<asio::awaitable<T, E>> : std::true_type {};

struct mock_fixture {
    carcheck::mock::server server;
    asio::io_context ioc;
    temp_dir dir;

    explicit mock_fixture(carcheck::mock::server_options o = default_mock_options()) : server(std::move(o))
    {
        server.start();
    }

    /// `before_start` configures the server (e.g. its request logger) before it starts.
    template <class BeforeStart>
    mock_fixture(carcheck::mock::server_options o, BeforeStart before_start) : server(std::move(o))
    {
        before_start(server);
        server.start();
    }

    carcheck::client_options options(bool tls = true) const
    {
        carcheck::client_options o;
        o.secret_key = "test-key";
        if (tls) {
            o.endpoint = "https://127.0.0.1:" + std::to_string(server.https_port()) + "/v3";
            o.tls.use_system_roots = false;
            o.tls.ca_pem = server.certificate_pem();
        } else {
            o.endpoint = "http://127.0.0.1:" + std::to_string(server.http_port()) + "/v3";
        }
        return o;
    }

    fs::path image(const std::string& plate, std::size_t padding = 0)
    {
        return write_file(dir.path / (plate + ".jpg"), image_bytes(plate, padding));
    }

    /// Runs a coroutine to completion on the fixture's io_context. The deadline only
    /// guards against a hang; no test relies on it to pass.
    /// The io_context is stopped as soon as the coroutine ends (pool timers stay queued).
    template <class T>
    T run(asio::awaitable<T> a)
    {
        bool done = false;
        std::exception_ptr error;
        if constexpr (std::is_void_v<T>) {
            asio::co_spawn(ioc, std::move(a), [&](std::exception_ptr e) {
                error = e;
                done = true;
                ioc.stop();
            });
            drive(done);
            if (error)
                std::rethrow_exception(error);
        } else {
            std::optional<T> value;
            asio::co_spawn(ioc, std::move(a), [&](std::exception_ptr e, T v) {
                error = e;
                value = std::move(v);
                done = true;
                ioc.stop();
            });
            drive(done);
            if (error)
                std::rethrow_exception(error);
            return std::move(*value);
        }
    }

    /// Runs a deferred operation (the client's default token, or as_tuple(deferred)) to
    /// completion: its result, or an exception for an error when the signature has one.
    template <class Op>
        requires(!is_awaitable<std::decay_t<Op>>::value)
    auto run(Op op)
    {
        return run(std::move(op)(asio::use_awaitable));
    }

    void drive(const bool& done)
    {
        ioc.restart();
        ioc.run_for(std::chrono::seconds(120));
        BOOST_REQUIRE_MESSAGE(done, "operation did not complete (hang)");
    }
};

} // namespace carcheck_test

#endif
