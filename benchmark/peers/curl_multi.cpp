// peer_curl_multi: the libcurl peer of carcheck_bench_client. One thread, the multi
// interface, C transfers in flight, keep-alive TLS with certificate verification against a
// CA file. Each request uploads the image as multipart/form-data field "image" the way a
// libcurl user does (curl_mime_filedata: the file is read from disk per request, as
// carcheck's recognize_file does), or, with --body FILE --content-type CT, a prebuilt
// multipart body held in memory (the same bytes wrk sends). The reply is parsed with
// Boost.JSON (a libcurl user needs the parsed reply too; --no-parse skips it).
//
//   peer_curl_multi --url URL --cacert PEM --file IMAGE --concurrency C --requests N
//                   [--duration S] [--warmup W] [--no-reuse] [--body FILE --content-type CT]
//                   [--no-parse]
//
// Prints one JSON line with the same fields as carcheck_bench_client.
#include "../allocation_counter.hpp"
#include "../bench_common.hpp"

#include <boost/json/parse.hpp>

#include <curl/curl.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

namespace {

struct settings {
    std::string url, cacert, file, body, content_type;
    bool no_reuse = false, parse = true;
};

struct slot {
    CURL* easy = nullptr;
    curl_mime* mime = nullptr;
    std::string reply;
    bench::clock::time_point started;
    bool busy = false;
};

std::size_t on_write(char* data, std::size_t size, std::size_t n, void* user)
{
    static_cast<std::string*>(user)->append(data, size * n);
    return size * n;
}

class runner {
public:
    runner(const settings& s, std::size_t concurrency) : s_(s), slots_(concurrency)
    {
        multi_ = curl_multi_init();
        curl_multi_setopt(multi_, CURLMOPT_MAX_TOTAL_CONNECTIONS, static_cast<long>(concurrency));
        curl_multi_setopt(multi_, CURLMOPT_MAX_HOST_CONNECTIONS, static_cast<long>(concurrency));
        curl_multi_setopt(multi_, CURLMOPT_MAXCONNECTS, static_cast<long>(concurrency));
        curl_multi_setopt(multi_, CURLMOPT_PIPELINING, CURLPIPE_NOTHING);
        headers_ = curl_slist_append(headers_, "Expect:"); // no 100-continue round trip
        if (!s_.body.empty())
            headers_ = curl_slist_append(headers_, ("Content-Type: " + s_.content_type).c_str());
        for (auto& sl : slots_)
            sl.easy = curl_easy_init();
    }
    ~runner()
    {
        for (auto& sl : slots_) {
            if (sl.busy)
                curl_multi_remove_handle(multi_, sl.easy);
            if (sl.mime)
                curl_mime_free(sl.mime);
            curl_easy_cleanup(sl.easy);
        }
        curl_multi_cleanup(multi_);
        curl_slist_free_all(headers_);
    }

    /// Runs until `count` requests completed or `deadline` passed (transfers in flight at
    /// the deadline are finished, up to a grace period). Latencies in ns go to `lat` when set.
    void phase(std::uint64_t count, bench::clock::time_point deadline, std::vector<std::int64_t>* lat)
    {
        std::uint64_t started = 0;
        ok_ = 0;
        errors_ = 0;
        auto start_one = [&](slot& sl) {
            if (started >= count || bench::clock::now() >= deadline)
                return;
            ++started;
            prepare(sl);
            sl.started = bench::clock::now();
            sl.busy = true;
            curl_multi_add_handle(multi_, sl.easy);
        };
        for (auto& sl : slots_)
            start_one(sl);
        const auto hard_deadline = deadline + std::chrono::seconds(30);
        int running = 1;
        while (busy() != 0) {
            curl_multi_perform(multi_, &running);
            int queued = 0;
            while (CURLMsg* m = curl_multi_info_read(multi_, &queued)) {
                if (m->msg != CURLMSG_DONE)
                    continue;
                slot* sl = nullptr;
                curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, reinterpret_cast<char**>(&sl));
                const CURLcode rc = m->data.result;
                curl_multi_remove_handle(multi_, sl->easy);
                sl->busy = false;
                long status = 0, conns = 0;
                curl_easy_getinfo(sl->easy, CURLINFO_RESPONSE_CODE, &status);
                curl_easy_getinfo(sl->easy, CURLINFO_NUM_CONNECTS, &conns);
                connects_ += static_cast<std::uint64_t>(conns);
                bool good = rc == CURLE_OK && status == 200;
                if (good && s_.parse) {
                    boost::system::error_code ec;
                    auto v = boost::json::parse(sl->reply, ec);
                    good = !ec && v.is_object();
                }
                if (good) {
                    ++ok_;
                    if (lat)
                        lat->push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                           bench::clock::now() - sl->started).count());
                } else {
                    ++errors_;
                    if (errors_ <= 3)
                        std::fprintf(stderr, "peer_curl_multi: request failed: %s (HTTP %ld)\n",
                                     curl_easy_strerror(rc), status);
                }
                start_one(*sl);
            }
            if (bench::clock::now() > hard_deadline) {
                std::fprintf(stderr, "peer_curl_multi: transfers still running after the grace period\n");
                break;
            }
            if (busy() != 0)
                curl_multi_poll(multi_, nullptr, 0, 100, nullptr);
        }
    }

    std::uint64_t ok() const { return ok_; }
    std::uint64_t errors() const { return errors_; }
    std::uint64_t connects() const { return connects_; }

