/* map_race.c - two threads map one address range in turns, each mapping it the moment the other's munmap (or
 * shrinking mremap) has released it: for the test of the order in which the shim counts a release against another
 * thread's mmap (tests/test_shim_counters.c). The kernel never maps the range twice (MAP_FIXED_NOREPLACE fails while
 * any of it is mapped), so the program never holds more than the figures below at once; a release counted after its
 * system call let the shim count the other thread's mapping first (TQ_TESTING_MUNMAP_GAP_US widens that window).
 * MODE munmap: both threads, ROUNDS mappings each: map L bytes at X, unmap them. At most L bytes are mapped at once.
 * MODE mremap: one thread maps 2 L at X and shrinks it to L with mremap (releasing X + L ..), then unmaps X; the
 *   other maps L at X + L and unmaps it. At most 2 L are mapped at once (2 L at X, or L at X and L at X + L).
 * Then calls that fail and calls that release part of a range: munmap of an address not page-aligned, mremap of a
 * range that is not mapped (shrinking), a partial munmap (the middle page of 3, then the rest): nothing stays mapped.
 * X is found with raw system calls (which the shim does not see) far below where the kernel places mappings.
 * Prints "caught N": N mappings were made while the other thread's releasing call had not returned yet.
 * usage: map_race munmap|mremap [ROUNDS (default 2000)] */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define L (64 * 4096)

static char *base;
static long rounds;
static int shrink_mode;
static atomic_int releasing[2]; /* thread i is in a releasing call */
static atomic_long caught;

static void *map_at(char *at, size_t len)
{
    return mmap(at, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
}

/* Map len bytes at `at` (spinning until the range is free); count a catch when the other thread was releasing. */
static void take(int me, char *at, size_t len)
{
    while (map_at(at, len) != (void *)at)
        ;
    if (atomic_load(&releasing[!me]))
        atomic_fetch_add(&caught, 1);
}

static void *worker(void *arg)
{
    int me = (int)(intptr_t)arg;
    for (long i = 0; i < rounds; i++) {
        if (!shrink_mode) {
            take(me, base, L);
            atomic_store(&releasing[me], 1);
            munmap(base, L);
            atomic_store(&releasing[me], 0);
        } else if (me == 0) {
            take(me, base, 2 * L);
            atomic_store(&releasing[me], 1);
            if (mremap(base, 2 * L, L, 0) != base)
                abort();
            atomic_store(&releasing[me], 0);
            munmap(base, L);
        } else {
            take(me, base + L, L);
            munmap(base + L, L);
        }
    }
    return NULL;
}

/* Failing calls and partial releases: none leaves anything mapped. */
static void fail_and_split(void)
{
    long pg = sysconf(_SC_PAGESIZE);
    if (munmap(base + 1, L) == 0) /* EINVAL: not page-aligned */
        abort();
    if (mremap(base, 2 * L, L, 0) != MAP_FAILED) /* EFAULT: nothing mapped there */
        abort();
    char *p = map_at(base, 3 * pg);
    if (p != base || munmap(p + pg, pg) || munmap(p, pg) || munmap(p + 2 * pg, pg))
        abort();
}

int main(int argc, char **argv)
{
    if (argc < 2 || (strcmp(argv[1], "munmap") && strcmp(argv[1], "mremap"))) {
        fprintf(stderr, "usage: map_race munmap|mremap [ROUNDS]\n");
        return 2;
    }
    shrink_mode = !strcmp(argv[1], "mremap");
    rounds = argc > 2 ? atol(argv[2]) : 2000;
    /* far below where the kernel places mappings (top down from below the stack), so that no thread stack or
     * library mapping lands in the range while it is free: 16 TiB, or the next free range 1 GiB up */
    for (uintptr_t at = (uintptr_t)1 << 44; !base && at < (uintptr_t)1 << 46; at += (uintptr_t)1 << 30) {
        char *p = (char *)syscall(SYS_mmap, at, 2 * L, PROT_NONE,
                                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
        if (p == (char *)at)
            base = p;
        else if (p != MAP_FAILED) /* a kernel that takes the address as a hint only */
            syscall(SYS_munmap, p, 2 * L);
    }
    if (!base || syscall(SYS_munmap, base, 2 * L))
        return 1;
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, worker, (void *)(intptr_t)i);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    fail_and_split();
    printf("caught %ld\n", atomic_load(&caught));
    return 0;
}
