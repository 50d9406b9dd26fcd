/* pyframes.c - CPython frames in `record --stacks` stacks (FORMAT.md PYCODE), read the way py-spy and Austin read
 * them, from memory, without calling the interpreter: nothing here allocates, takes the GIL or runs Python code,
 * so it is safe inside malloc.
 *
 * At start (the constructor), the running image is asked for _PyRuntime, Py_Version and _PyEval_EvalFrameDefault.
 * Only CPython 3.11 is read (its structure offsets are in pyframes_layout.h; the test suite checks them against
 * the installed headers); any other version turns the feature off and says so in
 * the trace (a PYCODE record with id 0). For each stack: this thread's PyThreadState (the interpreter's own
 * thread-specific key, so threads that released the GIL are read too: their frames cannot change until they take it
 * back), then the chain of _PyInterpreterFrame from cframe->current_frame. Each code object becomes one PYCODE
 * record the first time it is seen (file, qualified name, first line, location table); frames are stored as
 * tagged values (code id, instruction index) and the lines are resolved offline. The frames that one
 * _PyEval_EvalFrameDefault call runs (up to the frame marked is_entry) go just inside that native frame. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../traces/pylines.h"
#include "pyframes_layout.h"
#include "session.h"

#define MAX_PY 64           /* Python frames kept per stack */
#define NOGIL_BIT TQ_PYFRAME_NOGIL
#define CACHE_N 512          /* this thread's code object -> id cache */
#define MAX_FILE 1024
#define MAX_NAME 512
#define MAX_TABLE 32768

int tq_py_on;
static uint32_t py_version;  /* Py_Version of an interpreter we do not read (reported once), else 0 */
static const char *runtime;
static uintptr_t eval_lo, eval_hi;
static const void *code_type, *unicode_type, *bytes_type;

struct code_slot {
    uintptr_t code, table; /* a code object and its location table: an address reused by another code differs */
    uint32_t id;
};

/* the process's code ids, by code_hash (session lock held); 16 KiB at first, doubling (as the stack table) */
static struct tq_hash_ids codes = {.first_cap = 1024};
static uint32_t next_code = 1;
static _Atomic unsigned code_epoch;
static __thread struct code_slot my_cache[CACHE_N];
static __thread unsigned my_epoch;

void tq_py_init(void)
{
    const unsigned long *ver = dlsym(RTLD_DEFAULT, "Py_Version");
    const char *rt = dlsym(RTLD_DEFAULT, "_PyRuntime");
    void *eval = dlsym(RTLD_DEFAULT, "_PyEval_EvalFrameDefault");
    if (!ver || !rt || !eval)
        return; /* not a CPython process (3.11+), or libpython comes later through dlopen (not followed) */
    if ((*ver >> 16) != 0x030B) {
        py_version = (uint32_t)*ver;
        return;
    }
    Dl_info info;
    const ElfW(Sym) *sym = NULL;
    if (!dladdr1(eval, &info, (void **)&sym, RTLD_DL_SYMENT) || !sym || !sym->st_size)
        return;
    code_type = dlsym(RTLD_DEFAULT, "PyCode_Type");
    unicode_type = dlsym(RTLD_DEFAULT, "PyUnicode_Type");
    bytes_type = dlsym(RTLD_DEFAULT, "PyBytes_Type");
    if (!code_type || !unicode_type || !bytes_type)
        return;
    runtime = rt;
    eval_lo = (uintptr_t)eval;
    eval_hi = eval_lo + sym->st_size;
    py_version = (uint32_t)*ver;
    tq_py_on = 1;
}

static int is_a(const char *obj, const void *type)
{
    return obj && *(const void *const *)(obj + TQ_PY311_OB_TYPE) == type;
}

