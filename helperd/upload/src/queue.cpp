// The durable upload queue. On disk, under the spool directory:
//   lock                       flock'd by the one process that owns the queue
//   state                      "acked_through N": replaced atomically (jit/durable_file.hpp); fsync'd
//                              (file and dir) before any spool file it covers is deleted
//   spool-<first seq>.jsonl    append-only, one event JSON per line, fdatasync'd per event or
//                              per group commit (sync_interval_ms); only synced events are sent
// A segment is deleted only after `state` says all its events are acknowledged.
#include "jit/upload.hpp"

#include <jit/durable_file.hpp>
#include <jit/set_aside.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json/json.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <deque>
#include <exception>
#include <tuple>

namespace jit::upload {
namespace {

std::string errno_text(int err) { return std::strerror(err); }

Error io_error(const std::string& what, const std::string& path, int err) {
    return make_error("upload.io", what + " " + path + ": " + errno_text(err));
}

bool write_all(int fd, std::string_view data) {
    while (!data.empty()) {
        ssize_t n = ::write(fd, data.data(), data.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

bool read_file(const std::string& path, std::string& out, int& err) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        err = errno;
        return false;
    }
    out.clear();
    char buf[65536];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) continue;
            err = errno;
            ::close(fd);
            return false;
        }
        if (n == 0) break;
        out.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    return true;
}

off_t file_size(int fd) {
    struct stat st {};
    return ::fstat(fd, &st) == 0 ? st.st_size : -1;
}

std::optional<std::uint64_t> parse_u64(std::string_view s) {
    std::uint64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size() || s.empty()) return std::nullopt;
    return v;
}

std::optional<std::uint64_t> seq_of_line(std::string_view line) {
    Json::CharReaderBuilder b;
    std::unique_ptr<Json::CharReader> reader(b.newCharReader());
    Json::Value v;
    std::string errs;
    if (!reader->parse(line.data(), line.data() + line.size(), &v, &errs)) return std::nullopt;
    if (!v.isObject() || !v["seq"].isUInt64() || !v["type"].isString()) return std::nullopt;
    // Beyond 2^53 a seq is no longer exact in JSON, and next_seq must never wrap.
    if (v["seq"].asUInt64() > (std::uint64_t(1) << 53)) return std::nullopt;
    return v["seq"].asUInt64();
}

struct Segment {
    std::string path;
    std::uint64_t first_seq = 0;
    std::uint64_t last_seq = 0;  // 0 while empty
    std::size_t count = 0;
    off_t bytes = -1;            // size of the append target as we wrote it (-1: unknown)
};

constexpr std::string_view kSegPrefix = "spool-";
constexpr std::string_view kSegSuffix = ".jsonl";

}  // namespace

struct UploadQueue::Impl {
    std::string dir;
    int lock_fd = -1;
    EventTransport* transport = nullptr;
    audit::Sink* local = nullptr;
    UploadOptions opt;
    ClockMs clock;
    std::mt19937_64 rng;

    std::deque<QueuedEvent> pending;  // unacknowledged, seq ascending
    std::deque<Segment> segments;     // oldest first; back() is the append target when append_fd >= 0
    int append_fd = -1;
    std::uint64_t acked_through = 0;
    std::uint64_t state_durable_through = 0;  // the acked_through that `state` holds on disk for sure
    std::uint64_t next_seq = 1;
    // Group commit: every seq <= synced_through is on disk; the rest are written
    // (page cache) and get their fdatasync at sync_due_ms.
    std::uint64_t synced_through = 0;
    bool dirty = false;
    std::int64_t sync_due_ms = 0;
    // An ack not yet written to `state` (saved at ack_due_ms, one interval
    // after the first unsaved ack, or before a spool file goes, or at a clean
    // shutdown). Losing it in a crash only re-sends events the authority has.
    bool ack_dirty = false;
    std::int64_t ack_due_ms = 0;

