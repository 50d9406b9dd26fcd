/* cleanup.c - the signal-time cleanup registry (see cleanup.h). Slots are claimed with compare-and-swap and
 * published after their path is written; the handler only reads published slots of this process. Folders are
 * emptied with open/getdents64/unlinkat, which are async-signal-safe (opendir is not: it allocates). */
#define _GNU_SOURCE
#include "cleanup.h"
#include "process.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { SLOT_FREE, SLOT_FILLING, SLOT_LIVE };
enum { KIND_FILE, KIND_DIR, KIND_CHILD, KIND_PREFIX };

#define CLEANUP_SLOTS 48
#define CLEANUP_PATH 4096
#define CLEANUP_DEPTH 6 /* folder levels removed below a registered folder */

struct slot {
    int state;
    int kind;
    pid_t owner; /* the process that registered it */
    pid_t child;
    char path[CLEANUP_PATH];
    char prefix[256]; /* KIND_PREFIX: names in the folder `path` starting with this */
};

static struct slot slots[CLEANUP_SLOTS];
static const int cleanup_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};

static int add(int kind, const char *path, pid_t child, const char *prefix)
{
    if ((path && strlen(path) >= CLEANUP_PATH) || (prefix && (!*prefix || strlen(prefix) >= 256)))
        return 0;
    for (int s = 0; s < CLEANUP_SLOTS; s++) {
        int expected = SLOT_FREE;
        if (!__atomic_compare_exchange_n(&slots[s].state, &expected, SLOT_FILLING, 0, __ATOMIC_SEQ_CST,
                                         __ATOMIC_SEQ_CST))
            continue;
        slots[s].kind = kind;
        slots[s].owner = getpid();
        slots[s].child = child;
        if (path)
            strcpy(slots[s].path, path);
        if (prefix)
            strcpy(slots[s].prefix, prefix);
        __atomic_store_n(&slots[s].state, SLOT_LIVE, __ATOMIC_SEQ_CST);
        return s + 1;
    }
    return 0;
}

int tq_cleanup_add_file(const char *path)
{
    return add(KIND_FILE, path, 0, NULL);
}

int tq_cleanup_add_dir(const char *path)
{
    return add(KIND_DIR, path, 0, NULL);
}

int tq_cleanup_add_child(pid_t pid)
{
    return pid > 0 ? add(KIND_CHILD, NULL, pid, NULL) : 0;
}

int tq_cleanup_add_prefix(const char *dir, const char *prefix)
{
    return add(KIND_PREFIX, dir, 0, prefix);
}

void tq_cleanup_forget(int handle)
{
    if (handle > 0 && handle <= CLEANUP_SLOTS)
        __atomic_store_n(&slots[handle - 1].state, SLOT_FREE, __ATOMIC_SEQ_CST);
}

static void signal_set(sigset_t *set)
{
    sigemptyset(set);
    for (size_t i = 0; i < sizeof cleanup_signals / sizeof cleanup_signals[0]; i++)
        sigaddset(set, cleanup_signals[i]);
}

void tq_cleanup_hold(sigset_t *old)
{
    sigset_t set;
    signal_set(&set);
    sigprocmask(SIG_BLOCK, &set, old);
}

void tq_cleanup_release(const sigset_t *old)
{
    sigprocmask(SIG_SETMASK, old, NULL);
}

/* The kernel's getdents64 record. */
struct dirent64_raw {
    unsigned long long d_ino;
    long long d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

/* Unlink the files in the folder open as dfd (closed here) whose names start with prefix. */
static void remove_prefixed(int dfd, const char *prefix)
{
    char buf[4096] __attribute__((aligned(8)));
    size_t plen = strlen(prefix);
    for (int removed = 1; removed;) {
        removed = 0;
        lseek(dfd, 0, SEEK_SET);
        long n;
        while ((n = syscall(SYS_getdents64, dfd, buf, sizeof buf)) > 0)
            for (long off = 0; off < n;) {
                struct dirent64_raw *d = (struct dirent64_raw *)(buf + off);
                off += d->d_reclen;
                if (!strncmp(d->d_name, prefix, plen) && unlinkat(dfd, d->d_name, 0) == 0)
                    removed = 1;
            }
    }
    close(dfd);
}

/* Remove everything inside the folder open as dfd (closed here), depth levels of subfolders at most. */
static void empty_dir(int dfd, int depth)
{
    char buf[4096] __attribute__((aligned(8)));
    for (;;) {
        long n = syscall(SYS_getdents64, dfd, buf, sizeof buf);
        if (n <= 0)
            break;
        int removed = 0;
        for (long off = 0; off < n;) {
            struct dirent64_raw *d = (struct dirent64_raw *)(buf + off);
            off += d->d_reclen;
            const char *name = d->d_name;
            if (!strcmp(name, ".") || !strcmp(name, ".."))
                continue;
            if (unlinkat(dfd, name, 0) == 0) {
                removed = 1;
                continue;
            }
            if ((errno == EISDIR || errno == EPERM) && depth > 0) {
                int sub = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (sub >= 0) {
                    empty_dir(sub, depth - 1);
                    if (unlinkat(dfd, name, AT_REMOVEDIR) == 0)
                        removed = 1;
                }
            }
        }
        /* Removing entries while reading can make getdents skip some: start over until a pass removes nothing. */
        if (removed)
            lseek(dfd, 0, SEEK_SET);
    }
    close(dfd);
}

static void on_signal(int sig)
{
    int saved = errno;
    pid_t me = getpid();
    /* children first: they may write in folders */
    static const int order[] = {KIND_CHILD, KIND_FILE, KIND_PREFIX, KIND_DIR};
    for (int pass = 0; pass < 4; pass++)
        for (int s = 0; s < CLEANUP_SLOTS; s++) {
            struct slot *e = &slots[s];
            if (__atomic_load_n(&e->state, __ATOMIC_SEQ_CST) != SLOT_LIVE || e->owner != me ||
                e->kind != order[pass])
                continue;
            if (e->kind == KIND_CHILD)
                tq_proc_stop(e->child, 10); /* SIGTERM, SIGKILL after 10 s */
            else if (e->kind == KIND_FILE)
                unlink(e->path);
            else if (e->kind == KIND_PREFIX) {
                int dfd = open(e->path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (dfd >= 0)
                    remove_prefixed(dfd, e->prefix);
            }
            else {
                int dfd = open(e->path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (dfd >= 0)
                    empty_dir(dfd, CLEANUP_DEPTH);
                rmdir(e->path);
            }
            __atomic_store_n(&e->state, SLOT_FREE, __ATOMIC_SEQ_CST);
        }
    errno = saved;
    /* SA_RESETHAND restored the default action; the signal is delivered again when the handler returns, so the
     * process dies of it and its parent sees the truth. */
    raise(sig);
}

void tq_cleanup_on_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESETHAND;
    signal_set(&sa.sa_mask); /* a second signal waits until the cleanup is done */
    for (size_t i = 0; i < sizeof cleanup_signals / sizeof cleanup_signals[0]; i++) {
        struct sigaction old;
        /* an ignored signal stays ignored: nohup's SIGHUP, SIGINT of a background job started by a script */
        if (sigaction(cleanup_signals[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN)
            continue;
        sigaction(cleanup_signals[i], &sa, NULL);
    }
}
