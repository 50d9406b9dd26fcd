/* dlopener.c - loads libz at run time and allocates through it (deflateInit), for the --stacks module-map test. */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

/* The first fields of zlib's z_stream are not needed: deflateInit_ only wants the struct zeroed and its size. */
struct zs {
    unsigned char space[112];
};

int main(void)
{
    void *z = dlopen("libz.so.1", RTLD_NOW);
    if (!z) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        return 3;
    }
    int (*init)(void *, int, const char *, int) = (int (*)(void *, int, const char *, int))dlsym(z, "deflateInit_");
    const char *(*version)(void) = (const char *(*)(void))dlsym(z, "zlibVersion");
    if (!init || !version)
        return 4;
    static struct zs s;
    memset(&s, 0, sizeof s);
    /* deflateInit allocates its ~256 KiB state through malloc: those stacks start inside libz. */
    if (init(&s, 6, version(), (int)sizeof s) != 0)
        return 5;
    return 0;
}