    bool in_flight = false;
    bool in_pump = false;
    bool in_drop = false;
    std::uint32_t failures = 0;
    std::int64_t next_attempt_ms = 0;
    std::string last_error;
    std::uint64_t dropped_total = 0;
    std::function<void(std::optional<std::int64_t>)> wakeup_cb;
    std::shared_ptr<Impl*> alive = std::make_shared<Impl*>(this);

    ~Impl() {
        try {
            if (ack_dirty) (void)write_state(false);  // clean shutdown: the last ack is not lost
        } catch (...) {
        }
        if (append_fd >= 0) {
            if (dirty) (void)::fdatasync(append_fd);  // clean shutdown: nothing written stays unsynced
            ::close(append_fd);
        }
        if (lock_fd >= 0) ::close(lock_fd);  // releases the flock
    }

    std::string path(std::string_view name) const { return dir + "/" + std::string(name); }

    void alert(std::string alert_kind, std::string message, audit::Fields extra) {
        audit::Event e{audit::EventType::SecurityAlert, std::move(message), {}};
        e.add(std::string(audit::field::kAlert), std::move(alert_kind));
        e.add(extra);
        report(e);
    }
    void report(const audit::Event& e) {
        local->emit(e);
        (void)append(e);  // best effort: the local sink already has it
    }
    std::int64_t wall_now() const { return opt.wall_seconds ? opt.wall_seconds() : clock() / 1000; }

    Status sync_dir() {
        if (!opt.fsync) return Ok{};
        if (auto st = durable::sync_directory(dir); !st) return make_error("upload.io", st.error().message);
        return Ok{};
    }

    // Replaces `state` atomically (tmp + rename). Durable (fsync file and
    // dir) only when asked: a lost or torn ack only re-sends events, which the
    // authority ignores; but a spool file may be deleted only once the ack
    // that covers it is on disk, or its seqs would be handed out again after
    // a power cut (see delete_acked_segments).
    Status write_state(bool make_durable) {
        const std::string content = "acked_through " + std::to_string(acked_through) + "\n";
        make_durable = make_durable && opt.fsync;
        if (auto st = durable::write_file_durably(path("state"), content, {.sync = make_durable}); !st)
            return make_error("upload.io", st.error().message);
        ack_dirty = false;
        if (make_durable) state_durable_through = acked_through;
        return Ok{};
    }

    // Deletes segments whose events are all acknowledged; `state` must already
    // say so (it is made durable here first if it is not yet).
    void delete_acked_segments() {
        while (!segments.empty()) {
            Segment& s = segments.front();
            bool is_append = append_fd >= 0 && segments.size() == 1;
            if (s.count > 0 && s.last_seq > acked_through) break;
            if (s.count == 0 && is_append) break;
            if (s.count > 0 && ((s.last_seq > state_durable_through && opt.fsync) || ack_dirty)) {
                if (auto st = write_state(true); !st) {
                    last_error = "keeping acknowledged spool files: " + st.error().message;
                    break;  // tried again at the next ack
                }
            }
            if (is_append) {
                ::close(append_fd);
                append_fd = -1;
            }
            ::unlink(s.path.c_str());
            segments.pop_front();
        }
    }

    // fdatasyncs the append target if events were written since the last sync.
    Status sync_now() {
        if (!dirty) return Ok{};
        dirty = false;
        // Whatever happens, these events are written and will be sent: after a
        // failed fdatasync there is nothing better to do with them (the journal has them too).
        synced_through = next_seq - 1;
        if (append_fd >= 0 && ::fdatasync(append_fd) != 0) return io_error("fdatasync", segments.back().path, errno);
        return Ok{};
    }

    void sync_reporting() {
        if (auto st = sync_now(); !st)
            local->emit(audit::Event{audit::EventType::SecurityAlert,
                                     "audit upload spool could not be synced to disk: " + st.error().message,
                                     {}}
                            .add(std::string(audit::field::kAlert), "upload.spool_failed")
                            .add(std::string(audit::field::kPath), dir));
    }

