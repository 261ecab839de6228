// Journal and stderr sinks, and the choice between them.
#include "jit/audit.hpp"

#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#define SD_JOURNAL_SUPPRESS_LOCATION 1
#include <systemd/sd-journal.h>

namespace jit::audit {
namespace {

bool reserved(std::string_view name) {
    return name == "MESSAGE" || name == "MESSAGE_ID" || name == "PRIORITY" || name == field::kEvent ||
           name == "SYSLOG_IDENTIFIER";
}

void write_all(int fd, std::string_view data) {
    while (!data.empty()) {
        ssize_t n = ::write(fd, data.data(), data.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            return;  // nowhere left to report to
        }
        data.remove_prefix(static_cast<std::size_t>(n));
    }
}

}  // namespace

JournalSink::JournalSink(std::string identifier, std::unique_ptr<Sink> fallback, std::string socket_path)
    : identifier_(std::move(identifier)), fallback_(std::move(fallback)), socket_path_(std::move(socket_path)) {
    if (!fallback_) fallback_ = std::make_unique<StderrSink>(identifier_);
}

void JournalSink::emit(const Event& event) noexcept {
    int rc = 0;
    try {
        // sd_journal_sendv() reports success when journald's socket does not
        // exist ("fail silently"): check, so that an event is never dropped.
        struct stat st {};
        if (::stat(socket_path_.c_str(), &st) != 0 || !S_ISSOCK(st.st_mode)) {
            Event copy = event;
            copy.fields.emplace_back(std::string(field::kError), "journal:no socket at " + socket_path_);
            fallback_->emit(copy);
            return;
        }
        std::vector<std::string> items;
        items.reserve(event.fields.size() + 5);
        items.push_back("MESSAGE=" + sanitize_value(event.message));
        items.push_back("MESSAGE_ID=" + std::string(message_id(event.type)));
        items.push_back("PRIORITY=" + std::to_string(priority(event.type)));
        items.push_back(std::string(field::kEvent) + "=" + std::string(event_name(event.type)));
        items.push_back("SYSLOG_IDENTIFIER=" + identifier_);
        for (const auto& [k, v] : event.fields) {
            std::string name = valid_field_name(k) ? k : sanitize_field_name(k);
            if (reserved(name)) continue;
            items.push_back(name + "=" + sanitize_value(v));
        }
        std::vector<struct iovec> iov(items.size());
        for (std::size_t i = 0; i < items.size(); ++i) {
            iov[i].iov_base = items[i].data();
            iov[i].iov_len = items[i].size();
        }
        rc = sd_journal_sendv(iov.data(), static_cast<int>(iov.size()));
        if (rc >= 0) return;
    } catch (...) {
        rc = -ENOMEM;
    }
    try {
        Event copy = event;
        copy.fields.emplace_back(std::string(field::kError), std::string("journal:") + std::strerror(-rc));
        fallback_->emit(copy);
    } catch (...) {
        fallback_->emit(event);
    }
}

StderrSink::StderrSink(std::string identifier, int fd) : identifier_(std::move(identifier)), fd_(fd) {}

void StderrSink::emit(const Event& event) noexcept {
    try {
        std::string line = identifier_ + ": " + format_line(event) + "\n";
        write_all(fd_, line);
    } catch (...) {
        write_all(fd_, "jitlogin: audit event lost: out of memory formatting ");
        write_all(fd_, event_name(event.type));
        write_all(fd_, "\n");
    }
}

std::unique_ptr<Sink> make_default_sink(std::string identifier, std::string_view journal_socket) {
    std::unique_ptr<Sink> plain = std::make_unique<StderrSink>(identifier);
    struct stat st {};
    std::string path(journal_socket);
    if (::stat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode))
        return std::make_unique<JournalSink>(std::move(identifier), std::move(plain), path);
    return plain;
}

}  // namespace jit::audit
