/* argv_nulled.c - like git's option parser: shorten argv in place by writing NULL into it, then fork and exec.
 * The program owns its argv; a profiler that kept a pointer to it must not read the changed array later.
 * Prints "child exit N" for a forked child that exits 7. Usage: argv_nulled ANY ARGS... */
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    argv[1] = NULL; /* "the rest was consumed" */
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return 1;
    if (pid == 0)
        _exit(7);
    int st = 0;
    if (waitpid(pid, &st, 0) != pid)
        return 1;
    printf("child %s %d\n", WIFEXITED(st) ? "exit" : "signal", WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
    return 0;
}
