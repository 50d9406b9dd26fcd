/* hooks_proc.c - exec and _exit: close the trace properly before the process image goes away. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "shim.h"

#define TQ_EXPORT __attribute__((visibility("default")))
#define TQ_MAX_ARGS 65536

extern char **environ;

static __attribute__((noreturn)) void tq_exit_now(int status)
{
    tq_session_finish(TQ_END_UEXIT, status);
    for (;;)
        syscall(SYS_exit_group, status);
}

TQ_EXPORT void _exit(int status)
{
    tq_exit_now(status);
}

TQ_EXPORT void _Exit(int status)
{
    tq_exit_now(status);
}

static int tq_execve(const char *path, char *const argv[], char *const envp[])
{
    tq_session_exec(path);
    int r = (int)syscall(SYS_execve, path, argv, envp);
    tq_session_exec_failed(); /* only reached when execve failed */
    return r;
}

/* shim.h; also used by hooks_fd.c. */
void *tq_next_sym(const char *name)
{
    tq_guard_up();
    void *f = dlsym(RTLD_NEXT, name);
    tq_guard_down();
    return f;
}

TQ_EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
    return tq_execve(path, argv, envp);
}

TQ_EXPORT int execv(const char *path, char *const argv[])
{
    return tq_execve(path, argv, environ);
}

TQ_EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
    static int (*real)(const char *, char *const[], char *const[]);
    if (!real)
        real = (int (*)(const char *, char *const[], char *const[]))tq_next_sym("execvpe");
    if (!real) {
        errno = ENOSYS;
        return -1;
    }
    tq_session_exec(file);
    int r = real(file, argv, envp);
    tq_session_exec_failed(); /* only reached when every candidate failed */
    return r;
}

TQ_EXPORT int execvp(const char *file, char *const argv[])
{
    return execvpe(file, argv, environ);
}

/* Count the arguments after arg0 up to the NULL; -1 when there are absurdly many. */
static int count_args(va_list ap)
{
    int n = 1;
    while (va_arg(ap, char *) && n < TQ_MAX_ARGS)
        n++;
    return n < TQ_MAX_ARGS ? n : -1;
}

/* execl-style calls gather their arguments into an array on the stack and take the execv path. */
#define GATHER_ARGS(arg0, last, argv, n)                                                                    \
    va_list ap;                                                                                              \
    va_start(ap, arg0);                                                                                      \
    va_list ap2;                                                                                             \
    va_copy(ap2, ap);                                                                                        \
    int n = count_args(ap2);                                                                                 \
    va_end(ap2);                                                                                             \
    if (n < 0) {                                                                                             \
        va_end(ap);                                                                                          \
        errno = E2BIG;                                                                                       \
        return -1;                                                                                           \
    }                                                                                                        \
    char *argv[n + 1];                                                                                       \
    argv[0] = (char *)arg0;                                                                                  \
    for (int i = 1; i <= n; i++)                                                                             \
        argv[i] = va_arg(ap, char *);                                                                        \
    last;                                                                                                    \
    va_end(ap)

TQ_EXPORT int execl(const char *path, const char *arg0, ...)
{
    GATHER_ARGS(arg0, (void)0, argv, n);
    return tq_execve(path, argv, environ);
}

TQ_EXPORT int execle(const char *path, const char *arg0, ...)
{
    char *const *envp;
    GATHER_ARGS(arg0, envp = va_arg(ap, char *const *), argv, n);
    return tq_execve(path, argv, envp);
}

TQ_EXPORT int execlp(const char *file, const char *arg0, ...)
{
    GATHER_ARGS(arg0, (void)0, argv, n);
    return execvpe(file, argv, environ);
}

/* ---- main: register the exit handler late enough to run before the libraries' destructors ----
 * The preload library's constructor runs before __libc_start_main registers the loader's fini (_dl_fini),
 * so an on_exit handler registered there would run after every destructor, ours included, and the exit
 * status would be lost. Registering it just before main runs puts it ahead of _dl_fini: it keeps the status for
 * the shim's destructor, which writes END after the program's destructors (session.c). */

typedef int (*tq_main_fn)(int, char **, char **);
static tq_main_fn tq_real_main;

static int tq_main(int argc, char **argv, char **envp)
{
    tq_session_register_exit();
    return tq_real_main(argc, argv, envp);
}

TQ_EXPORT int __libc_start_main(tq_main_fn main, int argc, char **argv, void (*init)(void), void (*fini)(void),
                                void (*rtld_fini)(void), void *stack_end)
{
    typedef int (*start_fn)(tq_main_fn, int, char **, void (*)(void), void (*)(void), void (*)(void), void *);
    start_fn real = (start_fn)tq_next_sym("__libc_start_main");
    if (!real)
        abort();
    tq_real_main = main;
    return real(tq_main, argc, argv, init, fini, rtld_fini, stack_end);
}