    Status open_segment() {
        if (auto st = sync_now(); !st) return st;  // the old segment's tail first
        char name[64];
        std::snprintf(name, sizeof name, "spool-%020llu.jsonl", static_cast<unsigned long long>(next_seq));
        Segment s{path(name), next_seq, 0, 0};
        int fd = ::open(s.path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0) return io_error("create", s.path, errno);
        if (append_fd >= 0) ::close(append_fd);
        append_fd = fd;
        s.bytes = file_size(fd);
        segments.push_back(std::move(s));
        return sync_dir();
    }

    // Spools one event without the capacity check.
    Status append(const audit::Event& event) {
        if (append_fd < 0 || segments.back().count >= opt.segment_max_events) {
            if (auto st = open_segment(); !st) return st;
        }
        Segment& seg = segments.back();
        QueuedEvent q{next_seq, event_json(event, next_seq, wall_now())};
        std::string line = q.json + "\n";
        const off_t before = seg.bytes >= 0 ? seg.bytes : file_size(append_fd);
        const bool sync_each = opt.fsync && opt.sync_interval_ms <= 0;
        if (!write_all(append_fd, line) || (sync_each && ::fdatasync(append_fd) != 0)) {
            int err = errno;
            if (before >= 0 && ::ftruncate(append_fd, before) != 0) {
                // The partial line is detected and dropped as torn when the spool is reopened.
            }
            seg.bytes = file_size(append_fd);
            return io_error("append to", seg.path, err);
        }
        if (seg.bytes >= 0) seg.bytes += off_t(line.size());
        seg.last_seq = q.seq;
        ++seg.count;
        ++next_seq;
        pending.push_back(std::move(q));
        if (opt.fsync && !sync_each) {
            if (!dirty) sync_due_ms = clock() + opt.sync_interval_ms;
            dirty = true;
        } else {
            synced_through = next_seq - 1;
        }
        return Ok{};
    }

    Status drop_oldest_if_full() {
        // in_drop: a `local` sink that (wrongly) feeds back into this queue must not recurse.
        if (in_drop || pending.size() < opt.max_events) return Ok{};
        in_drop = true;
        struct Reset {
            bool& flag;
            ~Reset() { flag = false; }
        } reset{in_drop};
        std::size_t chunk = opt.drop_chunk ? opt.drop_chunk : std::max<std::size_t>(1, opt.max_events / 10);
        chunk = std::min(chunk, pending.size());
        std::uint64_t from = pending.front().seq;
        std::uint64_t to = pending[chunk - 1].seq;
        // Loud first: the operator learns of the loss before it happens.
        audit::Event e{audit::EventType::SecurityAlert,
                       "audit upload queue full (" + std::to_string(pending.size()) +
                           " unacknowledged events): dropping the oldest " + std::to_string(chunk) + " (seq " +
                           std::to_string(from) + ".." + std::to_string(to) +
                           ") without sending them to the authority",
                       {}};
        e.add(std::string(audit::field::kAlert), "upload.queue_full")
            .add(std::string(audit::field::kCount), static_cast<std::int64_t>(chunk))
            .add(std::string(audit::field::kReason),
                 last_error.empty() ? std::string("authority not acknowledging") : last_error);
        local->emit(e);
        std::uint64_t old = acked_through;
        acked_through = std::max(acked_through, to);
        if (auto st = write_state(false); !st) {
            acked_through = old;
            return st;
        }
        while (!pending.empty() && pending.front().seq <= acked_through) pending.pop_front();
        dropped_total += chunk;
        delete_acked_segments();
        (void)append(e);  // the authority learns of the gap too
        return Ok{};
    }

    void notify() {
        if (wakeup_cb) wakeup_cb(next_wakeup());
    }

    // Without a saved ack the batch is re-sent after a restart; the authority de-duplicates.
    void save_ack() {
        if (auto st = write_state(false); !st) {
            last_error = "acknowledged, but saving the ack failed: " + st.error().message;
            ack_dirty = true;  // tried again an interval later, not at every turn
            ack_due_ms = clock() + std::max<std::int64_t>(opt.sync_interval_ms, 1000);
        }
    }

