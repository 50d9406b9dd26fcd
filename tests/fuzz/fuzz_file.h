/* fuzz_file.h - hand a fuzz input to readers that only take a path: one memfd per process, named /proc/self/fd/N. */
#ifndef TQ_FUZZ_FILE_H
#define TQ_FUZZ_FILE_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

/* Replace the memfd's contents with data[0..size) and return its path (static storage). Aborts when the memfd
 * cannot be made or written: that is a broken fuzzing host, not a finding. */
static inline const char *fuzz_file_path(const uint8_t *data, size_t size)
{
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fd = memfd_create("tq-fuzz", MFD_CLOEXEC);
        if (fd < 0)
            abort();
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) != 0)
        abort();
    size_t done = 0;
    while (done < size) {
        ssize_t n = pwrite(fd, data + done, size - done, (off_t)done);
        if (n <= 0)
            abort();
        done += (size_t)n;
    }
    return path;
}

/* The run key of the journal seeds (gen_seeds.c) and of the journal target (fuzz_journal.c): a seed must get past
 * the key check on line 1 to reach the other lines. */
#define FUZZ_JOURNAL_KEY "op=gaussian sigma=1 full=0 input=/seed/in.npy shape=8x8x8 out=8x8x8 blocks=2 plan=0"

/* Every rejection must say why: a failing reader that leaves the message empty is a finding. */
#define FUZZ_REQUIRE_MESSAGE(st, err)          \
    do {                                       \
        if ((st) != TQ_OK && !(err).msg[0]) {  \
            fprintf(stderr, "rejected without a message (status %d)\n", (int)(st)); \
            abort();                           \
        }                                      \
    } while (0)

#endif
