/* test_volume_io.c - .npy and SEG-Y volumes: exact round trips, files written by numpy/segyio read like
 * np.load/segyio.tools.cube, our files read back by numpy/segyio, box reads touching only what they need. */
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <sys/wait.h>
#include <unistd.h>

#include "volume_test.h"

/* Write `v` (whole volume of `shape`) to path in a grid of boxes visited in a scrambled order, then commit. */
static void write_in_boxes(const char *path, const size_t shape[3], const float *v, const tq_vol_reader *like)
{
    struct tq_err err = {0};
    tq_vol_writer *w = NULL;
    cr_assert_eq(tq_vol_writer_create(path, shape, 0, like, &w, &err), TQ_OK, "%s", err.msg);
    size_t step[3] = {(shape[0] + 2) / 3, (shape[1] + 1) / 2, (shape[2] + 2) / 3};
    size_t nb[3] = {(shape[0] + step[0] - 1) / step[0], (shape[1] + step[1] - 1) / step[1],
                    (shape[2] + step[2] - 1) / step[2]};
    size_t total = nb[0] * nb[1] * nb[2];
    float *buf = malloc(shape[0] * shape[1] * shape[2] * sizeof *buf);
    for (size_t n = 0; n < total; n++) {
        size_t idx = (n * 7 + 3) % total; /* 7 is coprime with every total used here, so all boxes are visited */
        size_t c[3] = {idx / (nb[1] * nb[2]), idx / nb[2] % nb[1], idx % nb[2]};
        struct tq_box b;
        for (int a = 0; a < 3; a++) {
            b.lo[a] = c[a] * step[a];
            b.hi[a] = b.lo[a] + step[a] < shape[a] ? b.lo[a] + step[a] : shape[a];
        }
        vt_extract(v, shape, &b, buf);
        cr_assert_eq(tq_vol_write_box(w, &b, buf, &err), TQ_OK, "%s", err.msg);
    }
    cr_assert_null(fopen(path, "rb"), "the final name must not exist before commit");
    cr_assert_eq(tq_vol_writer_commit(w, &err), TQ_OK, "%s", err.msg);
    tq_vol_writer_free(w);
    free(buf);
}

/* Random data with special values (signed zero, infinities, a subnormal, NaN) that must survive exactly. */
static float *special_random(const size_t shape[3], uint64_t seed)
{
    size_t n = shape[0] * shape[1] * shape[2];
    float *v = malloc(n * sizeof *v);
    vt_fill_random(v, n, seed);
    v[0] = -0.0f;
    v[n / 2] = INFINITY;
    v[n / 3] = -INFINITY;
    v[n / 5] = 1e-40f;
    v[n - 1] = NAN;
    return v;
}

/* Every random box read from path equals the same box of `whole`. */
static void check_boxes(const char *path, const size_t shape[3], const float *whole, uint64_t seed)
{
    struct tq_err err = {0};
    tq_vol_reader *r = NULL;
    cr_assert_eq(tq_vol_reader_open(path, &r, &err), TQ_OK, "%s", err.msg);
    float *got = malloc(shape[0] * shape[1] * shape[2] * sizeof *got);
    float *want = malloc(shape[0] * shape[1] * shape[2] * sizeof *want);
    for (int n = 0; n < 20; n++) {
        struct tq_box b = vt_random_box(shape, &seed);
        cr_assert_eq(tq_vol_read_box(r, &b, got, &err), TQ_OK, "%s", err.msg);
        vt_extract(whole, shape, &b, want);
        cr_assert(!memcmp(got, want, tq_box_voxels(&b) * 4), "%s: box %d differs", path, n);
    }
    free(got);
    free(want);
    tq_vol_reader_free(r);
}

/* The volume at path reads (whole, then in random boxes) exactly as the oracle's float32 dump raw. */
static void check_reads_as_raw(const char *path, const char *raw, const size_t shape[3], uint64_t seed,
                               const char *what)
{
    size_t n = shape[0] * shape[1] * shape[2];
    float *want = vt_load_raw(raw, n);
    float *got = vt_read_whole(path, shape);
    cr_assert(!memcmp(got, want, sizeof(float) * n), "%s differs", what);
    check_boxes(path, shape, want, seed);
    free(want);
    free(got);
}