    bool sendable() const { return !pending.empty() && pending.front().seq <= synced_through; }

    std::optional<std::int64_t> next_wakeup() const {
        std::optional<std::int64_t> at;
        if (dirty) at = sync_due_ms;
        if (ack_dirty) at = at ? std::min(*at, ack_due_ms) : ack_due_ms;
        if (!in_flight && sendable()) at = at ? std::min(*at, next_attempt_ms) : next_attempt_ms;
        return at;
    }

    void on_result(const SendResult& r, std::uint64_t last_seq) {
        in_flight = false;
        if (r.acknowledged) {
            if (last_seq > acked_through) {
                acked_through = last_seq;
                last_error.clear();
                if (opt.sync_interval_ms <= 0) {
                    save_ack();
                } else if (!ack_dirty) {
                    ack_dirty = true;
                    ack_due_ms = clock() + opt.sync_interval_ms;
                }
            }
            while (!pending.empty() && pending.front().seq <= acked_through) pending.pop_front();
            delete_acked_segments();
            failures = 0;
            next_attempt_ms = 0;
        } else {
            ++failures;
            std::int64_t delay = opt.backoff_initial_ms;
            for (std::uint32_t i = 1; i < failures && delay < opt.backoff_max_ms; ++i) delay *= 2;
            delay = std::min(delay, opt.backoff_max_ms);
            std::uniform_int_distribution<std::int64_t> jitter(delay / 2, delay);
            next_attempt_ms = clock() + jitter(rng);
            last_error = r.http_status ? "HTTP " + std::to_string(r.http_status) + (r.error.empty() ? "" : ": " + r.error)
                                       : (r.error.empty() ? std::string("send failed") : r.error);
        }
    }

    void pump() {
        if (in_pump) return;
        in_pump = true;
        if (dirty && clock() >= sync_due_ms) sync_reporting();
        if (ack_dirty && clock() >= ack_due_ms) save_ack();
        while (!in_flight && sendable() && clock() >= next_attempt_ms) {
            Batch batch;
            std::size_t bytes = 0;
            for (const auto& q : pending) {
                if (q.seq > synced_through) break;  // written, not yet on disk: next group commit
                if (batch.events.size() >= opt.batch_max_events) break;
                if (!batch.events.empty() && bytes + q.json.size() + 1 > opt.batch_max_bytes) break;
                bytes += q.json.size() + 1;
                batch.events.push_back(q);
            }
            in_flight = true;
            std::uint64_t last = batch.last_seq();
            std::weak_ptr<Impl*> weak = alive;
            auto done = [weak, last](SendResult r) {
                auto self = weak.lock();
                if (!self) return;  // the queue is gone: the batch is still spooled and is re-sent on reopen
                Impl* impl = *self;
                if (!impl->in_flight) return;  // done called twice: ignore
                impl->on_result(r, last);
                if (!impl->in_pump) impl->pump();
            };
            try {
                transport->send(batch, done);
            } catch (const std::exception& e) {
                // A transport that throws instead of answering must not wedge the queue.
                if (in_flight) on_result(SendResult{false, 0, std::string("transport: ") + e.what()}, last);
            }
        }
        in_pump = false;
        notify();
    }

