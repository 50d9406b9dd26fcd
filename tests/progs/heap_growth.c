/* heap_growth.c - whether glibc serves a 160 KiB request from mmap (its default threshold is 128 KiB), at start, in a
 * fork child, and after the shim has flushed its trace. glibc raises the threshold (and its trim threshold with it)
 * when an mmapped chunk above it is freed, so a shim that frees such a chunk of its own changes how the program's
 * heap grows and shrinks (git log -p made 909 brk calls bare and 14 under such a shim). Each probe leaks its block:
 * freeing it would move the threshold. Prints one line per probe: "PHASE mmap" or "PHASE heap". */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void probe(const char *phase)
{
    malloc_trim(0); /* the top chunk cannot hold the request: glibc must decide between mmap and brk */
    char *p = malloc(160 << 10);
    if (!p)
        exit(1);
    __asm__("" : "+r"(p)); /* the header before the block is glibc's, not an overrun the compiler should see */
    size_t head = ((const size_t *)p)[-1];
    printf("%s %s\n", phase, (head & 2) ? "mmap" : "heap"); /* glibc's IS_MMAPPED bit of the chunk's size field */
    fflush(stdout);
}

int main(void)
{
    probe("start");
    pid_t c = fork();
    if (c < 0)
        return 1;
    if (c == 0) {
        probe("child");
        _exit(0);
    }
    int st;
    if (waitpid(c, &st, 0) != c || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return 1;
    usleep(200 * 1000); /* the shim's sampler flushes its trace meanwhile (TRACEQ_FLUSH_MS below that) */
    probe("later");
    return 0;
}