static void round_trip(const char *name, const size_t shape[3])
{
    char *dir = tq_tmpdir(), path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    float *v = special_random(shape, 42);
    write_in_boxes(path, shape, v, NULL);
    float *back = vt_read_whole(path, shape);
    cr_assert(!memcmp(v, back, shape[0] * shape[1] * shape[2] * 4), "%s round trip is not bit-exact", name);
    check_boxes(path, shape, v, 7);
    free(v);
    free(back);
    tq_rmtree(dir);
    free(dir);
}

Test(volume_io, npy_round_trip_is_exact)
{
    round_trip("v.npy", (size_t[]){7, 5, 33});
    round_trip("thin.npy", (size_t[]){1, 1, 9});
}

Test(volume_io, segy_round_trip_is_exact)
{
    round_trip("v.segy", (size_t[]){7, 5, 33});
    round_trip("thin.sgy", (size_t[]){1, 3, 1});
}

/* numpy writes float32 and float64 in format versions 1, 2 and 3; we read the float32 values it holds. */
Test(volume_io, reads_numpy_files_exactly)
{
    const char *dtypes[] = {"f4", "f8", ">f4", ">f8"};
    const char *versions[] = {"1", "2", "3"};
    const size_t shape[3] = {6, 4, 11};
    char *dir = tq_tmpdir(), path[4200], raw[4200];
    for (int d = 0; d < 4; d++)
        for (int ver = 0; ver < 3; ver++) {
            snprintf(path, sizeof path, "%s/n%d%d.npy", dir, d, ver);
            snprintf(raw, sizeof raw, "%s/n%d%d.raw", dir, d, ver);
            cr_assert_eq(vt_oracle("npy-write '%s' '%s' '%s' 6x4x11 %d C %s", path, raw, dtypes[d], d + 1,
                                   versions[ver]), 0);
            char what[64];
            snprintf(what, sizeof what, "%s v%s", dtypes[d], versions[ver]);
            check_reads_as_raw(path, raw, shape, (uint64_t)(d * 3 + ver), what);
        }
    tq_rmtree(dir);
    free(dir);
}

Test(volume_io, numpy_loads_our_npy)
{
    const size_t shape[3] = {3, 8, 17};
    char *dir = tq_tmpdir(), path[4200], raw[4200];
    snprintf(path, sizeof path, "%s/ours.npy", dir);
    snprintf(raw, sizeof raw, "%s/ours.raw", dir);
    float *v = malloc(3 * 8 * 17 * sizeof *v);
    vt_fill_random(v, 3 * 8 * 17, 5);
    write_in_boxes(path, shape, v, NULL);
    vt_save_raw(raw, v, 3 * 8 * 17);
    cr_assert_eq(vt_oracle("npy-check '%s' '%s'", path, raw), 0, "numpy does not load our .npy identically");
    free(v);
    tq_rmtree(dir);
    free(dir);
}

/* segyio writes IBM (1) and IEEE (5) cubes, sorted by inline and by crossline; we read them as tools.cube does
 * (transposed to (inlines, xlines, samples) for crossline sorting, where cube() keeps the file order). */
Test(volume_io, reads_segyio_files_like_tools_cube)
{
    const char *sortings[] = {"inline", "crossline"};
    const int formats[] = {1, 5};
    const size_t shape[3] = {5, 7, 13};
    char *dir = tq_tmpdir(), path[4200], raw[4200];
    for (int s = 0; s < 2; s++)
        for (int f = 0; f < 2; f++) {
            snprintf(path, sizeof path, "%s/s%d%d.segy", dir, s, f);
            snprintf(raw, sizeof raw, "%s/s%d%d.raw", dir, s, f);
            cr_assert_eq(vt_oracle("segy-write '%s' '%s' 5x7x13 %d %d %s", path, raw, s * 2 + f + 1, formats[f],
                                   sortings[s]), 0);
            char what[64];
            snprintf(what, sizeof what, "format %d %s sorting (vs cube())", formats[f], sortings[s]);
            check_reads_as_raw(path, raw, shape, (uint64_t)(s * 2 + f), what);
        }
    tq_rmtree(dir);
    free(dir);
}