private:
    std::size_t busy() const
    {
        std::size_t n = 0;
        for (const auto& sl : slots_)
            n += sl.busy ? 1 : 0;
        return n;
    }

    void prepare(slot& sl)
    {
        CURL* h = sl.easy;
        sl.reply.clear();
        curl_easy_setopt(h, CURLOPT_URL, s_.url.c_str());
        curl_easy_setopt(h, CURLOPT_PRIVATE, &sl);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &sl.reply);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers_);
        curl_easy_setopt(h, CURLOPT_CAINFO, s_.cacert.c_str());
        curl_easy_setopt(h, CURLOPT_CAPATH, nullptr);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
        curl_easy_setopt(h, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
        if (s_.no_reuse) {
            // A new connection and a full handshake per request, as a fresh carcheck
            // client per request has.
            curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, 1L);
            curl_easy_setopt(h, CURLOPT_FORBID_REUSE, 1L);
            curl_easy_setopt(h, CURLOPT_SSL_SESSIONID_CACHE, 0L);
        }
        if (!s_.body.empty()) {
            curl_easy_setopt(h, CURLOPT_POSTFIELDS, s_.body.data());
            curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(s_.body.size()));
        } else {
            if (sl.mime)
                curl_mime_free(sl.mime);
            sl.mime = curl_mime_init(h);
            curl_mimepart* part = curl_mime_addpart(sl.mime);
            curl_mime_name(part, "image");
            curl_mime_filedata(part, s_.file.c_str());
            curl_mime_type(part, "image/jpeg");
            curl_easy_setopt(h, CURLOPT_MIMEPOST, sl.mime);
        }
    }

    const settings& s_;
    std::vector<slot> slots_;
    CURLM* multi_ = nullptr;
    curl_slist* headers_ = nullptr;
    std::uint64_t ok_ = 0, errors_ = 0, connects_ = 0;
};

} // namespace

int main(int argc, char** argv)
try {
    bench::args a(argc, argv, {"no-reuse", "no-parse"});
    a.allow({"url", "cacert", "file", "concurrency", "requests", "duration", "warmup", "body", "content-type"});
    settings s;
    s.url = a.required("url");
    s.cacert = a.required("cacert");
    s.file = a.str("file");
    s.no_reuse = a.flag("no-reuse");
    s.parse = !a.flag("no-parse");
    if (a.has("body")) {
        s.body = bench::read_file(a.str("body"));
        s.content_type = a.required("content-type");
    } else if (s.file.empty()) {
        throw std::runtime_error("--file or --body is required");
    }
    const std::size_t concurrency = a.num("concurrency", 8);
    const std::uint64_t requests = a.num("requests", 10000);
    const double duration = a.real("duration", 10);
    const std::uint64_t warmup = a.num("warmup", s.no_reuse ? 0 : concurrency * 2);
    if (concurrency == 0 || requests == 0)
        throw std::runtime_error("--concurrency and --requests must be positive");

    curl_global_init(CURL_GLOBAL_DEFAULT);
    std::vector<std::int64_t> lat;
    lat.reserve(requests);
    std::uint64_t ok = 0, errors = 0, connects = 0;
    double wall = 0, cpu = 0;
    std::uint64_t allocations = 0;
    {
        runner r(s, concurrency);
        if (warmup > 0)
            r.phase(warmup, bench::clock::now() + std::chrono::seconds(10), nullptr);
        const std::uint64_t warm_connects = r.connects();
        const double cpu0 = bench::cpu_seconds();
        const std::uint64_t allocations0 = bench::allocations();
        const auto t0 = bench::clock::now();
        r.phase(requests, t0 + std::chrono::duration_cast<bench::clock::duration>(std::chrono::duration<double>(duration)), &lat);
        wall = bench::seconds_since(t0);
        cpu = bench::cpu_seconds() - cpu0;
        allocations = bench::allocations() - allocations0;
        ok = r.ok();
        errors = r.errors();
        connects = r.connects() - warm_connects;
    }
    curl_global_cleanup();

    const double p50 = bench::percentile_ms(lat, 50), p99 = bench::percentile_ms(lat, 99);
    bench::json_line()
        .str("tool", "curl_multi")
        .str("mode", s.body.empty() ? "multipart" : "multipart_prebuilt")
        .boolean("reuse", !s.no_reuse)
        .integer("concurrency", concurrency)
        .integer("threads", 1)
        .integer("requests", ok)
        .integer("errors", errors)
        .num("seconds", wall)
        .num("rps", wall > 0 ? static_cast<double>(ok) / wall : 0)
        .num("p50_ms", p50)
        .num("p99_ms", p99)
        .num("cpu_us_per_req", ok ? cpu * 1e6 / static_cast<double>(ok) : 0)
        .num("allocs_per_req", ok ? static_cast<double>(allocations) / static_cast<double>(ok) : 0)
        .integer("peak_rss_kib", static_cast<std::uint64_t>(bench::peak_rss_kib()))
        .integer("connects", connects)
        .raw("handshakes_full", "null")
        .raw("handshakes_resumed", "null")
        .str("curl_version", curl_version_info(CURLVERSION_NOW)->version)
        .print();
    return errors == 0 ? 0 : 1;
} catch (const std::exception& e) {
    std::fprintf(stderr, "peer_curl_multi: %s\n", e.what());
    return 2;
}
