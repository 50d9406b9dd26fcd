/* fd_closer.c - a program that does to its file descriptors what daemons, shells and Python's subprocess do, then
 * allocates 200 MiB, for tests/test_shim_fds.c. Usage: fd_closer MODE. Exit 0 when the program saw what it would
 * without the shim; 3 when a descriptor was not what it asked for; 2 on usage errors. Prints "pid P". */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define BIG ((size_t)200 << 20)

/* 200 MiB on the heap, touched, and kept to the end (so even the final sample at exit sees it, however loaded the
 * machine and late the sampler thread). */
static volatile char *allocate(void)
{
    volatile char *p = malloc(BIG); /* volatile: the touching is not optimized away */
    if (!p)
        exit(1);
    for (size_t i = 0; i < BIG; i += 4096)
        p[i] = 1;
    return p;
}

/* 150 MiB allocated, touched and freed: the peak of mode "hold". */
static __attribute__((noinline)) void hold_temporary(void)
{
    volatile char *p = malloc((size_t)150 << 20);
    if (!p)
        exit(1);
    for (size_t i = 0; i < ((size_t)150 << 20); i += 4096)
        p[i] = 1;
    free((void *)p);
}

/* 50 MiB allocated and never freed: what mode "hold" holds when it is killed. */
static __attribute__((noinline)) volatile char *hold_forever(void)
{
    volatile char *p = malloc((size_t)50 << 20);
    for (size_t i = 0; p && i < ((size_t)50 << 20); i += 4096)
        p[i] = 1;
    return p;
}