/* Every sample format segyio reads (IBM float 1, int32 2, int16 3, IEEE float 5, int8 8), big- and little-endian,
 * inline and crossline sorted: read whole and box by box exactly as segyio.tools.cube (opened with that endian)
 * reads it, widened to float. Real surveys (the F3 crop of issue 12) are int16, often little-endian. */
Test(volume_io, reads_every_segyio_sample_format_and_byte_order)
{
    const int formats[] = {1, 2, 3, 5, 8};
    const char *endians[] = {"big", "little"};
    const size_t shape[3] = {4, 5, 11};
    char *dir = tq_tmpdir(), path[4200], raw[4200];
    for (int f = 0; f < 5; f++)
        for (int e = 0; e < 2; e++)
            for (int s = 0; s < 2; s++) {
                const char *sorting = s ? "crossline" : "inline";
                snprintf(path, sizeof path, "%s/f%d%s%d.sgy", dir, formats[f], endians[e], s);
                snprintf(raw, sizeof raw, "%s/f%d%s%d.raw", dir, formats[f], endians[e], s);
                cr_assert_eq(vt_oracle("segy-write-fmt '%s' '%s' 4x5x11 %d %d %s %s", path, raw, 10 * f + e + 1,
                                       formats[f], endians[e], sorting), 0);
                char what[96];
                snprintf(what, sizeof what, "format %d %s-endian %s-sorted (vs cube())", formats[f], endians[e],
                         sorting);
                check_reads_as_raw(path, raw, shape, (uint64_t)(f * 4 + e * 2 + s), what);
            }
    tq_rmtree(dir);
    free(dir);
}

/* A little-endian int16 input through `traceq run` to a SEG-Y output: the output is IEEE float, big-endian, with
 * the input's line numbers (its headers read through segyio), and holds the values segyio reads from the input. */
Test(volume_io, run_on_little_endian_int16_segy)
{
    char *dir = tq_tmpdir(), path[4200], raw[4200], out[4200], cube[4200];
    snprintf(path, sizeof path, "%s/in.sgy", dir);
    snprintf(raw, sizeof raw, "%s/in.raw", dir);
    snprintf(out, sizeof out, "%s/out.sgy", dir);
    snprintf(cube, sizeof cube, "%s/out.raw", dir);
    cr_assert_eq(vt_oracle("segy-write-fmt '%s' '%s' 6x5x16 3 3 little inline", path, raw), 0);
    /* Gaussian with sigma 1e-9 is the identity to float precision: the copy must be exact. */
    cr_assert_eq(tq_runf("'%s' op gaussian --sigma 0.000000001 --input '%s' --output '%s' >/dev/null",
                         tq_build_path("traceq"), path, out), 0);
    cr_assert_eq(vt_oracle("segy-cube '%s' '%s'", out, cube), 0, "segyio cannot read our output");
    float *want = vt_load_raw(raw, 6 * 5 * 16), *got = vt_load_raw(cube, 6 * 5 * 16);
    cr_assert(!memcmp(want, got, sizeof(float) * 6 * 5 * 16), "the output does not hold the input's values");
    cr_assert_eq(tq_runf("%s -c \"import segyio,sys\n"
                         "f=segyio.open('%s'); sys.exit(0 if list(f.ilines)==[1,2,3,4,5,6] and "
                         "list(f.xlines)==[10,11,12,13,14] and f.bin[segyio.BinField.Format]==5 else 1)\"",
                         tq_python(), out), 0, "the output lost the input's line numbers or is not IEEE");
    free(want);
    free(got);
    tq_rmtree(dir);
    free(dir);
}

Test(volume_io, segyio_reads_our_segy)
{
    const size_t shape[3] = {4, 6, 21};
    char *dir = tq_tmpdir(), path[4200], raw[4200];
    snprintf(path, sizeof path, "%s/ours.segy", dir);
    snprintf(raw, sizeof raw, "%s/cube.raw", dir);
    float *v = malloc(4 * 6 * 21 * sizeof *v);
    vt_fill_random(v, 4 * 6 * 21, 9);
    write_in_boxes(path, shape, v, NULL);
    cr_assert_eq(vt_oracle("segy-cube '%s' '%s'", path, raw), 0, "segyio cannot open our SEG-Y");
    float *cube = vt_load_raw(raw, 4 * 6 * 21);
    cr_assert(!memcmp(cube, v, sizeof(float) * 4 * 6 * 21), "segyio.tools.cube differs from what we wrote");
    free(cube);
    free(v);
    tq_rmtree(dir);
    free(dir);
}

