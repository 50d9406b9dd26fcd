/* proc_tree.c - a 50-process tree under one root: 10 children with 4 grandchildren each. Process i (0..49) ends
 * by kind i % 5: 0 exec's this program as "leaf", 1 _exit(i), 2 abort(), 3 returns 0 from main, 4 exit(3).
 * Each process (the root too) prints "PID PPID KIND" in one write before it ends; a leaf prints "PID PPID leaf".
 * Usage: proc_tree | proc_tree leaf */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *const kinds[] = {"exec", "_exit", "abort", "return", "exit"};

static char *volatile keep; /* the compiler may drop a malloc/free pair whose memory is never read */

static void say(const char *kind)
{
    char line[64];
    int n = snprintf(line, sizeof line, "%d %d %s\n", (int)getpid(), (int)getppid(), kind);
    if (write(1, line, (size_t)n) != n) /* one write: lines of different processes never mix */
        _exit(99);
}

/* Some allocation so every trace has calls; then end by kind; returns only for "return". */
static void finish(int i, const char *self)
{
    keep = malloc(1000 + (size_t)i);
    memset(keep, i, 1000 + (size_t)i);
    free(keep);
    say(kinds[i % 5]);
    switch (i % 5) {
    case 0:
        execl(self, "proc_tree", "leaf", (char *)NULL);
        _exit(98);
    case 1:
        _exit(i);
    case 2: {
        struct rlimit none = {0, 0}; /* no core file */
        setrlimit(RLIMIT_CORE, &none);
        abort();
    }
    case 4:
        exit(3);
    default:
        return;
    }
}

static void wait_all(void)
{
    while (wait(NULL) > 0)
        ;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "leaf") == 0) {
        keep = calloc(1, 1 << 16);
        free(keep);
        say("leaf");
        return 0;
    }
    char self[4096];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0)
        return 1;
    self[len] = 0;
    for (int c = 0; c < 10; c++) {
        fflush(NULL);
        pid_t pid = fork();
        if (pid < 0)
            return 1;
        if (pid > 0)
            continue;
        for (int g = 0; g < 4; g++) {
            pid_t gp = fork();
            if (gp < 0)
                _exit(97);
            if (gp == 0) {
                finish(10 + c * 4 + g, self);
                return 0;
            }
        }
        wait_all();
        finish(c, self);
        return 0;
    }
    wait_all();
    say("root");
    return 0;
}