/* A str object as UTF-8 into out (at most cap - 1 bytes, cut at a character); returns the length. */
static uint32_t utf8_of(const char *s, char *out, uint32_t cap)
{
    if (!is_a(s, unicode_type))
        return 0;
    uint8_t state = *(const uint8_t *)(s + TQ_PY311_STR_STATE);
    unsigned kind = (state >> 2) & 7, compact = (state >> 5) & 1, ascii = (state >> 6) & 1;
    if (!compact || !(kind == 1 || kind == 2 || kind == 4))
        return 0;
    long len = *(const long *)(s + TQ_PY311_STR_LENGTH);
    const uint8_t *d = (const uint8_t *)s + (ascii ? TQ_PY311_STR_ASCII_DATA : TQ_PY311_STR_COMPACT_DATA);
    uint32_t n = 0;
    for (long i = 0; i < len; i++) {
        uint32_t c = kind == 1 ? d[i] : kind == 2 ? ((const uint16_t *)d)[i] : ((const uint32_t *)d)[i];
        uint8_t b[4];
        unsigned k;
        if (c < 0x80) {
            b[0] = (uint8_t)c, k = 1;
        } else if (c < 0x800) {
            b[0] = (uint8_t)(0xC0 | c >> 6), b[1] = (uint8_t)(0x80 | (c & 63)), k = 2;
        } else if (c < 0x10000) {
            b[0] = (uint8_t)(0xE0 | c >> 12), b[1] = (uint8_t)(0x80 | ((c >> 6) & 63));
            b[2] = (uint8_t)(0x80 | (c & 63)), k = 3;
        } else {
            b[0] = (uint8_t)(0xF0 | c >> 18), b[1] = (uint8_t)(0x80 | ((c >> 12) & 63));
            b[2] = (uint8_t)(0x80 | ((c >> 6) & 63)), b[3] = (uint8_t)(0x80 | (c & 63)), k = 4;
        }
        if (n + k >= cap)
            break;
        memcpy(out + n, b, k);
        n += k;
    }
    return n;
}

/* A code object and its location table as one 64-bit key (an address reused by another code object differs). */
static uint64_t code_hash(uintptr_t code, uintptr_t table)
{
    uint64_t h = ((uint64_t)code * 0x9E3779B97F4A7C15ull) ^ ((uint64_t)table * 0xff51afd7ed558ccdull);
    h ^= h >> 29;
    return h ? h : 1;
}

/* The PYCODE record of a new code object (session lock held: one writer at a time for the static buffers). */
static void put_code_locked(const char *code, uintptr_t table, uint32_t id)
{
    static char file[MAX_FILE], name[MAX_NAME];
    static uint8_t rec[TQ_REC_HEADER_SIZE + 32 + MAX_FILE + MAX_NAME + MAX_TABLE];
    struct tq_rec_pycode c = {.id = id, .python = py_version, .first_line = *(const int *)(code + TQ_PY311_CO_FIRSTLINENO)};
    c.file_len = utf8_of(*(const char *const *)(code + TQ_PY311_CO_FILENAME), file, sizeof file);
    c.name_len = utf8_of(*(const char *const *)(code + TQ_PY311_CO_QUALNAME), name, sizeof name);
    c.file = file;
    c.name = name;
    const char *t = (const char *)table;
    if (is_a(t, bytes_type)) {
        long n = *(const long *)(t + TQ_PY311_OB_SIZE);
        c.linetable = (const uint8_t *)t + TQ_PY311_BYTES_DATA;
        c.linetable_len = n > 0 && n <= MAX_TABLE ? (uint32_t)n : 0; /* a longer table: lines unknown */
        static uint8_t lines[MAX_TABLE];
        size_t k = tq_pylines_only(c.linetable, c.linetable_len, lines, sizeof lines);
        if (k) /* the same lines without the columns (FORMAT.md 11, since 1.8); else the table as it is */
            c.linetable = lines, c.linetable_len = (uint32_t)k;
    }
    size_t k = tq_rec_put_pycode(rec, sizeof rec, &c);
    if (k)
        tq_writer_append(&tq_sess.w, rec, k);
}