/* Bytes this process has read through read()/pread() so far, from the kernel (/proc/self/io rchar). */
static uint64_t proc_rchar(void)
{
    char *io = tq_slurp("/proc/self/io", NULL);
    cr_assert_not_null(io);
    uint64_t v = 0;
    const char *p = strstr(io, "rchar:");
    cr_assert_not_null(p);
    sscanf(p + 6, "%" SCNu64, &v);
    free(io);
    return v;
}

/* A box read must touch only the box's samples: checked by our counter and by the kernel's read counter. */
static void check_box_read_cost(const char *name)
{
    const size_t shape[3] = {40, 50, 300}; /* 2.4 MB of samples */
    char *dir = tq_tmpdir(), path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    float *v = malloc(40 * 50 * 300 * sizeof *v);
    vt_fill_random(v, 40 * 50 * 300, 3);
    write_in_boxes(path, shape, v, NULL);
    struct tq_err err = {0};
    tq_vol_reader *r = NULL;
    cr_assert_eq(tq_vol_reader_open(path, &r, &err), TQ_OK, "%s", err.msg);
    struct tq_box b = {{10, 20, 100}, {13, 24, 150}};
    float got[3 * 4 * 50], want[3 * 4 * 50];
    size_t before_ours = tq_vol_reader_bytes_read(r);
    uint64_t before = proc_rchar();
    cr_assert_eq(tq_vol_read_box(r, &b, got, &err), TQ_OK, "%s", err.msg);
    uint64_t kernel = proc_rchar() - before;
    vt_extract(v, shape, &b, want);
    cr_assert(!memcmp(got, want, sizeof got));
    cr_assert_eq(tq_vol_reader_bytes_read(r) - before_ours, sizeof got);
    cr_assert(kernel >= sizeof got && kernel <= sizeof got + 8192, "%s: the kernel saw %" PRIu64
              " bytes read for a %zu-byte box", name, kernel, sizeof got);
    tq_vol_reader_free(r);
    free(v);
    tq_rmtree(dir);
    free(dir);
}

Test(volume_io, box_read_touches_only_its_traces)
{
    check_box_read_cost("cost.segy");
    check_box_read_cost("cost.npy");
}

/* A SEG-Y written `like` another keeps its line numbers, also when the output is trimmed by one per face. */
Test(volume_io, segy_like_copies_geometry)
{
    char *dir = tq_tmpdir(), src[4200], full[4200], trim[4200], raw[4200];
    snprintf(src, sizeof src, "%s/src.segy", dir);
    snprintf(full, sizeof full, "%s/full.segy", dir);
    snprintf(trim, sizeof trim, "%s/trim.segy", dir);
    snprintf(raw, sizeof raw, "%s/src.raw", dir);
    cr_assert_eq(vt_oracle("segy-write '%s' '%s' 5x6x9 4 1 crossline", src, raw), 0);
    struct tq_err err = {0};
    tq_vol_reader *like = NULL;
    cr_assert_eq(tq_vol_reader_open(src, &like, &err), TQ_OK, "%s", err.msg);
    float *v = vt_load_raw(raw, 5 * 6 * 9);
    write_in_boxes(full, (size_t[]){5, 6, 9}, v, like);
    write_in_boxes(trim, (size_t[]){3, 4, 7}, v, like);
    tq_vol_reader_free(like);
    int rc = tq_runf("%s -c \"import segyio,sys\n"
                     "a=segyio.open('%s'); b=segyio.open('%s'); c=segyio.open('%s')\n"
                     "ok = list(a.ilines)==list(b.ilines) and list(a.xlines)==list(b.xlines)\n"
                     "ok = ok and list(c.ilines)==list(a.ilines[1:-1]) and list(c.xlines)==list(a.xlines[1:-1])\n"
                     "ok = ok and len(c.samples)==7 and b.bin[segyio.BinField.Format]==5\n"
                     "sys.exit(0 if ok else 1)\"", tq_python(), src, full, trim);
    cr_assert_eq(rc, 0, "line numbers were not carried over from the 'like' file");
    free(v);
    tq_rmtree(dir);
    free(dir);
}