    // Reads what a predecessor left. A file that cannot be used is set aside
    // (docs/audit.md) and the queue starts without it: never a reason for
    // jit-helperd not to start. `deferred`: alerts to report once next_seq is known.
    Status recover(std::vector<audit::Event> deferred) {
        // state
        durable::remove_temp_files(path("state"));  // a crash between writing and renaming
        const std::string re_send = "re-sending every spooled event (the authority ignores duplicates)";
        std::string content;
        int err = 0;
        if (read_file(path("state"), content, err)) {
            std::string_view s(content);
            std::optional<std::uint64_t> v;
            if (s.starts_with("acked_through ") && s.ends_with("\n")) v = parse_u64(s.substr(14, s.size() - 15));
            if (v) acked_through = *v;
            else deferred.push_back(audit::set_aside(path("state"), "not 'acked_through N'", re_send, wall_now()));
        } else if (err != ENOENT) {
            deferred.push_back(audit::set_aside(path("state"), "cannot read: " + errno_text(err), re_send, wall_now()));
        }

        // segments
        std::vector<std::pair<std::uint64_t, std::string>> files;
        DIR* d = ::opendir(dir.c_str());
        if (!d) return io_error("list", dir, errno);
        while (dirent* ent = ::readdir(d)) {
            std::string_view n(ent->d_name);
            if (!n.starts_with(kSegPrefix) || !n.ends_with(kSegSuffix)) continue;
            auto first = parse_u64(n.substr(kSegPrefix.size(), n.size() - kSegPrefix.size() - kSegSuffix.size()));
            if (first) files.emplace_back(*first, std::string(n));
        }
        ::closedir(d);
        std::sort(files.begin(), files.end());

        std::uint64_t max_seq = acked_through;
        std::size_t corrupt = 0;
        for (const auto& [first, name] : files) {
            Segment seg{path(name), first, 0, 0};
            if (!read_file(seg.path, content, err)) {
                deferred.push_back(audit::set_aside(seg.path, "cannot read: " + errno_text(err),
                                                    "its events are not sent to the authority (they are in the journal)",
                                                    wall_now()));
                continue;
            }
            const std::size_t corrupt_before = corrupt;
            std::size_t torn = 0;
            std::size_t pos = 0;
            while (pos < content.size()) {
                std::size_t nl = content.find('\n', pos);
                if (nl == std::string::npos) {
                    // A torn final write (crash or power loss mid-append): cut it off.
                    if (::truncate(seg.path.c_str(), static_cast<off_t>(pos)) != 0)
                        return io_error("truncate", seg.path, errno);
                    ++corrupt;
                    torn = 1;
                    break;
                }
                std::string_view line(content.data() + pos, nl - pos);
                pos = nl + 1;
                auto seq = seq_of_line(line);
                if (!seq || *seq <= max_seq) {
                    if (!seq || *seq > acked_through) ++corrupt;
                    if (seq && *seq <= acked_through) {
                        seg.last_seq = std::max(seg.last_seq, *seq);
                        ++seg.count;
                    }
                    continue;
                }
                max_seq = *seq;
                seg.last_seq = *seq;
                ++seg.count;
                if (*seq > acked_through) pending.push_back(QueuedEvent{*seq, std::string(line)});
            }
            // Unreadable records (not a torn last line, which a crash leaves):
            // a copy of the file is kept for forensics; its readable events go on.
            if (corrupt - corrupt_before > torn)
                deferred.push_back(audit::set_aside(seg.path, "unreadable records",
                                                    "its readable events are sent; the file stays until they are",
                                                    wall_now(), /*keep_original=*/true));
            segments.push_back(std::move(seg));
        }
        next_seq = max_seq + 1;
        // What a crashed predecessor wrote is in the page cache at least: sync it
        // once now, so that it may be sent.
        if (opt.fsync && !segments.empty()) {
            int fd = ::open(segments.back().path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
            if (fd >= 0) {
                (void)::fdatasync(fd);
                ::close(fd);
            }
        }
        synced_through = max_seq;
        delete_acked_segments();
        // Empty leftovers (crash right after creating a segment) are noise: remove them.
        for (auto it = segments.begin(); it != segments.end();) {
            if (it->count == 0) {
                ::unlink(it->path.c_str());
                it = segments.erase(it);
            } else {
                ++it;
            }
        }
        if (corrupt)
            deferred.push_back(
                audit::Event{audit::EventType::SecurityAlert,
                             std::to_string(corrupt) + " unreadable record(s) in the audit upload spool " + dir +
                                 " were skipped; those events stay in the local journal but never reach the authority",
                             {}}
                    .add(std::string(audit::field::kAlert), "upload.spool_corrupt")
                    .add(std::string(audit::field::kCount), std::to_string(corrupt))
                    .add(std::string(audit::field::kPath), dir));
        // Only now that next_seq is known may the alerts themselves be spooled.
        for (const auto& e : deferred) report(e);
        return Ok{};
    }
};

Result<std::unique_ptr<UploadQueue>> UploadQueue::open(std::string dir, EventTransport& transport, audit::Sink& local,
                                                       UploadOptions options, ClockMs clock) {
    if (options.max_events == 0 || options.batch_max_events == 0 || options.segment_max_events == 0 ||
        options.backoff_initial_ms <= 0 || options.backoff_max_ms < options.backoff_initial_ms)
        return make_error("upload.options", "upload queue options out of range (sizes must be > 0, backoff "
                                            "initial > 0 and <= max)");
    while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
    auto impl = std::make_unique<Impl>();
    impl->dir = dir;
    impl->transport = &transport;
    impl->local = &local;
    impl->opt = options;
    impl->clock = std::move(clock);
    impl->rng.seed(options.rng_seed ? options.rng_seed : std::random_device{}());
    std::vector<audit::Event> deferred;
    struct stat st {};
    // Something else where the spool should be (a file, a symlink, a directory
    // of another owner): set aside, and a new spool is made.
    if (::lstat(dir.c_str(), &st) == 0 && (!S_ISDIR(st.st_mode) || st.st_uid != ::geteuid())) {
        deferred.push_back(audit::set_aside(dir,
                                            !S_ISDIR(st.st_mode) ? "not a directory"
                                                                 : "owned by uid " + std::to_string(st.st_uid) + ", not by us",
                                            "a new, empty spool is used: seq continues from 1 (the authority may "
                                            "ignore seqs it has seen; the events are in the journal)",
                                            impl->wall_now()));
    }
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return io_error("create", dir, errno);
    if (::lstat(dir.c_str(), &st) != 0) return io_error("stat", dir, errno);
    if (!S_ISDIR(st.st_mode)) return make_error("upload.dir", dir + " is not a directory");
    if (st.st_uid != ::geteuid())
        return make_error("upload.dir", dir + " is owned by uid " + std::to_string(st.st_uid) + ", not by us");
    if ((st.st_mode & 077) != 0 && ::chmod(dir.c_str(), 0700) != 0) return io_error("chmod", dir, errno);

    std::string lock = impl->path("lock");
    impl->lock_fd = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (impl->lock_fd < 0) return io_error("open", lock, errno);
    if (::flock(impl->lock_fd, LOCK_EX | LOCK_NB) != 0)
        return make_error("upload.locked", "the audit upload spool " + dir + " is in use by another process");
    if (auto rs = impl->recover(std::move(deferred)); !rs) return rs.error();
    return std::unique_ptr<UploadQueue>(new UploadQueue(std::move(impl)));
}

UploadQueue::UploadQueue(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
UploadQueue::~UploadQueue() = default;

Status UploadQueue::enqueue(const audit::Event& event) {
    if (auto st = impl_->drop_oldest_if_full(); !st) return st;
    auto st = impl_->append(event);
    impl_->pump();
    return st;
}

void UploadQueue::pump() { impl_->pump(); }

void UploadQueue::sync() {
    impl_->sync_reporting();
    impl_->pump();
}

std::optional<std::int64_t> UploadQueue::next_wakeup_ms() const { return impl_->next_wakeup(); }

void UploadQueue::set_wakeup_callback(std::function<void(std::optional<std::int64_t>)> cb) {
    impl_->wakeup_cb = std::move(cb);
}

UploadStats UploadQueue::stats() const {
    UploadStats s;
    s.next_seq = impl_->next_seq;
    s.acked_through = impl_->acked_through;
    s.pending = impl_->pending.size();
    s.unsynced = impl_->next_seq - 1 - std::min(impl_->next_seq - 1, impl_->synced_through);
    s.in_flight = impl_->in_flight;
    s.dropped_total = impl_->dropped_total;
    s.consecutive_failures = impl_->failures;
    s.next_attempt_ms = impl_->next_attempt_ms;
    s.last_error = impl_->last_error;
    return s;
}

}  // namespace jit::upload
