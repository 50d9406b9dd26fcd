/* forker.c - process-tree shapes for the shim tests. Prints "pid P" and "child C" lines on stdout.
 * Modes: fork (child _exit(5)s), forkexec (child execs argv[2]), abort, sleep (waits to be killed),
 * thread_exit (a second thread calls exit(4)), plant DIR PROG (the child waits until the parent has planted a
 * symlink DIR/traceq.<PROG>.<child>.tq -> DIR/victim, then execs PROG: its trace must not follow the link),
 * closeall DIR (closes every descriptor above 2, then writes DIR/mine.txt through whatever number it gets). */
#include <fcntl.h>
#include <pthread.h>
#include <time.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void *volatile sink;

static void *exit_from_thread(void *arg)
{
    (void)arg;
    sink = malloc(4096);
    exit(4);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "fork";
    printf("pid %d\n", (int)getpid());
    fflush(stdout);
    sink = malloc(1 << 20);
    if (!strcmp(mode, "fork") || !strcmp(mode, "forkexec")) {
        pid_t c = fork();
        if (c == 0) {
            sink = malloc(2 << 20);
            if (!strcmp(mode, "forkexec")) {
                execl(argv[2], argv[2], (char *)NULL);
                _exit(127);
            }
            _exit(5);
        }
        printf("child %d\n", (int)c);
        fflush(stdout);
        int st;
        waitpid(c, &st, 0);
        return WIFEXITED(st) ? 0 : 1;
    }
    if (!strcmp(mode, "plant") && argc > 3) {
        int fds[2];
        if (pipe(fds))
            return 1;
        pid_t c = fork();
        if (c == 0) {
            char go;
            close(fds[1]);
            if (read(fds[0], &go, 1) != 1)
                _exit(126);
            execl(argv[3], argv[3], "0", (char *)NULL);
            _exit(127);
        }
        char link[4096], victim[4096];
        const char *base = strrchr(argv[3], '/') ? strrchr(argv[3], '/') + 1 : argv[3];
        snprintf(victim, sizeof victim, "%s/victim", argv[2]);
        snprintf(link, sizeof link, "%s/traceq.%s.%d.tq", argv[2], base, (int)c);
        if (symlink(victim, link))
            return 1;
        printf("child %d\n", (int)c);
        fflush(stdout);
        if (write(fds[1], "g", 1) != 1)
            return 1;
        int st;
        waitpid(c, &st, 0);
        return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
    }
    if (!strcmp(mode, "closeall") && argc > 2) {
        for (int fd = 3; fd < 1024; fd++)
            close(fd);
        char path[4096];
        snprintf(path, sizeof path, "%s/mine.txt", argv[2]);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0 || write(fd, "mine\n", 5) != 5)
            return 1;
        struct timespec ts = {0, 300 * 1000000L}; /* the sampler flushes meanwhile */
        nanosleep(&ts, NULL);
        close(fd);
        return 0;
    }
    if (!strcmp(mode, "abort"))
        abort();
    if (!strcmp(mode, "sleep")) {
        for (;;)
            pause();
    }
    if (!strcmp(mode, "thread_exit")) {
        pthread_t t;
        pthread_create(&t, NULL, exit_from_thread, NULL);
        for (;;)
            pause();
    }
    return 2;
}