/* The id of a code object: this thread's cache, else the process table under the session lock. 0 on failure. */
static uint32_t code_id(const char *code)
{
    uintptr_t key = (uintptr_t)code, table = *(const uintptr_t *)(code + TQ_PY311_CO_LINETABLE);
    unsigned ep = atomic_load_explicit(&code_epoch, memory_order_relaxed);
    if (my_epoch != ep) {
        memset(my_cache, 0, sizeof my_cache);
        my_epoch = ep;
    }
    struct code_slot *c = &my_cache[(key >> 4) & (CACHE_N - 1)];
    if (c->id && c->code == key && c->table == table)
        return c->id;
    uint32_t id = 0;
    pthread_mutex_lock(&tq_sess.lock);
    struct tq_hash_slot *slot = tq_sess.active && !tq_sess.finished ? tq_hash_ids_slot(&codes, code_hash(key, table))
                                                                     : NULL;
    if (slot && !slot->id) {
        *slot = (struct tq_hash_slot){code_hash(key, table), next_code++};
        codes.used++;
        put_code_locked(code, table, slot->id);
    }
    if (slot)
        id = slot->id;
    pthread_mutex_unlock(&tq_sess.lock);
    if (id)
        *c = (struct code_slot){key, table, id};
    return id;
}

/* This thread's PyThreadState, or NULL (no interpreter yet, or a thread Python never ran on). */
static const char *this_tstate(void)
{
    const int *tss = (const int *)(runtime + TQ_PY311_RT_AUTOTSS);
    if (!tss[0])
        return NULL;
    return pthread_getspecific((pthread_key_t)tss[1]);
}

int tq_py_merge(const uint64_t *ips, int n, uint64_t *out, int max)
{
    uint64_t py[MAX_PY];
    int ends[MAX_PY], npy = 0, nends = 0;
    const char *ts = this_tstate();
    const char *cf = ts ? *(const char *const *)(ts + TQ_PY311_TS_CFRAME) : NULL;
    const char *f = cf ? *(const char *const *)(cf + TQ_PY311_CF_CURRENT) : NULL;
    uint32_t nogil = ts && *(const char *const *)(runtime + TQ_PY311_RT_TSTATE_CURRENT) != ts ? NOGIL_BIT : 0;
    for (; f && npy < MAX_PY; f = *(const char *const *)(f + TQ_PY311_IF_PREVIOUS)) {
        const char *code = *(const char *const *)(f + TQ_PY311_IF_CODE);
        if (!is_a(code, code_type))
            break;
        uint32_t id = code_id(code);
        if (!id)
            break;
        const uint16_t *at = *(const uint16_t *const *)(f + TQ_PY311_IF_PREV_INSTR);
        long size = *(const long *)(code + TQ_PY311_OB_SIZE);
        long instr = at ? at - (const uint16_t *)(code + TQ_PY311_CO_CODE) : 0;
        if (instr < 0 || instr >= size || instr >= (long)NOGIL_BIT)
            instr = 0; /* a frame that has not started (prev_instr is one before the first) */
        uint32_t flags = npy == 0 ? nogil : 0;
        py[npy++] = TQ_PYFRAME(id, (uint32_t)instr | flags);
        if (*(const char *)(f + TQ_PY311_IF_IS_ENTRY))
            ends[nends++] = npy;
    }
    int o = 0, p = 0, g = 0;
    for (int i = 0; i < n && o < max; i++) {
        if (i > 0 && ips[i] > eval_lo && ips[i] <= eval_hi && p < npy) { /* a return address into the eval loop */
            int end = g < nends ? ends[g++] : npy;
            while (p < end && o < max)
                out[o++] = py[p++];
        }
        if (o < max)
            out[o++] = ips[i];
    }
    while (p < npy && o < max) /* the native stack was cut short: the rest of the Python stack goes outermost */
        out[o++] = py[p++];
    return o;
}

void tq_py_start_locked(void)
{
    if (tq_py_on || !py_version)
        return;
    /* an interpreter whose frames we do not read: say so once (PYCODE id 0) */
    static uint8_t rec[TQ_REC_HEADER_SIZE + 64];
    struct tq_rec_pycode c = {.id = 0, .python = py_version};
    size_t k = tq_rec_put_pycode(rec, sizeof rec, &c);
    if (k)
        tq_writer_append(&tq_sess.w, rec, k);
}

void tq_py_reset_child(void)
{
    tq_hash_ids_clear(&codes);
    next_code = 1;
    atomic_fetch_add(&code_epoch, 1);
}