/* Whether fd is /dev/null (what the program dup2'd onto it). */
static int is_null(int fd, const struct stat *null)
{
    struct stat st;
    return fstat(fd, &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == null->st_rdev;
}

/* dup2 /dev/null onto every descriptor number in [lo, hi], then check each one is /dev/null. */
static int dup2_null_over(int lo, int hi)
{
    int n = open("/dev/null", O_RDWR);
    struct stat null;
    if (n < 0 || fstat(n, &null))
        return 1;
    for (int fd = lo; fd <= hi; fd++)
        if (fd != n && dup2(n, fd) != fd) {
            printf("dup2 onto %d failed\n", fd);
            return 3;
        }
    for (int fd = lo; fd <= hi; fd++)
        if (!is_null(fd, &null)) {
            printf("descriptor %d is not /dev/null\n", fd);
            return 3;
        }
    return 0;
}

/* dup2 /dev/null onto every descriptor the process holds above 2 (the shim's own included, wherever they are). */
static int dup2_null_over_all_open(void)
{
    int want[64], k = 0;
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return 1;
    int dfd = dirfd(d);
    for (struct dirent *e; (e = readdir(d)) && k < 64;) {
        int fd = atoi(e->d_name);
        if (e->d_name[0] != '.' && fd > 2 && fd != dfd)
            want[k++] = fd;
    }
    closedir(d);
    int n = open("/dev/null", O_RDWR);
    struct stat null;
    if (n < 0 || fstat(n, &null))
        return 1;
    for (int i = 0; i < k; i++)
        if (want[i] != n && dup2(n, want[i]) != want[i])
            return 3;
    for (int i = 0; i < k; i++)
        if (!is_null(want[i], &null)) {
            printf("descriptor %d is not /dev/null\n", want[i]);
            return 3;
        }
    printf("took %d descriptors\n", k);
    return 0;
}

/* Raw-close everything, then put a pipe at the numbers the shim had (above 100) and close() them: each close must
 * succeed and close the pipe for real (no copy kept anywhere: the read end sees EOF), although the shim has not
 * noticed yet that those numbers are not its own any more. */
static int reuse_after_raw_close(void)
{
    int high[8], k = 0;
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return 1;
    for (struct dirent *e; (e = readdir(d)) && k < 8;)
        if (atoi(e->d_name) >= 100)
            high[k++] = atoi(e->d_name);
    closedir(d);
    for (int fd = 3; fd < 4096; fd++)
        syscall(SYS_close, fd);
    int p[2];
    if (pipe2(p, O_NONBLOCK))
        return 1;
    for (int i = 0; i < k; i++) {
        if (syscall(SYS_dup2, p[1], high[i]) != high[i] || close(high[i]) != 0) {
            printf("descriptor %d: dup2 or close failed\n", high[i]);
            return 3;
        }
    }
    close(p[1]);
    char c;
    if (read(p[0], &c, 1) != 0) {
        printf("the pipe's write end is still open somewhere\n");
        return 3;
    }
    printf("reused %d descriptors\n", k);
    return 0;
}

/* Mode "race": two threads dup2 a regular file ("victim", in the current folder) over the numbers 996..1023 (where
 * the shim keeps its descriptors when the soft and hard RLIMIT_NOFILE are 1024) and close them again, over and over,
 * while the main thread allocates; the shim keeps moving its descriptors out of the way and writing its trace. The
 * victim must stay empty: no trace byte may land in the program's file. */
#define RACE_LO 996
#define RACE_HI 1023
static int race_victim;
static _Atomic int racers_left;

static void *racer(void *arg)
{
    int off = (int)(intptr_t)arg;
    for (int r = 0; r < 100; r++)
        for (int k = 0; k <= RACE_HI - RACE_LO; k++) {
            int fd = RACE_LO + (k * 5 + off + r) % (RACE_HI - RACE_LO + 1);
            if (fd == race_victim)
                continue;
            if ((r + off) & 1)
                close(fd);
            else
                dup2(race_victim, fd);
        }
    atomic_fetch_sub(&racers_left, 1);
    return NULL;
}

static int race(void)
{
    race_victim = open("victim", O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
    if (race_victim < 0)
        return 1;
    enum { RACERS = 2 };
    pthread_t t[RACERS];
    atomic_store(&racers_left, RACERS);
    for (int i = 0; i < RACERS; i++)
        if (pthread_create(&t[i], NULL, racer, (void *)(intptr_t)i))
            return 1;
    unsigned long rounds = 0;
    while (atomic_load(&racers_left) > 0) { /* allocations: the shim counts, samples and writes meanwhile */
        void *volatile p = malloc(1000 + rounds % 5000);
        free(p);
        if (++rounds % 1000 == 0)
            usleep(100);
    }
    for (int i = 0; i < RACERS; i++)
        pthread_join(t[i], NULL);
    for (int fd = RACE_LO; fd <= RACE_HI; fd++)
        if (fd != race_victim)
            close(fd);
    struct stat st;
    if (fstat(race_victim, &st))
        return 1;
    if (st.st_size) {
        printf("the victim file holds %lld bytes the program never wrote\n", (long long)st.st_size);
        return 3;
    }
    close(race_victim);
    printf("victim empty\n");
    return 0;
}

/* The first open() gets 3, as without the shim; again after closing everything. */
static int lowest_fd(void)
{
    int a = open("/dev/null", O_RDONLY);
    if (a != 3) {
        printf("first open got %d, not 3\n", a);
        return 3;
    }
    for (int fd = 3; fd < 4096; fd++)
        close(fd);
    int b = open("/dev/null", O_RDONLY);
    int c = open("/dev/null", O_RDONLY);
    if (b != 3 || c != 4) {
        printf("after closing all, open got %d and %d, not 3 and 4\n", b, c);
        return 3;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    const char *m = argv[1];
    printf("pid %d\n", (int)getpid());
    fflush(stdout);
    int rc = 0;
    if (!strcmp(m, "close_loop")) {
        for (int fd = 3; fd < 4096; fd++)
            close(fd);
    } else if (!strcmp(m, "close_range")) {
        if (close_range(3, ~0U, 0))
            return 1;
    } else if (!strcmp(m, "closefrom")) {
        closefrom(3);
    } else if (!strcmp(m, "raw_close")) { /* system calls the shim cannot interpose (Go, seccomp'd helpers) */
        for (int fd = 3; fd < 4096; fd++)
            syscall(SYS_close, fd);
    } else if (!strcmp(m, "raw_dup2")) {
        int n = open("/dev/null", O_RDWR);
        for (int fd = 3; fd < 4096; fd++)
            if (fd != n)
                syscall(SYS_dup2, n, fd);
        usleep(300 * 1000); /* a flush or two: the shim finds its statm descriptor replaced and reopens it */
    } else if (!strcmp(m, "chdir_raw_close")) {
        if (chdir("/"))
            return 1;
        for (int fd = 3; fd < 4096; fd++)
            syscall(SYS_close, fd);
    } else if (!strcmp(m, "dup2_null")) {
        rc = dup2_null_over(3, 1023);
    } else if (!strcmp(m, "dup2_null_then_close")) { /* every number taken, then some given back */
        rc = dup2_null_over(3, 1023);
        for (int fd = 500; fd < 1024; fd++)
            close(fd);
        usleep(300 * 1000); /* a flush or two with numbers free again */
    } else if (!strcmp(m, "dup2_null_all_open")) {
        rc = dup2_null_over_all_open();
    } else if (!strcmp(m, "race")) {
        rc = race();
    } else if (!strcmp(m, "raw_close_reuse")) {
        rc = reuse_after_raw_close();
    } else if (!strcmp(m, "lowest_fd")) {
        rc = lowest_fd();
    } else if (!strcmp(m, "setuid_raw_close")) { /* drop root, then lose the descriptor */
        if (setgid(65534) || setuid(65534))
            return 1;
        for (int fd = 3; fd < 4096; fd++)
            syscall(SYS_close, fd);
    } else if (!strcmp(m, "hold")) { /* a 150 MiB peak, then 50 MiB held while waiting to be killed */
        hold_temporary();
        if (!hold_forever())
            return 1;
        printf("ready\n");
        fflush(stdout);
        for (;;)
            pause();
    } else {
        return 2;
    }
    if (rc)
        return rc;
    volatile char *big = allocate();
    printf("done\n");
    return big[0] == 1 ? 0 : 1;
}