/* Workers forked after create write disjoint inlines; freeing the inherited writer in a worker must not remove
 * the parent's temporary, and the parent's commit gives the whole volume. */
static void forked_writers(const char *name)
{
    const size_t shape[3] = {9, 5, 17};
    char *dir = tq_tmpdir(), path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    float *v = malloc(9 * 5 * 17 * sizeof *v);
    vt_fill_random(v, 9 * 5 * 17, 11);
    struct tq_err err = {0};
    tq_vol_writer *w = NULL;
    cr_assert_eq(tq_vol_writer_create(path, shape, 0, NULL, &w, &err), TQ_OK, "%s", err.msg);
    pid_t kids[3];
    for (int c = 0; c < 3; c++) {
        kids[c] = fork();
        cr_assert_neq(kids[c], -1);
        if (kids[c] == 0) {
            int bad = 0;
            for (size_t i = (size_t)c; i < shape[0]; i += 3) {
                struct tq_box b = {{i, 0, 0}, {i + 1, shape[1], shape[2]}};
                bad |= tq_vol_write_box(w, &b, v + i * shape[1] * shape[2], &err) != TQ_OK;
            }
            tq_vol_writer_free(w);
            _exit(bad);
        }
    }
    for (int c = 0; c < 3; c++) {
        int st = 0;
        cr_assert_eq(waitpid(kids[c], &st, 0), kids[c]);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "worker %d failed", c);
    }
    cr_assert_not_null(tq_vol_writer_tmp_path(w));
    cr_assert_eq(access(tq_vol_writer_tmp_path(w), F_OK), 0, "a worker removed the temporary file");
    cr_assert_eq(tq_vol_writer_commit(w, &err), TQ_OK, "%s", err.msg);
    tq_vol_writer_free(w);
    float *back = vt_read_whole(path, shape);
    cr_assert(!memcmp(back, v, 9 * 5 * 17 * sizeof *v), "%s: forked writes are not all there", name);
    free(back);
    free(v);
    tq_rmtree(dir);
    free(dir);
}

Test(volume_io, forked_workers_write_one_file)
{
    forked_writers("fork.npy");
    forked_writers("fork.segy");
}

/* A binary header with a zero sample count (some writers leave it so): the first trace header's count is used. */
Test(volume_io, segy_sample_count_from_trace_header)
{
    const size_t shape[3] = {3, 4, 10};
    char *dir = tq_tmpdir(), path[4200];
    snprintf(path, sizeof path, "%s/zero.segy", dir);
    float v[3 * 4 * 10];
    vt_fill_random(v, 3 * 4 * 10, 21);
    write_in_boxes(path, shape, v, NULL);
    int fd = open(path, O_WRONLY);
    cr_assert_geq(fd, 0);
    cr_assert_eq(pwrite(fd, "\0\0", 2, 3220), 2); /* binary header bytes 3221-3222: samples per trace */
    close(fd);
    float *back = vt_read_whole(path, shape);
    cr_assert(!memcmp(back, v, sizeof v));
    free(back);
    tq_rmtree(dir);
    free(dir);
}

/* float64 reads convert in chunks: a volume larger than one chunk, read whole and by boxes. */
Test(volume_io, reads_large_float64_npy)
{
    const size_t shape[3] = {3, 40, 100};
    char *dir = tq_tmpdir(), path[4200], raw[4200];
    snprintf(path, sizeof path, "%s/big8.npy", dir);
    snprintf(raw, sizeof raw, "%s/big8.raw", dir);
    cr_assert_eq(vt_oracle("npy-write '%s' '%s' f8 3x40x100 17", path, raw), 0);
    check_reads_as_raw(path, raw, shape, 99, "float64 -> float32 (vs numpy's astype)");
    tq_rmtree(dir);
    free(dir);
}
